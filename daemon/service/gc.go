package service

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// heapFloor is the smallest heap goal the daemon lets the garbage
// collector aim for. Without extensions the live heap is about 2 MiB, so
// with GOGC=100 the collector ran at the runtime's 4 MiB minimum goal, one
// cycle per roughly a hundred sign requests and about a twentieth of the
// daemon's CPU. With a 16 MiB goal it runs about a quarter as often, for
// some 12 MiB more resident memory. A large live heap (WebAssembly
// extensions) keeps GOGC=100, because its goal is above the floor anyway.
const heapFloor = 16 << 20

// gcPercentFor returns the GOGC value that makes the heap goal about
// floor for a live heap of live bytes, and never less than 100.
func gcPercentFor(live, floor uint64) int {
	if live == 0 || live*2 >= floor {
		return 100
	}
	return int(floor*100/live) - 100
}

// keepHeapFloor adjusts GOGC after every garbage collection so that the
// heap goal stays at or above floor, until stop is called. It does nothing
// when the environment sets GOGC, because then the operator chose the
// collector's pace. GOMEMLIMIT, when set, still bounds the heap.
func keepHeapFloor(floor uint64, log *slog.Logger) (stop func()) {
	if _, ok := os.LookupEnv("GOGC"); ok {
		log.Debug("GOGC is set in the environment, so the heap floor is off")
		return func() {}
	}

	// mu orders stop against a cleanup that is running, so that no
	// cleanup sets GOGC after stop has put it back.
	var mu sync.Mutex
	stopped := false
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	current := 100

	// A cleanup runs after the cycle that found its object unreachable,
	// so each one adjusts GOGC and arms the next.
	var arm func()
	arm = func() {
		sentinel := &gcSentinel{}
		runtime.AddCleanup(sentinel, func(struct{}) {
			mu.Lock()
			defer mu.Unlock()
			if stopped {
				return
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				if p := gcPercentFor(sample[0].Value.Uint64(), floor); p != current {
					debug.SetGCPercent(p)
					current = p
				}
			}
			arm()
		}, struct{}{})
	}
	arm()

	return func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			stopped = true
			debug.SetGCPercent(100)
		}
	}
}

// gcSentinel is a heap object that nothing references, so the next
// collection frees it. It holds a pointer so that it is not batched with
// other small objects by the tiny allocator, which would delay its
// cleanup.
type gcSentinel struct {
	_ *byte
	_ [8]byte
}
