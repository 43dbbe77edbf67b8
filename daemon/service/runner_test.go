package service

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/audit"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/pipeline"
	"github.com/signerd/signerd/daemon/server"
	"github.com/signerd/signerd/test/testenv"
)

// syncBuffer is a log destination that a test reads while the daemon
// writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTestRunner returns a runner around a development state with an audit
// trail and the guard off. It opens no socket: callerAddr is a free path
// in the runner's own directory, which the test listens on.
func newTestRunner(t *testing.T, logOutput *syncBuffer) *runner {
	t.Helper()
	// A short directory under /tmp, because t.TempDir paths can exceed
	// the 107-byte limit of a socket path.
	dir, err := os.MkdirTemp("/tmp", "svc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	log := slog.New(slog.NewJSONHandler(logOutput, nil))
	cfg, err := config.Dev(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := pipeline.NewState(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	trail := audit.Open(filepath.Join(dir, "audit"), audit.Options{Log: log})
	t.Cleanup(func() { trail.Close() })

	return &runner{
		log:        log,
		srv:        server.New(st, log, server.WithAudit(trail)),
		started:    time.Now(),
		callerAddr: filepath.Join(dir, "caller.sock"),
	}
}

// waitFor reads messages from n until one for which match is true and
// returns it. It fails after maxMessages messages that do not match.
func waitFor(t *testing.T, n *testenv.NotifySocket, what string, maxMessages int, match func(string) bool) string {
	t.Helper()
	for range maxMessages {
		if msg := n.Next(t); match(msg) {
			return msg
		}
	}
	t.Fatalf("none of %d sd_notify messages was one %s", maxMessages, what)
	return ""
}

func isWatchdogPing(msg string) bool {
	for _, line := range strings.Split(msg, "\n") {
		if line == "WATCHDOG=1" {
			return true
		}
	}
	return false
}
