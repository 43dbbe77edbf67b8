package service

import (
	"log/slog"
	"slices"

	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/guard"
	"github.com/signerd/signerd/daemon/logkey"
)

// reloadGuard applies a reloaded config's allowed sets to the running
// guard. Whether the guard runs, its cgroup and its pin directory change
// only at restart.
func reloadGuard(g *guard.Guard, old, cur config.GuardConfig, log *slog.Logger) {
	if old.Enabled != cur.Enabled || old.Mandatory != cur.Mandatory || old.Cgroup != cur.Cgroup || old.PinDir != cur.PinDir {
		log.Warn("guard.enabled, guard.mandatory, guard.cgroup and guard.pin_dir change only at restart; the new values are ignored until then")
	}
	if g == nil {
		return
	}
	if err := g.SetPolicy(guard.PolicyFromConfig(cur)); err != nil {
		// The old allowed set stays in force: the swap is one map update.
		log.Error("connect guard policy not updated, the previous allowed set stays in force",
			slog.String(logkey.Error, err.Error()))
		return
	}
	if !slices.Equal(old.AllowedUIDs, cur.AllowedUIDs) || !slices.Equal(old.AllowedCgroups, cur.AllowedCgroups) {
		log.Info("connect guard policy updated", slog.Any("allowed_uids", cur.AllowedUIDs),
			slog.Any("allowed_cgroups", cur.AllowedCgroups))
	}
}
