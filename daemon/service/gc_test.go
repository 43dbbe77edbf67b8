package service

import (
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name        string
		live, floor uint64
		want        int
	}{
		{"small heap raises GOGC", 2 * mib, 16 * mib, 700},
		{"tiny heap raises it more", 1 * mib, 16 * mib, 1500},
		{"heap at half the floor keeps 100", 8 * mib, 16 * mib, 100},
		{"large heap keeps 100", 200 * mib, 16 * mib, 100},
		{"unknown live heap keeps 100", 0, 16 * mib, 100},
		{"just under half the floor", 8*mib - 1, 16 * mib, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gcPercentFor(tt.live, tt.floor); got != tt.want {
				t.Errorf("gcPercentFor(%d, %d) = %d, want %d", tt.live, tt.floor, got, tt.want)
			}
		})
	}
}

// TestKeepHeapFloorRaisesGOGC runs the tuner in this small test process,
// whose live heap is far below a 1 GiB floor.
func TestKeepHeapFloorRaisesGOGC(t *testing.T) {
	t.Setenv("GOGC", "") // restores GOGC after the test
	os.Unsetenv("GOGC")

	stop := keepHeapFloor(1<<30, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for i := 0; i < 5; i++ {
		runtime.GC()
	}
	percent := readGOGC()
	for i := 0; i < 200 && percent <= 100; i++ {
		// Cleanups run on their own goroutine after the cycle.
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		percent = readGOGC()
	}
	stop()

	if percent <= 100 {
		t.Errorf("GOGC = %d after collections with a 1 GiB floor, want more than 100", percent)
	}
	if got := readGOGC(); got != 100 {
		t.Errorf("GOGC = %d after stop, want 100", got)
	}
}

func TestKeepHeapFloorLeavesSetGOGC(t *testing.T) {
	t.Setenv("GOGC", "100")

	stop := keepHeapFloor(1<<30, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer stop()
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	time.Sleep(50 * time.Millisecond)
	if got := readGOGC(); got != 100 {
		t.Errorf("GOGC = %d with GOGC set in the environment, want 100", got)
	}
}

func readGOGC() int {
	sample := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(sample)
	return int(sample[0].Value.Uint64())
}
