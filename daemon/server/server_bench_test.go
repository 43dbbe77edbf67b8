package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/audit"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/listener"
	"github.com/signerd/signerd/daemon/pipeline"
	"github.com/signerd/signerd/daemon/server"
)

// startServer serves the development config from a new directory on a
// real Unix socket and returns a client for it.
func startServer(tb testing.TB) *client.Client {
	tb.Helper()
	dir, err := os.MkdirTemp("/tmp", "srv-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })

	cfg, err := config.Dev(dir)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := pipeline.NewState(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := listener.Bind(listener.BindOptions{Path: filepath.Join(dir, "s.sock"), Mode: 0o600, GID: -1})
	if err != nil {
		tb.Fatal(err)
	}

	trail := audit.Open(cfg.AuditDir(), audit.Options{})
	srv := server.New(st, slog.New(slog.NewJSONHandler(io.Discard, nil)), server.WithAudit(trail))
	go srv.Serve(l)
	tb.Cleanup(func() {
		srv.Shutdown(context.Background())
		trail.Close()
	})

	c := client.New(filepath.Join(dir, "s.sock"))
	tb.Cleanup(c.Close)
	return c
}

func benchRequest() *api.SignRequest {
	return &api.SignRequest{
		Subjects:      []api.Subject{{Name: "app.tar", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}},
		PredicateType: "https://cyclonedx.org/bom",
		Predicate:     json.RawMessage(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"name":"lodash","version":"4.17.21","purl":"pkg:npm/lodash@4.17.21"}]}`),
	}
}

func TestServerSigns(t *testing.T) {
	c := startServer(t)
	resp, err := c.Sign(context.Background(), benchRequest())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resp.Bundle), `"dsseEnvelope"`) {
		t.Errorf("response bundle lacks dsseEnvelope: %s", resp.Bundle)
	}
	if resp.CorrelationID == "" || resp.RecordID == "" || resp.KeyHint == "" {
		t.Errorf("response lacks ids: %+v", resp)
	}
}

// BenchmarkServerSign measures a whole sign request over the socket,
// client included, as signerctl bench does.
func BenchmarkServerSign(b *testing.B) {
	c := startServer(b)
	req := benchRequest()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Sign(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
