package service

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/guard"
)

func TestGuardStateSummary(t *testing.T) {
	eperm := fmt.Errorf("load the connect guard: map create: %w", unix.EPERM)
	long := errors.New(strings.Repeat("x", 2*guardReasonMax))
	tests := []struct {
		name  string
		state guardState
		want  string
	}{
		{"active", guardState{installed: true}, "guard active"},
		{"off", guardState{}, "guard off"},
		{"failed without capabilities", guardState{installErr: eperm},
			"guard failed (operation not permitted; the daemon needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON and bpf in its system call filter)"},
		{"unsupported kernel", guardState{installErr: fmt.Errorf("%w: load program: invalid argument", guard.ErrUnsupported)},
			"guard failed (the kernel lacks cgroup/connect_unix programs; Linux 6.7 or later is needed)"},
		{"other reason truncated", guardState{installErr: long},
			"guard failed (" + long.Error()[:guardReasonMax] + "...)"},
		{"other reason on one line", guardState{installErr: errors.New("first\nsecond")},
			"guard failed (first second)"},
		{"policy update failed", guardState{installed: true, policyErr: errors.New("fill connect guard policy map: argument list too long")},
			"guard active with the previous allowed set (policy update failed: fill connect guard policy map: argument list too long)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.state.summary(); got != tt.want {
				t.Errorf("summary = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestGuardStateStatus(t *testing.T) {
	eperm := fmt.Errorf("load the connect guard: map create: %w", unix.EPERM)
	policyErr := errors.New("fill connect guard policy map: argument list too long")
	tests := []struct {
		name  string
		state guardState
		want  api.GuardStatus
	}{
		{"off", guardState{}, api.GuardStatus{State: api.GuardOff}},
		{"active", guardState{installed: true}, api.GuardStatus{State: api.GuardActive}},
		{"failed keeps the full error", guardState{installErr: eperm},
			api.GuardStatus{State: api.GuardFailed, Error: eperm.Error()}},
		{"policy update failed", guardState{installed: true, policyErr: policyErr},
			api.GuardStatus{State: api.GuardActive, PolicyError: policyErr.Error()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := *tt.state.status(); got != tt.want {
				t.Errorf("status = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// fakePolicySetter replaces an installed guard in tests.
type fakePolicySetter struct {
	err  error
	sets []guard.Policy
}

func (f *fakePolicySetter) SetPolicy(p guard.Policy) error {
	f.sets = append(f.sets, p)
	return f.err
}

func TestReloadGuardReturnsPolicyError(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	old := config.DefaultGuard()
	old.Enabled = true
	old.AllowedUIDs = []uint32{1000}
	cur := old
	cur.AllowedUIDs = []uint32{1000, 1001}

	if err := reloadGuard(nil, old, cur, log); err != nil {
		t.Errorf("reload without an installed guard: %v, want nil", err)
	}

	setter := &fakePolicySetter{err: errors.New("fill connect guard policy map: no space left on device")}
	if err := reloadGuard(setter, old, cur, log); !errors.Is(err, setter.err) {
		t.Errorf("reload with a failing update = %v, want %v", err, setter.err)
	}
	if len(setter.sets) != 1 || len(setter.sets[0].UIDs) != 2 {
		t.Errorf("policies set = %+v, want the new allowed uids once", setter.sets)
	}

	setter.err = nil
	if err := reloadGuard(setter, old, cur, log); err != nil {
		t.Errorf("reload with a working update = %v, want nil", err)
	}
}

// The STATUS line and GET /v1/status show the guard's state, including an
// optional guard that failed and a policy update that failed.
func TestStatusShowsGuardState(t *testing.T) {
	r := newTestRunner(t, &syncBuffer{})

	if line := r.statusLine(); !strings.Contains(line, "requests served, guard off") {
		t.Errorf("status line with the guard off = %q, want it to say guard off", line)
	}

	installErr := fmt.Errorf("load the connect guard: map create: %w", unix.EPERM)
	r.guardState = guardState{installErr: installErr}
	line := r.statusLine()
	if !strings.Contains(line, "guard failed (operation not permitted") {
		t.Errorf("status line with a failed guard = %q, want the state and reason", line)
	}
	st := r.status()
	if st.Guard == nil {
		t.Fatal("GET /v1/status has no guard state")
	}
	if st.Guard.State != api.GuardFailed || st.Guard.Error != installErr.Error() {
		t.Errorf("GET /v1/status guard = %+v, want failed with the full error", *st.Guard)
	}
	if st.Line != line {
		t.Errorf("GET /v1/status line = %q, want the STATUS line %q", st.Line, line)
	}

	// A reload whose policy update fails, then one that succeeds.
	setter := &fakePolicySetter{err: errors.New("fill connect guard policy map: argument list too long")}
	r.guardState = guardState{installed: true}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.DefaultGuard()
	cfg.Enabled = true
	cfg.AllowedUIDs = []uint32{1000}
	r.guardState.policyErr = reloadGuard(setter, cfg, cfg, log)
	if line := r.statusLine(); !strings.Contains(line, "guard active with the previous allowed set (policy update failed: fill connect guard policy map") {
		t.Errorf("status line after a failed policy update = %q, want the failure", line)
	}
	if got := r.status().Guard.PolicyError; got != setter.err.Error() {
		t.Errorf("GET /v1/status policyError = %q, want %q", got, setter.err)
	}

	setter.err = nil
	r.guardState.policyErr = reloadGuard(setter, cfg, cfg, log)
	if line := r.statusLine(); !strings.HasSuffix(line, "requests served, guard active") {
		t.Errorf("status line after a successful policy update = %q, want plain guard active", line)
	}
}
