package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signerd/signerd/daemon/extension"
	"github.com/signerd/signerd/test/testenv"
)

// writeModule compiles a test module from daemon/extension/testdata/wat
// into dir and returns its path and SHA-256.
func writeModule(t *testing.T, dir, name string) (string, string) {
	t.Helper()
	wasm := testenv.WAT(t, filepath.Join(testenv.RepoRoot(t), "daemon", "extension", "testdata", "wat", name+".wat"))
	path := filepath.Join(dir, name+".wasm")
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, extension.SHA256Hex(wasm)
}

func writeConfig(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tenantWith returns a config with one tenant whose extensions are the
// given flow mappings, one per line from line 6.
func tenantWith(extensions ...string) string {
	text := "tenants:\n  - name: a\n    predicate_types: [\"*\"]\n    callers: [{uid: 1000}]\n    extensions:\n"
	for _, e := range extensions {
		text += "      - " + e + "\n"
	}
	return text
}

func TestValidateModules(t *testing.T) {
	dir := t.TempDir()
	command, commandSum := writeModule(t, dir, "command")
	fresh, freshSum := writeModule(t, dir, "fresh")
	missing := filepath.Join(dir, "missing.wasm")
	ext := func(name, source, sum string) string {
		return fmt.Sprintf("{name: %s, source: %s, sha256: %s}", name, source, sum)
	}

	tests := []struct {
		name string
		text string
		want []string // each a line of the output, in order
	}{
		{"reactor module", tenantWith(ext("ok", fresh, freshSum)), nil},
		{"command module",
			tenantWith(ext("cmd", command, commandSum)),
			[]string{fmt.Sprintf("c.yaml:6:%d: tenants[0].extensions[0].source: extension %s rejected at load: exports _start, so it is a command module; build a reactor (Go: -buildmode=c-shared)",
				len("      - {name: cmd, source: ")+1, command)}},
		{"module problems beside config problems",
			"log:\n  level: loud\n" + tenantWith(ext("gone", missing, freshSum), ext("pin", fresh, commandSum)),
			[]string{
				"c.yaml:2:10: log.level: unknown log level",
				fmt.Sprintf("c.yaml:8:%d: tenants[0].extensions[0].source: module file %s not found; correct source", len("      - {name: gone, source: ")+1, missing),
				fmt.Sprintf("c.yaml:9:%d: tenants[0].extensions[1].sha256: module SHA-256 %s does not match the pinned %s",
					len("      - {name: pin, source: "+fresh+", sha256: ")+1, freshSum, commandSum),
			}},
		{"shape not checked under a wrong pin",
			tenantWith(ext("cmd", command, freshSum)),
			[]string{"tenants[0].extensions[0].sha256: module SHA-256 " + commandSum}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := writeConfig(t, t.TempDir(), "c.yaml", tt.text)
			var stdout, stderr bytes.Buffer
			code := validate([]string{config}, &stdout, &stderr)

			if len(tt.want) == 0 {
				if code != 0 {
					t.Fatalf("validate() = %d, want 0; output:\n%s", code, stderr.String())
				}
				return
			}
			if code != 1 {
				t.Fatalf("validate() = %d, want 1; output:\n%s%s", code, stdout.String(), stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != len(tt.want)+1 {
				t.Fatalf("validate() printed %d lines, want %d problems and a count:\n%s", len(lines), len(tt.want), stderr.String())
			}
			for i, w := range tt.want {
				if got := strings.TrimPrefix(lines[i], filepath.Dir(config)+"/"); !strings.Contains(got, w) {
					t.Errorf("line %d = %q, want it to contain %q", i+1, got, w)
				}
			}
			if want := fmt.Sprintf("%s: %d problem(s)", config, len(tt.want)); lines[len(lines)-1] != want {
				t.Errorf("last line = %q, want %q", lines[len(lines)-1], want)
			}
		})
	}
}

func TestValidateSeveralFiles(t *testing.T) {
	dir := t.TempDir()
	good := writeConfig(t, dir, "good.yaml", "tenants:\n  - name: a\n    predicate_types: [\"*\"]\n    callers: [{uid: 1000}]\n")
	bad := writeConfig(t, dir, "bad.yaml", "log:\n  level: loud\n")
	empty := writeConfig(t, dir, "empty.yaml", "")
	weak := writeConfig(t, dir, "weak.yaml", "tenants:\n  - name: a\n    predicate_types: [\"*\"]\n    callers: [{container_id: "+strings.Repeat("ab", 32)+"}]\n")

	tests := []struct {
		name       string
		args       []string
		code       int
		wantStdout []string
		wantStderr []string
	}{
		{"two good files", []string{good, good}, 0, []string{good + ": valid\n" + good + ": valid\n"}, nil},
		{"good then bad", []string{good, bad, empty}, 1,
			[]string{good + ": valid"},
			[]string{bad + ":2:10: log.level: unknown log level", bad + ": 2 problem(s)", empty + ": config file is empty", empty + ": 1 problem(s)"}},
		{"flag and file", []string{"--config", bad, good}, 1, []string{good + ": valid"}, []string{bad + ": 2 problem(s)"}},
		{"valid with a warning", []string{weak}, 0, []string{weak + ": valid"},
			[]string{"warning: " + weak + ":4:", "the rule selects by container_id alone"}},
		{"file not found", []string{filepath.Join(dir, "nope.yaml")}, 1, nil, []string{"nope.yaml: no such file or directory; pass the config's path with --config, or write one there"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := validate(tt.args, &stdout, &stderr); code != tt.code {
				t.Errorf("validate() = %d, want %d", code, tt.code)
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}
