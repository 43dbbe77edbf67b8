package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestGuardCommandErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-pin-dir")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantText string
	}{
		{"no subcommand", []string{"guard"}, 2, "status or remove"},
		{"unknown subcommand", []string{"guard", "detach"}, 2, `unknown guard subcommand "detach"`},
		{"status without pins", []string{"guard", "status", "--pin-dir", missing}, 1, "no connect guard is pinned"},
		{"remove without pins", []string{"guard", "remove", "--pin-dir", missing}, 0, "nothing to remove"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tt.wantText) {
				t.Errorf("output %q does not contain %q", out, tt.wantText)
			}
		})
	}
}
