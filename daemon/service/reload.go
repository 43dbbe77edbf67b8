package service

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/health"
	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/metrics"
	"github.com/signerd/signerd/daemon/pipeline"
	"github.com/signerd/signerd/daemon/reqlog"
)

// reloadRequest serves POST /v1/reload.
func (r *runner) reloadRequest(ctx context.Context) (*api.ReloadResponse, error) {
	st, err := r.reload(ctx, "admin socket")
	if err != nil {
		return nil, api.Errorf(api.CodeReloadFailed, "reload failed and the previous config keeps serving: %v", err)
	}
	return &api.ReloadResponse{Status: "reloaded", Summary: st}, nil
}

// reload loads the config again, builds a complete new state, and swaps
// it in. On any error the running state stays, and the error is logged,
// counted and kept for STATUS until the next successful reload.
func (r *runner) reload(ctx context.Context, trigger string) (api.StateSummary, error) {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()

	// A reload from the admin socket logs with that request's
	// correlation id.
	log := reqlog.FromOr(ctx, r.log)
	log.Info("reloading config", slog.String(logkey.Config, r.opts.ConfigName), slog.String("trigger", trigger))
	notify(r.log, reloadingMessage())

	summary, err := r.swapState(ctx, log)
	metrics.ObserveReload(err)

	r.mu.Lock()
	r.reloads++
	if err != nil {
		r.lastReloadErr = fmt.Sprintf("%s: %v", time.Now().UTC().Format(time.RFC3339), err)
	} else {
		r.lastReloadErr = ""
	}
	r.mu.Unlock()

	if err != nil {
		log.Error("reload failed, keeping the running config", slog.String(logkey.Error, err.Error()))
	}
	notify(r.log, daemon.SdNotifyReady+"\n"+statusMessage(r.statusLine()))
	return summary, err
}

func (r *runner) swapState(ctx context.Context, log *slog.Logger) (api.StateSummary, error) {
	cfg, err := r.opts.Load()
	if err != nil {
		return api.StateSummary{}, err
	}
	old := r.srv.State()
	warnRestartOnly(log, old.Config, cfg)
	logConfigWarnings(log, cfg)

	st, err := pipeline.NewState(ctx, cfg)
	if err != nil {
		return api.StateSummary{}, err
	}
	st.KeyHealth.SetLogger(log)
	prev := r.srv.SetState(st)
	r.reloadGuardPolicy(old.Config.Guard, cfg.Guard, log)

	// Requests that hold the previous state keep its key open until the
	// last of them releases it.
	if err := prev.Close(); err != nil {
		log.Warn("closing the previous state failed", slog.String(logkey.Error, err.Error()))
	}

	health.Set("key", nil)
	metrics.SetServingState(st.LoadedAt, len(cfg.Tenants))
	if r.opts.Level != nil {
		var level slog.Level
		if err := level.UnmarshalText([]byte(cfg.Log.Level)); err == nil {
			r.opts.Level.Set(level)
		}
	}
	log.Info("config reloaded", slog.Int("tenants", len(cfg.Tenants)), slog.String(logkey.KeyHint, st.KeyHint))
	return st.Summary(), nil
}

// logConfigWarnings logs each weakness that the config check found, with
// its place in the file, at start and at every reload.
func logConfigWarnings(log *slog.Logger, cfg *config.Config) {
	for _, w := range cfg.Warnings {
		log.Warn("config warning", slog.String(logkey.Reason, w.String()))
	}
}

// warnRestartOnly logs settings that a reload cannot apply because they
// shape the listeners or the logger, which live as long as the process.
func warnRestartOnly(log *slog.Logger, old, cfg *config.Config) {
	changed := []string{}
	if cfg.Socket != old.Socket {
		changed = append(changed, "socket")
	}
	if cfg.AdminSocket != old.AdminSocket {
		changed = append(changed, "admin_socket")
	}
	if cfg.HTTP != old.HTTP {
		changed = append(changed, "http")
	}
	if cfg.Identity != old.Identity {
		changed = append(changed, "identity")
	}
	if cfg.Metrics != old.Metrics {
		changed = append(changed, "metrics")
	}
	if cfg.AuditDir() != old.AuditDir() || cfg.Audit.MaxFileBytes != old.Audit.MaxFileBytes {
		changed = append(changed, "audit")
	}
	if cfg.StateDir != old.StateDir {
		changed = append(changed, "state_dir")
	}
	if cfg.Log.Format != old.Log.Format {
		changed = append(changed, "log.format")
	}
	if len(changed) > 0 {
		log.Warn("these settings change only at restart; the running values stay until then",
			slog.Any("settings", changed))
	}
}
