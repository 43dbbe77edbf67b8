package server_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/audit"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/listener"
	"github.com/signerd/signerd/daemon/pipeline"
	"github.com/signerd/signerd/daemon/server"
)

// serveWithTrail serves the development config with the audit trail in
// auditDir, or with no trail when auditDir is empty.
func serveWithTrail(t *testing.T, dir, auditDir string) *client.Client {
	t.Helper()
	cfg, err := config.Dev(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := pipeline.NewState(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := listener.Bind(listener.BindOptions{Path: filepath.Join(dir, "s.sock"), Mode: 0o600, GID: -1})
	if err != nil {
		t.Fatal(err)
	}

	var opts []server.Option
	if auditDir != "" {
		trail := audit.Open(auditDir, audit.Options{ProbeInterval: 10 * time.Millisecond})
		t.Cleanup(func() { trail.Close() })
		opts = append(opts, server.WithAudit(trail))
	}
	srv := server.New(st, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	c := client.New(filepath.Join(dir, "s.sock"))
	t.Cleanup(c.Close)
	return c
}

func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "srv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestServerWithoutTrailRejectsSigning(t *testing.T) {
	c := serveWithTrail(t, shortDir(t), "")

	_, err := c.Sign(context.Background(), benchRequest())
	if !client.IsCode(err, api.CodeUnavailable) {
		t.Fatalf("sign without a trail: %v, want unavailable", err)
	}
	h, err := c.Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != "degraded" || !strings.Contains(h.Checks["audit"], "no audit trail") {
		t.Errorf("health without a trail: %+v", h)
	}
}

// TestServerResumesWhenTrailWritable puts a regular file where the audit
// directory belongs, so the trail cannot be created, then removes it.
func TestServerResumesWhenTrailWritable(t *testing.T) {
	dir := shortDir(t)
	auditDir := filepath.Join(dir, "audit")
	if err := os.WriteFile(auditDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := serveWithTrail(t, dir, auditDir)
	ctx := context.Background()

	_, err := c.Sign(ctx, benchRequest())
	if !client.IsCode(err, api.CodeUnavailable) || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("sign with an unwritable trail: %v, want unavailable naming the cause", err)
	}
	h, err := c.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != "degraded" || !strings.Contains(h.Checks["audit"], "not a directory") {
		t.Errorf("health with an unwritable trail: %+v", h)
	}

	if err := os.Remove(auditDir); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Sign(ctx, benchRequest())
	if err != nil {
		t.Fatalf("sign after the trail became writable: %v", err)
	}
	if resp.RecordID != "1" {
		t.Errorf("first durable record id %q, want 1", resp.RecordID)
	}
	h, err = c.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != "ok" || h.Checks["audit"] != "ok" {
		t.Errorf("health after recovery: %+v", h)
	}
}
