// Package quota enforces per-tenant limits on signing requests: a token
// bucket for the request rate (golang.org/x/time/rate), a cap on requests
// in flight, and a cap on the request body size.
//
// Every tenant has its own bucket and counter, so one tenant can never use
// up another's quota. The Manager outlives config reloads, so a reload
// does not refill a bucket. The limits of each request are the stricter
// of the config's and the PoE's; a zero limit means "no limit from this
// source".
package quota

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/signerd/signerd/daemon/api"
)

// Names of the quotas, as reported in api.Error.Quota.
const (
	NameRate        = "rate"
	NameConcurrency = "concurrency"
	NameBodyBytes   = "max_body_bytes"
)

// Limits are one tenant's quotas. Zero means unlimited.
type Limits struct {
	// QPS is the sustained request rate, in requests per second.
	QPS float64

	// Burst is how many requests may arrive at once; zero means
	// max(1, ceil(QPS)).
	Burst int

	// Concurrency is the maximum number of requests in flight.
	Concurrency int

	// MaxBodyBytes is the largest request body accepted.
	MaxBodyBytes int64
}

// Stricter returns the stricter of a and b in each limit.
func Stricter(a, b Limits) Limits {
	return Limits{
		QPS:          minPositive(a.QPS, b.QPS),
		Burst:        minPositive(a.Burst, b.Burst),
		Concurrency:  minPositive(a.Concurrency, b.Concurrency),
		MaxBodyBytes: minPositive(a.MaxBodyBytes, b.MaxBodyBytes),
	}
}

func minPositive[T int | int64 | float64](a, b T) T {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// Manager holds the state of every tenant's quotas.
type Manager struct {
	mu      sync.Mutex
	tenants map[string]*tenantState
}

type tenantState struct {
	mu       sync.Mutex
	inflight int

	// limiter is created, full, at the first request with a rate limit.
	limiter *rate.Limiter
}

// NewManager returns an empty Manager.
func NewManager() *Manager {
	return &Manager{tenants: make(map[string]*tenantState)}
}

func (m *Manager) tenant(name string) *tenantState {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tenants[name]
	if !ok {
		t = &tenantState{}
		m.tenants[name] = t
	}
	return t
}

// Acquire admits one request of bodyBytes for tenant under limits. On
// success the caller must call release once when the request ends. A
// request over the body limit gets payload_too_large, because retrying
// the same body can never succeed; rate and concurrency get rate_limited
// with a Retry-After.
func (m *Manager) Acquire(tenant string, limits Limits, bodyBytes int64, now time.Time) (release func(), e *api.Error) {
	if limits.MaxBodyBytes > 0 && bodyBytes > limits.MaxBodyBytes {
		e := api.Errorf(api.CodePayloadTooLarge, "body of %d bytes exceeds tenant %q's quota %s of %d bytes",
			bodyBytes, tenant, NameBodyBytes, limits.MaxBodyBytes)
		e.Quota = NameBodyBytes
		return nil, e
	}

	t := m.tenant(tenant)

	if !t.enter(limits.Concurrency) {
		e := api.Errorf(api.CodeRateLimited, "tenant %q already has %d requests in flight, its %s quota; retry when one finishes",
			tenant, limits.Concurrency, NameConcurrency)
		e.Quota = NameConcurrency
		e.RetryAfterSeconds = 1
		return nil, e
	}
	release = sync.OnceFunc(t.leave)

	if wait, ok := t.allow(limits, now); !ok {
		release()
		e := api.Errorf(api.CodeRateLimited, "tenant %q exceeded its %s quota of %g requests per second (burst %d); retry after %d s",
			tenant, NameRate, limits.QPS, burst(limits), retrySeconds(wait))
		e.Quota = NameRate
		e.RetryAfterSeconds = retrySeconds(wait)
		return nil, e
	}
	return release, nil
}

// InFlight returns the number of tenant's requests in flight.
func (m *Manager) InFlight(tenant string) int {
	t := m.tenant(tenant)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.inflight
}

func (t *tenantState) enter(limit int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if limit > 0 && t.inflight >= limit {
		return false
	}
	t.inflight++
	return true
}

func (t *tenantState) leave() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inflight--
}

// allow takes one token from the tenant's bucket, first adjusting the
// bucket to limits. When no token is left it returns how long until one
// is.
func (t *tenantState) allow(limits Limits, now time.Time) (time.Duration, bool) {
	if limits.QPS <= 0 {
		return 0, true
	}
	lim := rate.Limit(limits.QPS)

	t.mu.Lock()
	if t.limiter == nil {
		t.limiter = rate.NewLimiter(lim, burst(limits))
	}
	t.mu.Unlock()

	if t.limiter.Limit() != lim {
		t.limiter.SetLimitAt(now, lim)
	}
	if b := burst(limits); t.limiter.Burst() != b {
		t.limiter.SetBurstAt(now, b)
	}
	if t.limiter.AllowN(now, 1) {
		return 0, true
	}
	missing := 1 - t.limiter.TokensAt(now)
	return time.Duration(missing / limits.QPS * float64(time.Second)), false
}

func burst(l Limits) int {
	if l.Burst > 0 {
		return l.Burst
	}
	return max(1, int(math.Ceil(l.QPS)))
}

// retrySeconds rounds a wait up to whole seconds, at least one, as the
// Retry-After header needs.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
