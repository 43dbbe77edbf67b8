package testenv

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Daemon is a signerd process started by a test.
type Daemon struct {
	Cmd    *exec.Cmd
	Socket string
	Dir    string

	mu  sync.Mutex
	log bytes.Buffer
}

// Log returns what the daemon wrote to stderr so far.
func (d *Daemon) Log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// WaitLine waits until the daemon's log has a line that contains every
// string in want, and returns that line. The daemon logs a request after
// it has written the response, and the log reaches the test through a
// pipe, so a test that has its response may not have the log line yet.
func (d *Daemon) WaitLine(t testing.TB, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, line := range strings.Split(d.Log(), "\n") {
			if containsAll(line, want) {
				return line
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("signerd log has no line with all of %q within 30s:\n%s", want, d.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

type lockedWriter struct{ d *Daemon }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	return w.d.log.Write(p)
}

// StartDev starts `signerd --dev DIR` in a new directory and waits until
// its socket accepts connections. The daemon is stopped when the test ends.
func StartDev(t testing.TB, extraArgs ...string) *Daemon {
	t.Helper()
	dir := ShortTempDir(t)
	return Start(t, filepath.Join(dir, "signerd.sock"), dir, append([]string{"--dev", dir}, extraArgs...)...)
}

// Start runs signerd with args and waits until socket accepts connections.
func Start(t testing.TB, socket, dir string, args ...string) *Daemon {
	t.Helper()
	bin := filepath.Join(Binaries(t), "signerd")

	d := &Daemon{Socket: socket, Dir: dir}
	d.Cmd = exec.Command(bin, args...)
	d.Cmd.Stderr = lockedWriter{d}
	d.Cmd.Stdout = lockedWriter{d}
	if err := d.Cmd.Start(); err != nil {
		t.Fatalf("start signerd: %v", err)
	}
	exited := make(chan struct{})
	go func() { d.Cmd.Wait(); close(exited) }()

	t.Cleanup(func() {
		d.Cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			d.Cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("signerd log:\n%s", d.Log())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		conn, err := net.Dial("unix", socket)
		if err == nil {
			conn.Close()
			return d
		}
		select {
		case <-exited:
			t.Fatalf("signerd exited before serving: %v\n%s", d.Cmd.ProcessState, d.Log())
		case <-ctx.Done():
			t.Fatalf("signerd did not listen on %s within 30s\n%s", socket, d.Log())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ShortTempDir returns a new temporary directory under /tmp whose path is
// short enough for a socket inside it (Go's t.TempDir paths can exceed
// the 107-byte sun_path limit). It is removed when the test ends.
func ShortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "sd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
