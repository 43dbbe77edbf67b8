package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/audit"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/listener"
	"github.com/signerd/signerd/daemon/pipeline"
	"github.com/signerd/signerd/daemon/server"
)

// syncBuffer is a log destination the test reads while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newState builds a development state whose key lives in its own
// directory, so two states have different keys.
func newState(t *testing.T) *pipeline.State {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "srv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg, err := config.Dev(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := pipeline.NewState(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func serve(t *testing.T, h interface{ Serve(net.Listener) error }, shutdown func(context.Context) error) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "srv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s.sock")
	l, err := listener.Bind(listener.BindOptions{Path: path, Mode: 0o600, GID: -1})
	if err != nil {
		t.Fatal(err)
	}
	go h.Serve(l)
	t.Cleanup(func() { shutdown(context.Background()) })
	return path
}

// A request that started before a reload finishes with the old state's
// key, and the old state closes only after that request ends.
func TestInFlightRequestKeepsOldState(t *testing.T) {
	old := newState(t)
	logs := &syncBuffer{}
	trail := audit.Open(filepath.Join(t.TempDir(), "audit"), audit.Options{})
	t.Cleanup(func() { trail.Close() })
	srv := server.New(old, slog.New(slog.NewJSONHandler(logs, nil)), server.WithAudit(trail))
	socket := serve(t, srv, srv.Shutdown)

	body, _ := json.Marshal(benchRequest())
	conn, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// Send the headers and half of the body, so the handler holds the
	// state while it waits for the rest.
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Correlation-ID: inflight-1\r\nContent-Length: %d\r\n\r\n",
		api.PathSignDSSE, api.Host, len(body))
	conn.Write(body[:len(body)/2])
	waitUntil(t, "the request to be in flight", func() bool { return srv.InFlight() == 1 })

	fresh := newState(t)
	prev := srv.SetState(fresh)
	if prev != old {
		t.Fatal("SetState did not return the previous state")
	}
	prev.Close()
	if old.Closed() {
		t.Fatal("old state closed while a request still held it")
	}

	conn.Write(body[len(body)/2:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out api.SignResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("in-flight sign: HTTP %d, %v", resp.StatusCode, err)
	}
	if out.KeyHint != old.KeyHint {
		t.Errorf("in-flight request signed with key %s, want the old key %s", out.KeyHint, old.KeyHint)
	}
	if out.CorrelationID != "inflight-1" || resp.Header.Get(api.HeaderCorrelationID) != "inflight-1" {
		t.Errorf("correlation id = %q (header %q), want inflight-1", out.CorrelationID, resp.Header.Get(api.HeaderCorrelationID))
	}
	waitUntil(t, "the old state to close after its last request", old.Closed)

	waitUntil(t, "a request log line with the correlation id", func() bool {
		return strings.Contains(logs.String(), `"correlation_id":"inflight-1"`)
	})
	if fresh.Closed() {
		t.Error("the new state is closed")
	}
}

func TestAdminGuards(t *testing.T) {
	st := newState(t)
	reloads := 0
	admin := server.NewAdmin(server.AdminOptions{
		Log: slog.New(slog.NewJSONHandler(&syncBuffer{}, nil)),
		Reload: func(context.Context) (*api.ReloadResponse, error) {
			reloads++
			return &api.ReloadResponse{Status: "reloaded"}, nil
		},
		Status: func() *api.StatusResponse { return &api.StatusResponse{Status: "ok"} },
		HTTP:   st.Config.HTTP,
	})
	socket := serve(t, admin, admin.Shutdown)
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}

	cases := []struct {
		name   string
		method string
		path   string
		header map[string]string
		body   string
		want   int
		code   api.Code
	}{
		{"status", http.MethodGet, api.PathAdminStatus, nil, "", http.StatusOK, ""},
		{"metrics", http.MethodGet, api.PathMetrics, nil, "", http.StatusOK, ""},
		{"reload", http.MethodPost, api.PathAdminReload, nil, "", http.StatusOK, ""},
		{"reload with GET", http.MethodGet, api.PathAdminReload, nil, "", http.StatusMethodNotAllowed, api.CodeMethodNotAllowed},
		{"reload with body", http.MethodPost, api.PathAdminReload, nil, "{}", http.StatusBadRequest, api.CodeInvalidRequest},
		{"foreign host", http.MethodGet, api.PathAdminStatus, map[string]string{"Host": "evil.example"}, "", http.StatusForbidden, api.CodeForbidden},
		{"browser origin", http.MethodPost, api.PathAdminReload, map[string]string{"Origin": "http://evil.example"}, "", http.StatusForbidden, api.CodeForbidden},
		{"caller endpoint", http.MethodGet, api.PathWhoAmI, nil, "", http.StatusNotFound, api.CodeNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, "http://"+api.Host+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.header {
				if k == "Host" {
					req.Host = v
					continue
				}
				req.Header.Set(k, v)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("%s %s: HTTP %d, want %d", c.method, c.path, resp.StatusCode, c.want)
			}
			if c.code == "" {
				return
			}
			var eb api.ErrorBody
			if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || eb.Error == nil || eb.Error.Code != c.code {
				t.Fatalf("error body code = %+v (%v), want %s", eb.Error, err, c.code)
			}
		})
	}
	if reloads != 1 {
		t.Errorf("Reload ran %d times, want 1 (only the valid POST)", reloads)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
