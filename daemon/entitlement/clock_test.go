package entitlement_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/entitlement"
)

func TestClockNeverGoesBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), entitlement.ClockFile)
	start := time.Unix(1_800_000_000, 0)
	wall := &wallClock{t: start}

	c, err := entitlement.OpenClock(path, wall.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now = %s, want %s", got, start)
	}

	later := start.Add(time.Hour)
	wall.set(later)
	c.Now()
	wall.set(start)
	if got := c.Now(); !got.Equal(later) {
		t.Errorf("after the clock moved back: Now = %s, want %s", got, later)
	}

	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("high-water mark not persisted: %v", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		t.Errorf("clock file mode %v is readable by others", info.Mode().Perm())
	}

	reopened, err := entitlement.OpenClock(path, wall.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := reopened.Now(); !got.Equal(later) {
		t.Errorf("after restart: Now = %s, want %s", got, later)
	}
}

func TestClockCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), entitlement.ClockFile)
	if err := os.WriteFile(path, []byte("yesterday\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := entitlement.OpenClock(path, nil, nil); err == nil {
		t.Fatal("corrupt clock file accepted")
	}
}
