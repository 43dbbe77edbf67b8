package server

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/metrics"
)

// MetricsHTTP serves GET /metrics on a loopback TCP address for a local
// Prometheus agent. TCP has no peer credentials, so it serves nothing but
// metrics. The Host header must name a loopback address or localhost,
// which stops a web page from reading it through DNS rebinding, and
// requests with Origin or Referer are rejected as on the sockets.
type MetricsHTTP struct {
	http *http.Server
	log  *slog.Logger
}

// NewMetricsHTTP returns a metrics server.
func NewMetricsHTTP(log *slog.Logger) *MetricsHTTP {
	m := &MetricsHTTP{log: log}
	m.http = &http.Server{
		Handler:           m,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return m
}

// Serve accepts connections on l until Close.
func (m *MetricsHTTP) Serve(l net.Listener) error {
	err := m.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the server; scrapes in flight are cut.
func (m *MetricsHTTP) Close() error { return m.http.Close() }

// ServeHTTP serves one scrape.
func (m *MetricsHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{w: w, r: r}
	if e := checkMetricsRequest(r); e != nil {
		x.fail(e)
		m.log.Warn("metrics request rejected", slog.String("remote", r.RemoteAddr), slog.String("error", e.Message))
		return
	}
	if r.URL.Path != api.PathMetrics {
		x.fail(api.Errorf(api.CodeNotFound, "only %s is served here", api.PathMetrics))
		return
	}
	if x.allow(http.MethodGet) {
		metrics.Handler().ServeHTTP(w, r)
	}
}

func checkMetricsRequest(r *http.Request) *api.Error {
	if !strings.HasPrefix(r.RequestURI, "/") {
		return api.Errorf(api.CodeInvalidRequest, "request target %q is not in origin form", truncate(r.RequestURI, 200))
	}
	if len(r.Header.Values("Origin")) > 0 || len(r.Header.Values("Referer")) > 0 {
		return api.Errorf(api.CodeForbidden, "requests from a browser (with Origin or Referer) are rejected")
	}

	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return api.Errorf(api.CodeForbidden, "Host %q is not a loopback address; scrape with Host: 127.0.0.1 or localhost", truncate(r.Host, 200))
}
