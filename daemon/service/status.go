package service

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/health"
)

// status serves GET /v1/status.
func (r *runner) status() *api.StatusResponse {
	st := r.srv.Acquire()
	defer st.Release()

	state, checks := r.srv.Health(context.Background())
	r.mu.Lock()
	reloads, lastErr, guard := r.reloads, r.lastReloadErr, r.guardState
	r.mu.Unlock()

	return &api.StatusResponse{
		Version:          r.opts.Version,
		PID:              os.Getpid(),
		StartedAt:        r.started.UTC().Format(time.RFC3339),
		Status:           state,
		Checks:           checks,
		Summary:          st.Summary(),
		RequestsServed:   r.srv.Served(),
		RequestsInFlight: r.srv.InFlight(),
		Reloads:          reloads,
		LastReloadError:  lastErr,
		Guard:            guard.status(),
		Line:             r.statusLine(),
	}
}

// statusLine sums up the daemon in one line for systemctl status, for
// example "serving 2 tenants, 0 extensions, key file ok, 17 requests
// served, guard off". Failing checks and a failed last reload are
// appended.
func (r *runner) statusLine() string {
	st := r.srv.Acquire()
	defer st.Release()
	sum := st.Summary()

	state, checks := r.srv.Health(context.Background())
	keyState := checks["key"]
	if keyState == "" {
		keyState = "unchecked"
	}
	if keyState != health.OK {
		keyState = "failing"
	}

	r.mu.Lock()
	lastErr, guard := r.lastReloadErr, r.guardState
	r.mu.Unlock()

	var b strings.Builder
	fmt.Fprintf(&b, "serving %d tenants, %d extensions, key %s %s, %d requests served, %s",
		sum.Tenants, sum.Extensions, sum.KeyBackend, keyState, r.srv.Served(), guard.summary())

	if state != health.OK {
		failing := make([]string, 0, len(checks))
		for name, v := range checks {
			if v != health.OK {
				failing = append(failing, name+": "+v)
			}
		}
		sort.Strings(failing)
		fmt.Fprintf(&b, "; degraded (%s)", truncate(strings.Join(failing, "; "), 300))
	}

	if lastErr != "" {
		fmt.Fprintf(&b, "; last reload failed at %s", truncate(lastErr, 300))
	}
	return b.String()
}

func truncate(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
