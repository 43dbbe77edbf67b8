// Package service runs the daemon. It builds the first state from the
// config and opens the caller and admin sockets, passed by systemd or
// bound itself. It serves until SIGTERM or SIGINT, and reloads on SIGHUP
// or on POST /v1/reload at the admin socket.
//
// A reload builds and checks a complete new state before it replaces the
// old one. When the new config, policy or key is bad, the old state keeps
// serving, and the error is logged and shown in the systemd STATUS line
// and in GET /v1/status. Requests in flight hold a reference to the state
// they started with, so its key stays open until they finish.
//
// Under systemd (Type=notify) the daemon sends READY=1 once the state is
// loaded and the sockets listen, RELOADING=1 and READY=1 around each
// reload, STOPPING=1 at shutdown, a STATUS= summary, and WATCHDOG=1 only
// while a request over its own caller socket succeeds.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/signerd/signerd/daemon/audit"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/guard"
	"github.com/signerd/signerd/daemon/health"
	"github.com/signerd/signerd/daemon/listener"
	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/metrics"
	"github.com/signerd/signerd/daemon/pipeline"
	"github.com/signerd/signerd/daemon/server"
)

// DrainTimeout bounds how long shutdown waits for requests in flight. The
// unit's TimeoutStopSec= leaves room above it.
const DrainTimeout = 10 * time.Second

// Options configure Run: where the config comes from and how to log.
type Options struct {
	// Load returns a fresh config; it runs at start and on every reload.
	Load func() (*config.Config, error)

	// ConfigName labels the config in logs.
	ConfigName string

	// Version is reported by GET /v1/status.
	Version string

	Log *slog.Logger

	// Level, when set, is the logger's level; a reload applies the new
	// config's log.level to it.
	Level *slog.LevelVar
}

// runner is the running daemon.
type runner struct {
	opts    Options
	log     *slog.Logger
	srv     *server.Server
	started time.Time

	// callerAddr is the caller socket's path, for the self-check.
	callerAddr string

	// guard is the kernel connect guard, nil when it is off or could not
	// be installed.
	guard *guard.Guard

	// reloadMu serializes reloads from SIGHUP and from the admin socket.
	reloadMu sync.Mutex

	mu            sync.Mutex
	reloads       int
	lastReloadErr string
	guardState    guardState
}

// Run serves until ctx ends or a termination signal arrives.
func Run(ctx context.Context, opts Options) error {
	log := opts.Log
	defer keepHeapFloor(heapFloor, log)()

	cfg, err := opts.Load()
	if err != nil {
		return err
	}
	logConfigWarnings(log, cfg)
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	lock, err := lockStateDir(cfg.StateDir)
	if err != nil {
		return err
	}
	defer lock.Close()

	// The trail lives as long as the process: reloads swap the state
	// but keep the trail, so its chain and writer are never split. The
	// deferred close runs after shutdown has drained every request.
	trail := audit.Open(cfg.AuditDir(), audit.Options{MaxFileBytes: cfg.Audit.MaxFileBytes, Log: log})
	defer closeTrail(trail, log)

	st, err := pipeline.NewState(ctx, cfg)
	if err != nil {
		return err
	}
	health.Set("key", nil)
	metrics.SetServingState(st.LoadedAt, len(cfg.Tenants))
	st.KeyHealth.SetLogger(log)
	log.Info("key loaded", slog.String(logkey.KeyURI, st.Signer.URI()),
		slog.String(logkey.KeyHint, st.KeyHint), slog.String("algorithm", string(st.Signer.Algorithm())))

	sockets, err := openSockets(cfg, log)
	if err != nil {
		st.Close()
		return err
	}

	r := &runner{opts: opts, log: log, started: time.Now(), callerAddr: sockets.caller.Addr().String()}

	// The guard protects the address clients dial, which for an activated
	// socket is the path in the socket unit.
	var guardInstallErr error
	r.guard, guardInstallErr, err = guard.Start(cfg.Guard, r.callerAddr, log)
	if err != nil {
		sockets.close()
		st.Close()
		return err
	}
	r.guardState = guardState{installed: r.guard != nil, installErr: guardInstallErr}
	if r.guard != nil {
		defer r.guard.Close() // the pinned guard stays in force after exit
		metrics.RegisterGuard(r.guard.Denied)
	}

	r.srv = server.New(st, log, server.WithAudit(trail))
	admin := server.NewAdmin(server.AdminOptions{
		Log:      log,
		Reload:   r.reloadRequest,
		Status:   r.status,
		HTTP:     cfg.HTTP,
		Identity: cfg.Identity,
	})

	serveErr := make(chan error, 3)
	go func() { serveErr <- wrap("caller socket", r.srv.Serve(sockets.caller)) }()
	if sockets.admin != nil {
		go func() { serveErr <- wrap("admin socket", admin.Serve(sockets.admin)) }()
	}
	var metricsHTTP *server.MetricsHTTP
	if sockets.metrics != nil {
		metricsHTTP = server.NewMetricsHTTP(log)
		go func() { serveErr <- wrap("metrics listener", metricsHTTP.Serve(sockets.metrics)) }()
		log.Info("serving metrics", slog.String("address", sockets.metrics.Addr().String()))
	}

	log.Info("signerd started", slog.String(logkey.Socket, r.callerAddr),
		slog.String(logkey.Config, opts.ConfigName), slog.Int("tenants", len(cfg.Tenants)))
	notify(log, daemon.SdNotifyReady+"\n"+statusMessage(r.statusLine()))

	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() { r.watch(watchCtx); close(watchDone) }()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	var runErr error
loop:
	for {
		select {
		case err := <-serveErr:
			if err != nil {
				runErr = err
				break loop
			}
		case <-ctx.Done():
			break loop
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				r.reload(ctx, "SIGHUP")
				continue
			}
			log.Info("signal received, stopping", slog.String("signal", sig.String()))
			break loop
		}
	}

	stopWatch()
	<-watchDone
	r.shutdown(admin, metricsHTTP)
	return runErr
}

