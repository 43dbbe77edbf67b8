package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signerd/signerd/test/testenv"
)

// runCLI runs signerctl with args and returns its exit status and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestUsageOutput(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout bool
	}{
		{"help command", []string{"help"}, 0, true},
		{"long help flag", []string{"--help"}, 0, true},
		{"short help flag", []string{"-h"}, 0, true},
		{"no command", nil, 2, false},
		{"ext help flag", []string{"ext", "-h"}, 0, true},
		{"ext without a subcommand", []string{"ext"}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d", code, tt.wantCode)
			}
			usage, other := stdout, stderr
			if !tt.wantStdout {
				usage, other = stderr, stdout
			}
			if !strings.HasPrefix(usage, "Usage: signerctl") {
				t.Errorf("usage not on the expected stream:\nstdout: %s\nstderr: %s", stdout, stderr)
			}
			if other != "" {
				t.Errorf("unexpected output on the other stream: %q", other)
			}
		})
	}
}

func TestGlobalFlagDefaultShownOnce(t *testing.T) {
	t.Setenv("SIGNERD_SOCKET", "/tmp/somewhere/signerd.sock")
	_, stdout, _ := runCLI(t, "help")

	if strings.Contains(stdout, `(default "`) {
		t.Errorf("help prints the flag package's default besides its own:\n%s", stdout)
	}
	for _, want := range []string{"(default $SIGNERD_SOCKET, then /run/signerd/signerd.sock)", "(default $SIGNERD_ADMIN_SOCKET, then admin.sock beside the socket)"} {
		if n := strings.Count(stdout, want); n != 1 {
			t.Errorf("help contains %q %d times, want once:\n%s", want, n, stdout)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    string
		notWant string
	}{
		{"global flag after command", []string{"health", "--socket", "/tmp/x.sock"},
			"flag --socket is a global flag; put it before the command: signerctl --socket /tmp/x.sock health", ""},
		{"global flag with equals after command", []string{"status", "--admin-socket=/tmp/a.sock"},
			"flag --admin-socket is a global flag; put it before the command: signerctl --admin-socket /tmp/a.sock status", ""},
		{"misspelled flag", []string{"sign", "--predicat", "x"},
			"flag provided but not defined: -predicat; run signerctl sign -h for its flags", ""},
		{"misspelled global flag", []string{"--sockett", "x", "health"},
			"flag provided but not defined: -sockett", ""},
		{"sign without predicate type", []string{"sign", "--predicate", "p.json", "--subject", "a@sha256:aa"},
			"sign needs --predicate-type\n", "--predicate and"},
		{"sign without predicate", []string{"sign", "--predicate-type", "https://example.com/p", "--subject", "a@sha256:aa"},
			"sign needs --predicate\n", "--predicate-type"},
		{"sign without both", []string{"sign", "--subject", "a@sha256:aa"},
			"sign needs --predicate and --predicate-type\n", ""},
		{"verify without bundle", []string{"verify", "--key", "k.pem", "--digest", "sha256:aa"},
			"verify needs --bundle\n", "--key"},
		{"verify without key", []string{"verify", "--bundle", "b.json", "--digest", "sha256:aa"},
			"verify needs --key\n", "--bundle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if n := strings.Count(stderr, tt.want); n != 1 {
				t.Errorf("stderr contains %q %d times, want once:\n%s", tt.want, n, stderr)
			}
			if tt.notWant != "" && strings.Contains(stderr, tt.notWant) {
				t.Errorf("stderr names %q, which was given:\n%s", tt.notWant, stderr)
			}
		})
	}
}

