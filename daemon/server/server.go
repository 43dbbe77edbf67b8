// Package server serves signerd's HTTP/1.1 JSON API on Unix sockets.
//
// Each connection's caller identity is read from the kernel once, at
// accept, and every request on that connection carries it. Before routing,
// each request passes guards that keep the socket from being reached
// through a browser or a confused proxy: the Host must be signer.localhost
// or empty, requests with Origin or Referer are rejected, absolute-form
// targets are rejected, and request bodies must be application/json within
// the configured size. Every error is a JSON body with a stable code.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/peercred"
	"github.com/signerd/signerd/daemon/pipeline"
)

// Server serves the caller API.
type Server struct {
	state  atomic.Pointer[pipeline.State]
	log    *slog.Logger
	http   *http.Server
	served atomic.Uint64
}

// New returns a Server that serves st until SetState replaces it. The HTTP
// limits come from st's config and are fixed for the server's life.
func New(st *pipeline.State, log *slog.Logger) *Server {
	s := &Server{log: log}
	s.state.Store(st)

	h := st.Config.HTTP
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: time.Duration(h.ReadHeaderTimeout),
		ReadTimeout:       time.Duration(h.ReadTimeout),
		WriteTimeout:      time.Duration(h.WriteTimeout),
		IdleTimeout:       time.Duration(h.IdleTimeout),
		MaxHeaderBytes:    h.MaxHeaderBytes,
		ConnContext:       connContext,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s
}

// State returns the current state.
func (s *Server) State() *pipeline.State { return s.state.Load() }

// SetState swaps in a new state and returns the old one. Requests that
// already loaded the old state finish with it.
func (s *Server) SetState(st *pipeline.State) *pipeline.State { return s.state.Swap(st) }

// Served returns the number of requests answered.
func (s *Server) Served() uint64 { return s.served.Load() }

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

// connInfo is the caller identity of one connection, read at accept.
type connInfo struct {
	id  *peercred.Identity
	err error
}

func connContext(ctx context.Context, c net.Conn) context.Context {
	id, err := peercred.Read(c)
	return context.WithValue(ctx, connKey{}, &connInfo{id: id, err: err})
}

func callerFrom(ctx context.Context) (*peercred.Identity, error) {
	ci, ok := ctx.Value(connKey{}).(*connInfo)
	if !ok {
		return nil, errors.New("connection has no caller identity")
	}
	return ci.id, ci.err
}

// HTTPConfig returns the limits the server was built with.
func (s *Server) HTTPConfig() config.HTTPConfig { return s.state.Load().Config.HTTP }

func logCaller(id *peercred.Identity) []any {
	if id == nil {
		return nil
	}
	return []any{
		slog.Int(logkey.CallerPID, int(id.PID)),
		slog.Uint64(logkey.CallerUID, uint64(id.UID)),
		slog.Uint64(logkey.CallerGID, uint64(id.GID)),
	}
}
