package quota

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/api"
)

func TestStricter(t *testing.T) {
	tests := []struct {
		name string
		a, b Limits
		want Limits
	}{
		{"both unset", Limits{}, Limits{}, Limits{}},
		{"config only", Limits{QPS: 5, Concurrency: 2}, Limits{}, Limits{QPS: 5, Concurrency: 2}},
		{"PoE only", Limits{}, Limits{Burst: 4, MaxBodyBytes: 10}, Limits{Burst: 4, MaxBodyBytes: 10}},
		{"each takes the lower", Limits{QPS: 5, Burst: 10, Concurrency: 1, MaxBodyBytes: 100}, Limits{QPS: 2, Burst: 20, Concurrency: 4, MaxBodyBytes: 50},
			Limits{QPS: 2, Burst: 10, Concurrency: 1, MaxBodyBytes: 50}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Stricter(tc.a, tc.b); got != tc.want {
				t.Errorf("Stricter = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConcurrencyLimitUnderLoad(t *testing.T) {
	const limit, callers = 3, 32
	m := NewManager()
	limits := Limits{Concurrency: limit}

	var inFlight, peak, admitted, rejected atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for j := 0; j < 50; j++ {
				release, e := m.Acquire("a", limits, 0, time.Now())
				if e != nil {
					if e.Code != api.CodeRateLimited || e.Quota != NameConcurrency || e.RetryAfterSeconds < 1 {
						t.Errorf("rejection = %+v, want rate_limited on concurrency with Retry-After", e)
					}
					rejected.Add(1)
					continue
				}
				admitted.Add(1)
				n := inFlight.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(100 * time.Microsecond)
				inFlight.Add(-1)
				release()
				release() // a second call must not free a second slot
			}
		}()
	}
	close(start)
	wg.Wait()

	if p := peak.Load(); p > limit {
		t.Errorf("peak in flight = %d, over the limit of %d", p, limit)
	}
	if admitted.Load() == 0 || rejected.Load() == 0 {
		t.Errorf("admitted %d, rejected %d; the test needs both to show the limit at work", admitted.Load(), rejected.Load())
	}
	if n := m.InFlight("a"); n != 0 {
		t.Errorf("in flight after all released = %d, want 0", n)
	}
}

func TestRateBurst(t *testing.T) {
	m := NewManager()
	limits := Limits{QPS: 1, Burst: 3}
	now := time.Unix(1_800_000_000, 0)

	for i := 0; i < 3; i++ {
		release, e := m.Acquire("a", limits, 0, now)
		if e != nil {
			t.Fatalf("request %d within burst rejected: %v", i, e)
		}
		release()
	}
	_, e := m.Acquire("a", limits, 0, now)
	if e == nil {
		t.Fatal("request beyond the burst admitted")
	}
	if e.Code != api.CodeRateLimited || e.Code.Status() != 429 {
		t.Errorf("code = %s, want rate_limited (429)", e.Code)
	}
	if e.Quota != NameRate {
		t.Errorf("quota = %q, want %q", e.Quota, NameRate)
	}
	if e.RetryAfterSeconds != 1 {
		t.Errorf("RetryAfterSeconds = %d, want 1 at one request per second", e.RetryAfterSeconds)
	}
	if n := m.InFlight("a"); n != 0 {
		t.Errorf("a rate rejection left %d requests in flight", n)
	}

	if _, e := m.Acquire("a", limits, 0, now.Add(time.Second)); e != nil {
		t.Errorf("request one second later rejected: %v", e)
	}
}

func TestTenantsDoNotShareQuotas(t *testing.T) {
	m := NewManager()
	limits := Limits{QPS: 1, Burst: 1, Concurrency: 1}
	now := time.Unix(1_800_000_000, 0)

	holdA, e := m.Acquire("a", limits, 0, now)
	if e != nil {
		t.Fatal(e)
	}
	defer holdA()
	if _, e := m.Acquire("a", limits, 0, now); e == nil {
		t.Fatal("tenant a over its quota was admitted")
	}

	holdB, e := m.Acquire("b", limits, 0, now)
	if e != nil {
		t.Fatalf("tenant b rejected while only tenant a is at its limit: %v", e)
	}
	holdB()
}

func TestBodyLimit(t *testing.T) {
	m := NewManager()
	_, e := m.Acquire("a", Limits{MaxBodyBytes: 100}, 101, time.Now())
	if e == nil || e.Code != api.CodePayloadTooLarge || e.Quota != NameBodyBytes {
		t.Fatalf("101-byte body under a 100-byte quota: got %+v, want payload_too_large on %s", e, NameBodyBytes)
	}
	release, e := m.Acquire("a", Limits{MaxBodyBytes: 100}, 100, time.Now())
	if e != nil {
		t.Fatalf("100-byte body rejected: %v", e)
	}
	release()
}
