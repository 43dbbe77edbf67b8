package service

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/signerd/signerd/test/testenv"
)

// hungListener accepts connections on the caller socket and never
// responds, like a daemon whose handlers hang.
type hungListener struct {
	l        net.Listener
	accepted chan struct{}
	mu       sync.Mutex
	conns    []net.Conn
}

func listenHung(t *testing.T, path string) *hungListener {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	h := &hungListener{l: l, accepted: make(chan struct{}, 1024)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			h.accepted <- struct{}{}
		}
	}()
	return h
}

func (h *hungListener) close() {
	h.l.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
}

// serveCaller serves r's caller socket until the returned listener is
// closed, and returns a channel that is closed when serving stopped.
func serveCaller(t *testing.T, r *runner) (net.Listener, <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("unix", r.callerAddr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		r.srv.Serve(l) // returns once l is closed
		close(done)
	}()
	return l, done
}

// The watchdog loop must ping systemd only while a request over the
// caller socket succeeds: the process stays alive throughout, so only the
// self-check can tell that it no longer serves.
func TestWatchdogPingsOnlyWhileSelfCheckPasses(t *testing.T) {
	logOutput := &syncBuffer{}
	r := newTestRunner(t, logOutput)
	notify := testenv.ListenNotify(t, filepath.Join(filepath.Dir(r.callerAddr), "notify.sock"))
	t.Setenv("NOTIFY_SOCKET", notify.Path)
	// 600 ms gives a tick, and a self-check timeout, of 200 ms. The test
	// counts messages and does not depend on the period.
	t.Setenv("WATCHDOG_USEC", "600000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	caller, served := serveCaller(t, r)

	ctx, cancel := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() { r.watch(ctx); close(watchDone) }()
	defer func() { cancel(); <-watchDone }()

	// A self-check can fail on a slow machine, because its timeout is one
	// tick, so the loop gets many ticks to pass.
	const maxTicksToPass = 100
	waitFor(t, notify, "with WATCHDOG=1 while serving", maxTicksToPass, isWatchdogPing)
	// Self-checks that failed on a slow machine before this ping logged
	// lines of their own; only what follows is counted below.
	logStart := len(logOutput.String())

	// Phase 1: the caller listener is closed, so connects fail. A message
	// that was sent before, or a check whose connection was accepted
	// before the close, may still ping.
	caller.Close()
	<-served
	const maxPingsInFlight = 3
	waitFor(t, notify, "without WATCHDOG=1 after the listener closed", maxPingsInFlight+1,
		func(msg string) bool { return !isWatchdogPing(msg) })
	for i := range 3 {
		if msg := notify.Next(t); isWatchdogPing(msg) {
			t.Fatalf("message %d after the caller listener closed pings the watchdog: %q", i+1, msg)
		}
	}

	// Phase 2: connects succeed, but no response comes.
	hung := listenHung(t, r.callerAddr)
	defer hung.close()
	<-hung.accepted // a self-check reached the hung listener
	for i := range 3 {
		if msg := notify.Next(t); isWatchdogPing(msg) {
			t.Fatalf("message %d while the caller socket does not answer pings the watchdog: %q", i+1, msg)
		}
	}
	hung.close()

	// Phase 3: the daemon serves again, so pings resume.
	caller, served = serveCaller(t, r)
	defer func() { caller.Close(); <-served }()
	msg := waitFor(t, notify, "with WATCHDOG=1 after serving resumed", maxTicksToPass, isWatchdogPing)
	if !strings.Contains(msg, "STATUS=serving ") {
		t.Errorf("ping %q lacks the STATUS line", msg)
	}

	// Phases 1 and 2 are one failure: from the first failing check to the
	// first passing one, the loop logs once, not once per tick. A slow
	// check after that may start another failure, which is not counted.
	logText := logOutput.String()[logStart:]
	failure, _, passed := strings.Cut(logText, "self-check over the caller socket passes again")
	if !passed {
		t.Errorf("log does not report that the self-check passes again:\n%s", logText)
	}
	if n := strings.Count(failure, "withholding the watchdog ping"); n != 1 {
		t.Errorf("logged the failing self-check %d times, want once for one failure:\n%s", n, failure)
	}
}
