package service

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/guard"
	"github.com/signerd/signerd/daemon/logkey"
)

// guardReasonMax caps a guard error in the STATUS line, which should stay
// short enough for systemctl status.
const guardReasonMax = 120

// guardState is the connect guard's state that STATUS= and GET /v1/status
// report.
type guardState struct {
	installed bool

	// installErr is the install error of an enabled, optional guard.
	installErr error

	// policyErr is the error of the last policy update at reload, nil
	// after a successful update.
	policyErr error
}

// status returns s for GET /v1/status, with the full error texts.
func (s guardState) status() *api.GuardStatus {
	gs := &api.GuardStatus{State: api.GuardOff}
	switch {
	case s.installed:
		gs.State = api.GuardActive
	case s.installErr != nil:
		gs.State = api.GuardFailed
		gs.Error = s.installErr.Error()
	}
	if s.installed && s.policyErr != nil {
		gs.PolicyError = s.policyErr.Error()
	}
	return gs
}

// summary returns the guard's part of the STATUS line, for example "guard
// active" or "guard failed (operation not permitted; ...)". Reasons are
// shortened; the log and GET /v1/status have the full errors.
func (s guardState) summary() string {
	switch {
	case s.installed && s.policyErr != nil:
		return fmt.Sprintf("guard active with the previous allowed set (policy update failed: %s)",
			truncate(guard.ShortReason(s.policyErr), guardReasonMax))
	case s.installed:
		return "guard active"
	case s.installErr != nil:
		return fmt.Sprintf("guard failed (%s)", truncate(guard.ShortReason(s.installErr), guardReasonMax))
	default:
		return "guard off"
	}
}

// policySetter is the part of *guard.Guard that a reload uses.
type policySetter interface {
	SetPolicy(guard.Policy) error
}

// reloadGuard applies a reloaded config's allowed sets to the running
// guard, which is nil when the guard is off or failed to install. Whether
// the guard runs, its cgroup and its pin directory change only at
// restart. It returns the error of a failed policy update, after which
// the previous allowed set stays in force.
func reloadGuard(g policySetter, old, cur config.GuardConfig, log *slog.Logger) error {
	if old.Enabled != cur.Enabled || old.Mandatory != cur.Mandatory || old.Cgroup != cur.Cgroup || old.PinDir != cur.PinDir {
		log.Warn("guard.enabled, guard.mandatory, guard.cgroup and guard.pin_dir change only at restart; the new values are ignored until then")
	}
	if g == nil {
		return nil
	}
	if err := g.SetPolicy(guard.PolicyFromConfig(cur)); err != nil {
		// The old allowed set stays in force: the swap is one map update.
		log.Error("connect guard policy not updated, the previous allowed set stays in force",
			slog.String(logkey.Error, err.Error()))
		return err
	}
	if !slices.Equal(old.AllowedUIDs, cur.AllowedUIDs) || !slices.Equal(old.AllowedCgroups, cur.AllowedCgroups) {
		log.Info("connect guard policy updated", slog.Any("allowed_uids", cur.AllowedUIDs),
			slog.Any("allowed_cgroups", cur.AllowedCgroups))
	}
	return nil
}

// reloadGuardPolicy applies cur's allowed sets to the installed guard and
// records the result for STATUS= and GET /v1/status.
func (r *runner) reloadGuardPolicy(old, cur config.GuardConfig, log *slog.Logger) {
	// A nil *guard.Guard inside the interface would not compare equal to
	// nil, so pass a plain nil when no guard is installed.
	var g policySetter
	if r.guard != nil {
		g = r.guard
	}
	err := reloadGuard(g, old, cur, log)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.guardState.policyErr = err
}
