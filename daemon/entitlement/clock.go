package entitlement

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/signerd/signerd/daemon/logkey"
)

// ClockFile is the name of the high-water mark file in the state
// directory.
const ClockFile = "entitlement-clock"

// persistEvery is how far the high-water mark may run ahead of the file.
// After a restart the mark can therefore be up to this much behind the
// latest time seen.
const persistEvery = 10 * time.Second

// Clock returns the later of the wall clock and the latest time it has
// returned before, so time never goes backwards for entitlement checks.
type Clock struct {
	path string
	wall func() time.Time
	log  *slog.Logger

	mu        sync.Mutex
	high      time.Time
	persisted time.Time
	warned    bool
}

// OpenClock loads the high-water mark from path, if the file exists, and
// returns a Clock over wall (time.Now when nil).
func OpenClock(path string, wall func() time.Time, log *slog.Logger) (*Clock, error) {
	if wall == nil {
		wall = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Clock{path: path, wall: wall, log: log}

	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("read clock high-water mark: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("clock high-water mark %s is corrupt (%v); remove the file to reset it", path, err)
	}
	c.high, c.persisted = t, t
	return c, nil
}

// Now returns max(wall clock, high-water mark) and advances the mark.
func (c *Clock) Now() time.Time {
	wall := c.wall()

	c.mu.Lock()
	defer c.mu.Unlock()

	if wall.Before(c.high) {
		if !c.warned {
			c.log.Warn("system clock is behind the entitlement high-water mark; entitlement checks use the high-water mark",
				slog.Time(logkey.WallClock, wall), slog.Time(logkey.HighWaterMark, c.high), slog.String(logkey.Path, c.path))
			c.warned = true
		}
		return c.high
	}
	c.warned = false
	c.high = wall

	if c.high.Sub(c.persisted) >= persistEvery {
		if err := c.persist(); err != nil {
			c.log.Error("persist clock high-water mark failed", slog.String(logkey.Error, err.Error()))
		} else {
			c.persisted = c.high
		}
	}
	return c.high
}

// Behind returns how far the wall clock is behind the high-water mark,
// or zero when it is not.
func (c *Clock) Behind() time.Duration {
	wall := c.wall()
	c.mu.Lock()
	defer c.mu.Unlock()
	if wall.Before(c.high) {
		return c.high.Sub(wall)
	}
	return 0
}

// Path returns the high-water mark file.
func (c *Clock) Path() string { return c.path }

// Flush writes the current mark to the file.
func (c *Clock) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.persist(); err != nil {
		return err
	}
	c.persisted = c.high
	return nil
}

// persist writes the mark through a temporary file and a rename, so a
// crash leaves the old mark or the new one, never a torn file.
func (c *Clock) persist() error {
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".clock-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(c.high.UTC().Format(time.RFC3339Nano) + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), c.path)
}
