// Package service runs the daemon: it builds the first state from the
// config, opens the sockets, serves until SIGTERM or SIGINT, and reloads
// on SIGHUP. A reload builds and checks a complete new state before it
// replaces the old one; when the new config is bad, the old state keeps
// serving and the error is logged.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/signerd/signerd/daemon/audit"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/guard"
	"github.com/signerd/signerd/daemon/listener"
	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/pipeline"
	"github.com/signerd/signerd/daemon/server"
)

// DrainTimeout bounds how long shutdown waits for requests in flight.
const DrainTimeout = 10 * time.Second

// Options say where the config comes from.
type Options struct {
	// Load returns a fresh config; it runs at start and on every reload.
	Load func() (*config.Config, error)

	// ConfigName labels the config in logs.
	ConfigName string

	Log *slog.Logger
}

// Run serves until ctx ends or a termination signal arrives.
func Run(ctx context.Context, opts Options) error {
	log := opts.Log

	cfg, err := opts.Load()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}

	// The trail lives as long as the process: reloads swap the state
	// but keep the trail, so its chain and writer are never split.
	trail := audit.Open(cfg.AuditDir(), audit.Options{MaxFileBytes: cfg.Audit.MaxFileBytes, Log: log})
	defer closeTrail(trail, log)

	st, err := pipeline.NewState(ctx, cfg)
	if err != nil {
		return err
	}
	st.KeyHealth.SetLogger(log)
	log.Info("key loaded", slog.String(logkey.KeyURI, st.Signer.URI()),
		slog.String(logkey.KeyHint, st.KeyHint), slog.String("algorithm", string(st.Signer.Algorithm())))

	l, err := openCallerSocket(cfg, log)
	if err != nil {
		st.Close()
		return err
	}

	// The guard protects the address clients dial, which for an activated
	// socket is the path in the socket unit.
	g, err := guard.Start(cfg.Guard, l.Addr().String(), log)
	if err != nil {
		l.Close()
		st.Close()
		return err
	}
	if g != nil {
		defer g.Close() // the pinned guard stays in force after exit
		// TODO: export g.Denied as a counter (signerd_guard_denied_connects_total)
		// once the daemon has a metrics endpoint.
	}

	srv := server.New(st, log, server.WithAudit(trail))
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()

	log.Info("signerd started", slog.String(logkey.Socket, cfg.Socket.Path),
		slog.String(logkey.Config, opts.ConfigName), slog.Int("tenants", len(cfg.Tenants)))
	notify(log, daemon.SdNotifyReady)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	for {
		select {
		case err := <-serveErr:
			st := srv.State()
			st.Close()
			return fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
			return shutdown(srv, log)
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload(ctx, srv, g, opts, log)
				continue
			}
			log.Info("signal received, stopping", slog.String("signal", sig.String()))
			return shutdown(srv, log)
		}
	}
}

func openCallerSocket(cfg *config.Config, log *slog.Logger) (*net.UnixListener, error) {
	activated, err := listener.Activated()
	if err != nil {
		return nil, err
	}
	if l, ok := activated[cfg.Socket.Name]; ok {
		log.Info("using socket from systemd", slog.String("name", cfg.Socket.Name))
		return l, nil
	}
	if len(activated) > 0 {
		names := make([]string, 0, len(activated))
		for n := range activated {
			names = append(names, n)
		}
		return nil, fmt.Errorf("systemd passed sockets %q but none named %q; set FileDescriptorName=%s in the socket unit",
			names, cfg.Socket.Name, cfg.Socket.Name)
	}

	gid := -1
	if cfg.Socket.Group != "" {
		g, err := config.LookupGroup(cfg.Socket.Group)
		if err != nil {
			return nil, err
		}
		gid = int(g)
	}
	l, err := listener.Bind(listener.BindOptions{Path: cfg.Socket.Path, Mode: os.FileMode(cfg.Socket.Mode), GID: gid})
	if err != nil {
		return nil, err
	}
	return l, nil
}

func reload(ctx context.Context, srv *server.Server, g *guard.Guard, opts Options, log *slog.Logger) {
	log.Info("reloading config", slog.String(logkey.Config, opts.ConfigName))
	notify(log, daemon.SdNotifyReloading)
	defer notify(log, daemon.SdNotifyReady)

	cfg, err := opts.Load()
	if err != nil {
		log.Error("reload failed, keeping the running config", slog.String(logkey.Error, err.Error()))
		return
	}
	old := srv.State()
	if cfg.Socket != old.Config.Socket || cfg.HTTP != old.Config.HTTP || cfg.Identity != old.Config.Identity ||
		cfg.AuditDir() != old.Config.AuditDir() || cfg.Audit.MaxFileBytes != old.Config.Audit.MaxFileBytes {
		log.Warn("socket, http, identity and audit settings change only at restart; the new values are ignored until then")
	}
	st, err := pipeline.NewState(ctx, cfg)
	if err != nil {
		log.Error("reload failed, keeping the running config", slog.String(logkey.Error, err.Error()))
		return
	}
	st.KeyHealth.SetLogger(log)
	prev := srv.SetState(st)
	reloadGuard(g, old.Config.Guard, cfg.Guard, log)

	// Requests that loaded the previous state may still be signing with
	// its key; close it once they have had time to finish.
	time.AfterFunc(time.Duration(old.Config.HTTP.WriteTimeout), func() { prev.Close() })
	log.Info("config reloaded", slog.Int("tenants", len(cfg.Tenants)), slog.String(logkey.KeyHint, st.KeyHint))
}

func shutdown(srv *server.Server, log *slog.Logger) error {
	notify(log, daemon.SdNotifyStopping)
	ctx, cancel := context.WithTimeout(context.Background(), DrainTimeout)
	defer cancel()

	err := srv.Shutdown(ctx)
	srv.State().Close()
	if errors.Is(err, context.DeadlineExceeded) {
		log.Warn("shutdown timed out with requests in flight", slog.Duration("timeout", DrainTimeout))
	}
	log.Info("signerd stopped", slog.Uint64("requests_served", srv.Served()))
	return nil
}

// closeTrail runs after the server has drained, so every request that
// got a response has its record committed.
func closeTrail(trail *audit.Trail, log *slog.Logger) {
	if err := trail.Close(); err != nil {
		log.Error("audit trail did not close cleanly", slog.String(logkey.AuditDir, trail.Dir()), slog.String(logkey.Error, err.Error()))
	}
}

func notify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("sd_notify failed", slog.String(logkey.Error, err.Error()))
	}
}
