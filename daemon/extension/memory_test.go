package extension

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tetratelabs/wazero/experimental"
)

// TestLinearMemoryGrows covers both linear memories: growth keeps the
// contents, new pages are writable, and nothing grows past the maximum.
func TestLinearMemoryGrows(t *testing.T) {
	const page = 64 << 10
	allocators := []struct {
		name     string
		allocate func(capBytes, maxBytes uint64) experimental.LinearMemory
	}{
		{"mapped", newLinearMemory},
		{"heap", newHeapMemory},
	}
	for _, a := range allocators {
		t.Run(a.name, func(t *testing.T) {
			mem := a.allocate(0, 4*page)
			defer mem.Free()

			buf := mem.Reallocate(page)
			if len(buf) != page {
				t.Fatalf("Reallocate(1 page) length = %d, want %d", len(buf), page)
			}
			copy(buf[page-3:], "abc")

			grown := mem.Reallocate(3 * page)
			if len(grown) != 3*page {
				t.Fatalf("Reallocate(3 pages) length = %d, want %d", len(grown), 3*page)
			}
			if !bytes.Equal(grown[page-3:page], []byte("abc")) {
				t.Fatalf("contents after growth = %q, want abc", grown[page-3:page])
			}
			grown[3*page-1] = 1 // the new pages are writable

			if b := mem.Reallocate(5 * page); b != nil {
				t.Fatalf("Reallocate beyond the maximum returned %d bytes, want nil", len(b))
			}
			if b := mem.Reallocate(4 * page); len(b) != 4*page {
				t.Fatalf("Reallocate(max) length = %d, want %d", len(b), 4*page)
			}
		})
	}
}

// TestCloseWaitsForCall checks that Close does not unmap an instance's
// memory under a running call: it returns only after the call has ended,
// and later checks fail.
func TestCloseWaitsForCall(t *testing.T) {
	m, err := Load(context.Background(), wat(t, "loop"), Options{Name: t.Name(), Limits: Limits{Timeout: 100 * time.Millisecond, PoolSize: 1}})
	if err != nil {
		t.Fatal(err)
	}

	var checkDone atomic.Bool
	started := make(chan struct{})
	finished := make(chan error, 1)
	go func() {
		in, err := m.acquire(context.Background())
		if err != nil {
			finished <- err
			return
		}
		close(started)
		_, err = m.checkOn(context.Background(), in, []byte(`{}`))
		checkDone.Store(true)
		m.release(in, err == nil)
		finished <- err
	}()
	<-started

	if err := m.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !checkDone.Load() {
		t.Fatal("Close returned while a call was still running in the module")
	}
	if err := <-finished; err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("running call error = %v, want a deadline error", err)
	}
	if _, err := m.Check(context.Background(), []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Check after Close error = %v, want one saying the module is closed", err)
	}
}
