package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/metrics"
	"github.com/signerd/signerd/daemon/peercred"
	"github.com/signerd/signerd/daemon/reqlog"
)

// AdminOptions connect the admin socket to the service.
type AdminOptions struct {
	Log *slog.Logger

	// Reload loads and swaps in a new state; it returns an error with
	// code api.CodeReloadFailed when the old state keeps serving.
	Reload func(ctx context.Context) (*api.ReloadResponse, error)

	// Status returns the daemon's state summary.
	Status func() *api.StatusResponse

	// HTTP bounds the admin connections like the caller's.
	HTTP config.HTTPConfig

	// Identity configures how callers' identities are read.
	Identity config.IdentityConfig
}

// Admin serves the administrative API: POST /v1/reload, GET /v1/status
// and GET /metrics. It applies the caller API's guards and, on top,
// accepts only root and the daemon's own user, even when the socket
// file's mode would let others connect.
type Admin struct {
	opts AdminOptions
	http *http.Server
	connIdentities
}

// NewAdmin returns an admin server.
func NewAdmin(opts AdminOptions) *Admin {
	a := &Admin{opts: opts}
	a.ids = peercred.NewReader(peercred.Options{
		MaxHashBytes: opts.Identity.MaxExecutableHashBytes,
		Log:          opts.Log,
	})
	a.http = newHTTPServer(a, opts.HTTP, &a.connIdentities, opts.Log)
	return a
}

// Serve accepts connections on l until Shutdown.
func (a *Admin) Serve(l net.Listener) error {
	err := a.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for requests in flight until ctx ends.
func (a *Admin) Shutdown(ctx context.Context) error { return a.http.Shutdown(ctx) }

// ServeHTTP guards, routes and logs one admin request.
func (a *Admin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	x := &exchange{w: w, r: r, correlationID: correlationID(r), logBase: a.opts.Log}
	x.logPrefix = []slog.Attr{slog.String(logkey.CorrelationID, x.correlationID), slog.String(logkey.Socket, "admin")}
	x.r = r.WithContext(reqlog.WithFunc(r.Context(), x.logger))
	w.Header().Set(api.HeaderCorrelationID, x.correlationID)
	w.Header().Set("Cache-Control", "no-store")

	a.route(x)

	if isSelfCheck(x.r) {
		return
	}
	logRequest(x, time.Since(start))
}

func (a *Admin) route(x *exchange) {
	if e := checkRequest(x.r); e != nil {
		x.fail(e)
		return
	}

	caller, err := callerFrom(x.r.Context())
	if err != nil {
		x.fail(api.Errorf(api.CodeUnauthenticated, "%v", err))
		return
	}
	x.caller = caller
	if euid := uint32(os.Geteuid()); caller.UID != 0 && caller.UID != euid {
		x.fail(api.Errorf(api.CodeForbidden,
			"uid %d may not use the admin socket; only root and the daemon's user (uid %d) may", caller.UID, euid))
		return
	}

	switch x.r.URL.Path {
	case api.PathAdminReload:
		if x.allow(http.MethodPost) {
			a.handleReload(x)
		}
	case api.PathAdminStatus:
		if x.allow(http.MethodGet) {
			x.reply(http.StatusOK, a.opts.Status())
		}
	case api.PathMetrics:
		if x.allow(http.MethodGet) {
			x.status = http.StatusOK
			metrics.Handler().ServeHTTP(x.w, x.r)
		}
	default:
		x.fail(api.Errorf(api.CodeNotFound, "no admin endpoint at %q; see %s, %s and %s",
			truncate(x.r.URL.Path, 200), api.PathAdminReload, api.PathAdminStatus, api.PathMetrics))
	}
}

func (a *Admin) handleReload(x *exchange) {
	if x.r.ContentLength > 0 {
		x.fail(api.Errorf(api.CodeInvalidRequest, "POST %s takes no body; the daemon rereads its config file", api.PathAdminReload))
		return
	}
	res, err := a.opts.Reload(x.r.Context())
	if err != nil {
		x.fail(asAPIError(err))
		return
	}
	x.reply(http.StatusOK, res)
}

func newHTTPServer(h http.Handler, c config.HTTPConfig, ids *connIdentities, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: time.Duration(c.ReadHeaderTimeout),
		ReadTimeout:       time.Duration(c.ReadTimeout),
		WriteTimeout:      time.Duration(c.WriteTimeout),
		IdleTimeout:       time.Duration(c.IdleTimeout),
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ConnContext:       ids.connContext,
		ConnState:         ids.connState,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
