package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/test/testenv"
)

// After a reload that failed, status still reports the daemon as it
// serves, names the failure on its first line and lists every check,
// the audit trail's included.
func TestStatusAfterFailedReload(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	socket := filepath.Join(dir, "signerd.sock")
	admin := filepath.Join(dir, "admin.sock")
	cfgPath := filepath.Join(dir, "signerd.yaml")
	cfg := "socket:\n  path: " + socket + "\n  mode: \"0600\"\n" +
		"admin_socket:\n  path: " + admin + "\n" +
		"state_dir: " + filepath.Join(dir, "state") + "\n" +
		"key:\n  uri: file://" + filepath.Join(dir, "signing.key") + "\n" +
		"tenants:\n  - name: a\n    predicate_types: [\"*\"]\n    callers: [{uid: 0}]\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	testenv.Start(t, socket, dir, "--config", cfgPath)

	code, stdout, stderr := runCLI(t, "--admin-socket", admin, "status")
	if code != 0 {
		t.Fatalf("status of a healthy daemon: exit status %d\n%s%s", code, stdout, stderr)
	}
	first := strings.SplitN(stdout, "\n", 2)[0]
	if first != "status:     ok" {
		t.Errorf("first line = %q, want the plain status", first)
	}
	if !strings.Contains(stdout, "\nguard:      off (guard.enabled is false)\n") {
		t.Errorf("status output does not show the guard as off:\n%s", stdout)
	}
	code, stdout, stderr = runCLI(t, "--admin-socket", admin, "status", "--json")
	if code != 0 {
		t.Fatalf("status --json: exit status %d\n%s", code, stderr)
	}
	var status api.StatusResponse
	if err := json.Unmarshal([]byte(stdout), &status); err != nil {
		t.Fatalf("status --json output is not a status response: %v\n%s", err, stdout)
	}
	if status.Guard == nil || status.Guard.State != api.GuardOff {
		t.Errorf("status --json guard = %+v, want state off", status.Guard)
	}
	if !strings.Contains(status.Line, ", guard off") {
		t.Errorf("status --json line = %q, want it to show the guard as off", status.Line)
	}

	if err := os.WriteFile(cfgPath, []byte(cfg+"no_such_setting: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, "--admin-socket", admin, "reload"); code != 1 {
		t.Fatalf("reload of a broken config: exit status %d, want 1\n%s", code, stderr)
	}

	code, stdout, stderr = runCLI(t, "--admin-socket", admin, "status")
	if code != 0 {
		t.Errorf("status after a failed reload: exit status %d, want 0: the daemon still serves\n%s", code, stderr)
	}
	first = strings.SplitN(stdout, "\n", 2)[0]
	if !strings.Contains(first, "the last reload failed") {
		t.Errorf("first line = %q, want it to name the failed reload", first)
	}
	for _, want := range []string{"check:      audit: ok", "check:      key: ok", "last reload failed: ", "no_such_setting"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status output lacks %q:\n%s", want, stdout)
		}
	}
}

func TestDescribeGuard(t *testing.T) {
	tests := []struct {
		name  string
		guard api.GuardStatus
		want  string
	}{
		{"active", api.GuardStatus{State: api.GuardActive}, "active"},
		{"off", api.GuardStatus{State: api.GuardOff}, "off (guard.enabled is false)"},
		{"failed", api.GuardStatus{State: api.GuardFailed, Error: "load program: operation not permitted"},
			"failed, running without it: load program: operation not permitted"},
		{"policy update failed", api.GuardStatus{State: api.GuardActive, PolicyError: "no space left on device"},
			"active, but the last policy update failed, so the previous allowed set stays in force: no space left on device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := describeGuard(&tt.guard); got != tt.want {
				t.Errorf("describeGuard = %q, want %q", got, tt.want)
			}
		})
	}
}