// sockets are the daemon's listeners.
type sockets struct {
	caller  *net.UnixListener
	admin   *net.UnixListener
	metrics net.Listener
}

func openSockets(cfg *config.Config, log *slog.Logger) (*sockets, error) {
	activated, err := listener.Activated()
	if err != nil {
		return nil, err
	}
	wasActivated := len(activated) > 0

	var s sockets
	if s.caller, err = openSocket(cfg.Socket, "caller", activated, wasActivated, log); err != nil {
		return nil, err
	}

	// A socket unit from before the admin socket existed passes only the
	// caller socket. The daemon then runs without admin endpoints rather
	// than refusing to start.
	s.admin, err = openSocket(cfg.AdminSocket, "admin", activated, wasActivated, log)
	switch {
	case errors.Is(err, errNotPassed):
		log.Warn("systemd passed no admin socket, so reload, status and metrics are only available through signals and the journal; install signerd-admin.socket",
			slog.String("name", cfg.AdminSocket.Name))
	case err != nil:
		s.caller.Close()
		return nil, err
	}
	closeUnused(activated, log)

	if s.metrics, err = listenMetrics(cfg); err != nil {
		s.close()
		return nil, err
	}
	return &s, nil
}

// close closes every listener, for a start that fails after opening them.
func (s *sockets) close() {
	s.caller.Close()
	if s.admin != nil {
		s.admin.Close()
	}
	if s.metrics != nil {
		s.metrics.Close()
	}
}

// shutdown stops accepting, waits up to DrainTimeout for requests in
// flight, then cuts the rest and releases the state.
func (r *runner) shutdown(admin *server.Admin, metricsHTTP *server.MetricsHTTP) {
	inFlight := r.srv.InFlight()
	notify(r.log, daemon.SdNotifyStopping+"\n"+statusMessage(fmt.Sprintf("stopping, draining %d requests", inFlight)))

	ctx, cancel := context.WithTimeout(context.Background(), DrainTimeout)
	defer cancel()

	var wg sync.WaitGroup
	var callerErr error
	wg.Add(2)
	go func() { defer wg.Done(); callerErr = r.srv.Shutdown(ctx) }()
	go func() { defer wg.Done(); admin.Shutdown(ctx) }()
	wg.Wait()
	if metricsHTTP != nil {
		metricsHTTP.Close()
	}

	if errors.Is(callerErr, context.DeadlineExceeded) {
		r.log.Warn("requests still in flight at the drain timeout were cut",
			slog.Duration("timeout", DrainTimeout), slog.Int64("in_flight", r.srv.InFlight()))
		r.srv.Close()
	}
	if err := r.srv.State().Close(); err != nil {
		r.log.Warn("closing the state failed", slog.String(logkey.Error, err.Error()))
	}
	r.log.Info("signerd stopped", slog.Uint64("requests_served", r.srv.Served()))
}

// closeTrail runs after the server has drained, so every request that
// got a response has its record committed.
func closeTrail(trail *audit.Trail, log *slog.Logger) {
	if err := trail.Close(); err != nil {
		log.Error("audit trail did not close cleanly", slog.String(logkey.AuditDir, trail.Dir()), slog.String(logkey.Error, err.Error()))
	}
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("serve %s: %w", what, err)
}
