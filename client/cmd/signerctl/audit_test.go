package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signerd/signerd/daemon/audit"
)

func TestAuditVerifyCommand(t *testing.T) {
	good := t.TempDir()
	trail := audit.Open(good, audit.Options{})
	for range 3 {
		if err := trail.Append(context.Background(), &audit.Record{Outcome: audit.OutcomeAllowed}); err != nil {
			t.Fatal(err)
		}
	}
	trail.Close()

	broken := t.TempDir()
	data, _ := os.ReadFile(filepath.Join(good, "audit-00000000000000000001.jsonl"))
	lines := bytes.SplitAfter(data, []byte("\n"))
	os.WriteFile(filepath.Join(broken, "audit-00000000000000000001.jsonl"), append(append([]byte{}, lines[0]...), lines[2]...), 0o600)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"verified", []string{"audit", "verify", good}, 0, "chain verified: 3 records in 1 files"},
		{"broken", []string{"audit", "verify", broken}, 1, "audit-00000000000000000001.jsonl:2: record 2: sequence number is 3, expected 2"},
		{"json", []string{"audit", "verify", "--json", broken}, 1, `"line": 2`},
		{"missing dir", []string{"audit", "verify", filepath.Join(good, "nope")}, 2, "cannot be read"},
		{"no subcommand", []string{"audit"}, 2, "needs a subcommand"},
		{"unknown subcommand", []string{"audit", "check"}, 2, `unknown audit subcommand "check"`},
		{"json after dir", []string{"audit", "verify", broken, "--json"}, 1, `"line": 2`},
		{"two dirs", []string{"audit", "verify", good, broken}, 2, "takes one directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tt.wantOut) {
				t.Errorf("output does not contain %q:\n%s", tt.wantOut, out)
			}
		})
	}
}