func TestVersionHelp(t *testing.T) {
	code, stdout, stderr := runCLI(t, "version", "-h")
	if code != 0 || !strings.HasPrefix(stdout, "Usage: signerctl version") || stderr != "" {
		t.Errorf("version -h: exit status %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

func TestCommandHelpOnStdout(t *testing.T) {
	for _, args := range [][]string{{"sign", "-h"}, {"verify", "--help"}, {"audit", "verify", "-h"}, {"verify-release", "-h"}, {"guard", "-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, args...)
			if code != 0 {
				t.Errorf("exit status %d, want 0", code)
			}
			if !strings.Contains(stdout, "-") || stderr != "" {
				t.Errorf("help not on stdout alone:\nstdout: %s\nstderr: %s", stdout, stderr)
			}
		})
	}
}

// TestAdminSocketDefault checks which admin socket status and reload
// dial. Every path is in a new empty directory, so the dial fails and the
// error names the path.
func TestAdminSocketDefault(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		wantSocket string
	}{
		{"beside --socket", nil, []string{"--socket", "DIR/flag/signerd.sock", "status"}, "DIR/flag/admin.sock"},
		{"beside $SIGNERD_SOCKET", map[string]string{"SIGNERD_SOCKET": "DIR/env/signerd.sock"}, []string{"status"}, "DIR/env/admin.sock"},
		{"$SIGNERD_ADMIN_SOCKET wins", map[string]string{"SIGNERD_SOCKET": "DIR/env/signerd.sock", "SIGNERD_ADMIN_SOCKET": "DIR/admin/a.sock"},
			[]string{"--socket", "DIR/flag/signerd.sock", "reload"}, "DIR/admin/a.sock"},
		{"--admin-socket wins", map[string]string{"SIGNERD_ADMIN_SOCKET": "DIR/admin/a.sock"},
			[]string{"--admin-socket", "DIR/flag/admin.sock", "status"}, "DIR/flag/admin.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			expand := func(s string) string { return strings.ReplaceAll(s, "DIR", dir) }
			t.Setenv("SIGNERD_SOCKET", "")
			t.Setenv("SIGNERD_ADMIN_SOCKET", "")
			for k, v := range tt.env {
				t.Setenv(k, expand(v))
			}
			var args []string
			for _, a := range tt.args {
				args = append(args, expand(a))
			}

			code, _, stderr := runCLI(t, args...)
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			want := "cannot connect to signerd's admin socket at " + expand(tt.wantSocket) + ": no such file or directory; start signerd or set --admin-socket"
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr does not contain %q:\n%s", want, stderr)
			}
		})
	}
}

// An SBOM passed as the whole ext test input gets a message that shows
// what the input must look like.
func TestExtTestInputIsNotARequest(t *testing.T) {
	sbom := filepath.Join(t.TempDir(), "bom.cdx.json")
	if err := os.WriteFile(sbom, []byte(`{"$schema":"http://cyclonedx.org/schema/bom-1.6.schema.json","bomFormat":"CycloneDX"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "ext", "test", "module.wasm", "--input", sbom)
	if code == 0 {
		t.Fatal("ext test accepted an SBOM as its input")
	}
	for _, want := range []string{`unknown field "$schema"`, "--input takes a sign request", `under "predicate"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// TestExtTestExitStatus runs ext test on modules that allow, time out and
// trap: a check that cannot finish exits 1, not 3, because the module
// decided nothing.
func TestExtTestExitStatus(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "request.json")
	req := `{"subjects":[{"name":"x","digest":{"sha256":"` + strings.Repeat("ab", 32) + `"}}],"predicateType":"https://example.com/p","predicate":{}}`
	if err := os.WriteFile(input, []byte(req), 0o600); err != nil {
		t.Fatal(err)
	}
	module := func(name string) string {
		path := filepath.Join(dir, name+".wasm")
		wat := filepath.Join(testenv.RepoRoot(t), "daemon/extension/testdata/wat", name+".wat")
		if err := os.WriteFile(path, testenv.WAT(t, wat), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	tests := []struct {
		name       string
		module     string
		timeout    string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		// Only the looping module meets its deadline; the others get a
		// long one, so that a busy machine cannot fail them.
		{"allow", "fresh", "30s", 0, `"allow": true`, ""},
		{"time out", "loop", "200ms", 1, `"reasons": [],`, "signer_check: deadline exceeded"},
		{"malformed reply", "notjson", "30s", 1, `"error": `, "the check failed, so the daemon would deny the request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "ext", "test", module(tt.module), "--input", input,
				"--timeout", tt.timeout, "--cache-dir", filepath.Join(dir, "cache"))
			if code != tt.wantCode {
				t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout, stderr)
			}
			if !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("stdout does not contain %q:\n%s", tt.wantStdout, stdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantStderr, stderr)
			}
		})
	}
}

func TestKeyCreateWithoutTPM(t *testing.T) {
	dir := t.TempDir()
	device := filepath.Join(dir, "tpmrm0")
	code, _, stderr := runCLI(t, "key", "create", "--backend", "tpm", "--path", filepath.Join(dir, "k.pem"), "--device", device)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if want := "this node has no TPM at " + device + ": pass the TPM's device or a simulator's socket with --device"; !strings.Contains(stderr, want) {
		t.Errorf("stderr does not contain %q:\n%s", want, stderr)
	}
}
