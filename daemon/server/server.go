// Package server serves signerd's HTTP/1.1 JSON API on Unix sockets.
//
// Each connection's caller identity is read from the kernel once, at
// accept, and every request on that connection carries it. Before routing,
// each request passes guards that keep the socket from being reached
// through a browser or a confused proxy. The Host must be signer.localhost
// (or absent in HTTP/1.0), and requests with Origin or Referer and
// absolute-form targets are rejected. Request bodies must be
// application/json within the configured size. Every error is a JSON body
// with a stable code.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/peercred"
	"github.com/signerd/signerd/daemon/pipeline"
)

// Server serves the caller API.
type Server struct {
	state    atomic.Pointer[pipeline.State]
	log      *slog.Logger
	http     *http.Server
	served   atomic.Uint64
	inFlight atomic.Int64

	// audit records every decision on the sign endpoint. It is not part
	// of the state, so a reload keeps the same trail.
	audit pipeline.Recorder

	connIdentities
}

// connIdentities snapshots each connection's caller at accept and
// releases the snapshot when the connection closes.
type connIdentities struct {
	// ids reads callers' identities; conns maps each open connection to
	// its identity, which is closed with the connection.
	ids   *peercred.Reader
	conns sync.Map
}

// Option configures a Server.
type Option func(*Server)

// WithAudit makes the server record decisions in rec. Without it, sign
// requests fail with unavailable.
func WithAudit(rec pipeline.Recorder) Option {
	return func(s *Server) { s.audit = rec }
}

// New returns a Server that serves st until SetState replaces it. The HTTP
// limits come from st's config and are fixed for the server's life.
func New(st *pipeline.State, log *slog.Logger, opts ...Option) *Server {
	s := &Server{log: log}
	s.state.Store(st)
	s.ids = peercred.NewReader(peercred.Options{
		MaxHashBytes: st.Config.Identity.MaxExecutableHashBytes,
		Log:          log,
	})

	for _, o := range opts {
		o(s)
	}
	s.http = newHTTPServer(s, st.Config.HTTP, &s.connIdentities, log)
	return s
}

// State returns the current state.
func (s *Server) State() *pipeline.State { return s.state.Load() }

// SetState swaps in a new state and returns the old one. Requests that
// already hold the old state finish with it; the caller closes the old
// state, which releases its resources after the last of them.
func (s *Server) SetState(st *pipeline.State) *pipeline.State { return s.state.Swap(st) }

// Served returns the number of requests answered, not counting the
// daemon's own self-checks.
func (s *Server) Served() uint64 { return s.served.Load() }

// InFlight returns the number of requests being served.
func (s *Server) InFlight() int64 { return s.inFlight.Load() }

// Close closes the listeners and every connection at once, for when
// Shutdown ran out of time.
func (s *Server) Close() error { return s.http.Close() }

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

type connKey struct{}

// connInfo is the caller identity of one connection. The snapshot starts
// at accept in its own goroutine, because net/http calls ConnContext in
// its accept loop and hashing a large executable there would hold up
// every other connection. done closes when id and err are set.
type connInfo struct {
	done chan struct{}
	id   *peercred.Identity
	err  error

	// logAttrs are id's fields of the request log line, built once for
	// all requests on the connection.
	logAttrs []slog.Attr
}

// connContext starts the caller's identity snapshot when the server
// accepts the connection.
func (s *connIdentities) connContext(ctx context.Context, c net.Conn) context.Context {
	ci := &connInfo{done: make(chan struct{})}
	go func() {
		ci.id, ci.err = s.ids.Read(c)
		ci.logAttrs = logCaller(ci.id)
		close(ci.done)
	}()
	s.conns.Store(c, ci)
	return context.WithValue(ctx, connKey{}, ci)
}

// connState releases a connection's identity when the connection ends.
func (s *connIdentities) connState(c net.Conn, state http.ConnState) {
	if state != http.StateClosed && state != http.StateHijacked {
		return
	}
	v, ok := s.conns.LoadAndDelete(c)
	if !ok {
		return
	}
	ci := v.(*connInfo)
	go func() {
		<-ci.done
		if ci.id != nil {
			ci.id.Close()
		}
	}()
}

// callerFrom waits for the snapshot of the request's connection.
func callerFrom(ctx context.Context) (*peercred.Identity, error) {
	ci, ok := ctx.Value(connKey{}).(*connInfo)
	if !ok {
		return nil, errors.New("connection has no caller identity")
	}
	select {
	case <-ci.done:
		return ci.id, ci.err
	case <-ctx.Done():
		return nil, fmt.Errorf("request ended before the caller identity was read: %w", ctx.Err())
	}
}

// logCaller returns the identity fields of a request's log line.
func logCaller(id *peercred.Identity) []slog.Attr {
	if id == nil {
		return nil
	}
	attrs := []slog.Attr{
		slog.Int(logkey.CallerPID, int(id.PID)),
		slog.Uint64(logkey.CallerUID, uint64(id.UID)),
		slog.Uint64(logkey.CallerGID, uint64(id.GID)),
		slog.Any(logkey.CallerGroups, uint32List(id.Groups)),
		slog.String(logkey.CallerExe, id.Exe.Path),
		slog.String(logkey.CallerExeSHA256, id.Exe.SHA256),
		slog.String(logkey.CallerLiveness, id.Liveness),
	}
	if id.Exe.Deleted {
		attrs = append(attrs, slog.Bool(logkey.CallerExeDeleted, true))
	}
	if id.Cgroup.Path != "" {
		attrs = append(attrs, slog.String(logkey.CallerCgroup, id.Cgroup.Path))
	}
	if id.Cgroup.SystemdUnit != "" {
		attrs = append(attrs, slog.String(logkey.CallerUnit, id.Cgroup.SystemdUnit))
	}
	if id.Cgroup.ContainerID != "" {
		attrs = append(attrs, slog.String(logkey.CallerContainer, id.Cgroup.ContainerID))
	}
	return attrs
}

// callerLogAttrs returns the caller's fields of x's log line, from the
// connection's snapshot when x's caller came from it.
func callerLogAttrs(x *exchange) []slog.Attr {
	if x.caller == nil {
		return nil
	}
	if ci, ok := x.r.Context().Value(connKey{}).(*connInfo); ok && ci.id == x.caller {
		// x.caller came from ci after ci.done closed, so logAttrs is set.
		return ci.logAttrs
	}
	return logCaller(x.caller)
}
