package config

import (
	"errors"
	"strings"
	"testing"
)

const validConfig = `
socket:
  path: /run/signerd/signerd.sock
  mode: "0660"
tenants:
  - name: scanners
    predicate_types: ["https://cyclonedx.org/bom"]
    callers:
      - uid: 1000
      - gid: 2000
`

func TestLoadValid(t *testing.T) {
	cfg, err := Load("test.yaml", []byte(validConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Socket.Mode != 0o660 {
		t.Errorf("socket mode = %04o, want 0660", cfg.Socket.Mode)
	}
	if got := len(cfg.Tenants[0].Callers); got != 2 {
		t.Errorf("caller rules = %d, want 2", got)
	}
	if cfg.HTTP.MaxBodyBytes != Default().HTTP.MaxBodyBytes {
		t.Errorf("max_body_bytes = %d, want the default", cfg.HTTP.MaxBodyBytes)
	}
}

func TestLoadReportsEveryProblemWithLocation(t *testing.T) {
	text := `socket:
  path: relative.sock
  mode: "0666"
http:
  read_timeout: 0s
log:
  format: xml
tenants:
  - name: Bad Name
    predicate_types: ["not-a-uri"]
    callers:
      - {}
`
	_, err := Load("bad.yaml", []byte(text))
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Load() error = %v, want *Error", err)
	}

	want := []struct {
		path string
		line int
		text string
	}{
		{"socket.path", 2, "absolute"},
		{"socket.mode", 3, "any local user"},
		{"http.read_timeout", 5, "positive"},
		{"log.format", 7, "unknown log format"},
		{"tenants[0].name", 9, "invalid"},
		{"tenants[0].predicate_types[0]", 10, "absolute URI"},
		{"tenants[0].callers[0]", 12, "match every caller"},
	}
	for _, w := range want {
		found := false
		for _, p := range cerr.Problems {
			if p.Path == w.path {
				found = true
				if p.Line != w.line {
					t.Errorf("%s: line = %d, want %d", w.path, p.Line, w.line)
				}
				if !strings.Contains(p.Message, w.text) {
					t.Errorf("%s: message %q does not contain %q", w.path, p.Message, w.text)
				}
			}
		}
		if !found {
			t.Errorf("no problem reported for %s; got:\n%v", w.path, cerr)
		}
	}
}

func TestLoadRejectsUnknownField(t *testing.T) {
	_, err := Load("typo.yaml", []byte(validConfig+"\nsokcet: {}\n"))
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Load() error = %v, want *Error", err)
	}
	p := cerr.Problems[0]
	if p.Path != "sokcet" || p.Line != 12 || p.Column != 1 {
		t.Errorf("problem at %s %d:%d, want sokcet at 12:1", p.Path, p.Line, p.Column)
	}
	if !strings.Contains(p.Message, `unknown key "sokcet"`) {
		t.Errorf("message = %q, want it to name the unknown key", p.Message)
	}
}

// Type errors and semantic problems come back together, so one run of
// signerd validate lists everything.
func TestLoadReportsTypeAndSemanticProblemsTogether(t *testing.T) {
	text := `http:
  idle_timeout: soon
log:
  levle: info
  format: xml
tenants:
  - name: a
    predicate_types: ["*"]
    callers: [{uid: 1}]
`
	_, err := Load("mixed.yaml", []byte(text))
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Load() error = %v, want *Error", err)
	}

	want := map[string]int{"invalid duration": 2, `unknown key "levle"`: 4, "unknown log format": 5}
	for text, line := range want {
		found := false
		for _, p := range cerr.Problems {
			if strings.Contains(p.Message, text) {
				found = true
				if p.Line != line {
					t.Errorf("%s: line %d, want %d", text, p.Line, line)
				}
			}
		}
		if !found {
			t.Errorf("no problem containing %q in:\n%v", text, cerr)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{"no tenants", "state_dir: /var/lib/signerd\n", "no tenants"},
		{"bad duration", validConfig + "http:\n  idle_timeout: soon\n", "invalid duration"},
		{"bad mode", strings.Replace(validConfig, `"0660"`, `"rw"`, 1), "invalid mode"},
		{"socket path too long", strings.Replace(validConfig, "/run/signerd/signerd.sock", "/run/"+strings.Repeat("s", 110), 1), "kernel's limit"},
		{"duplicate tenant", validConfig + `  - name: scanners
    predicate_types: ["*"]
    callers: [{uid: 5}]
`, "defined twice"},
		{"uid and user both set", strings.Replace(validConfig, "- uid: 1000", "- {uid: 1000, user: root}", 1), "both uid and user"},
		{"unknown user", strings.Replace(validConfig, "- uid: 1000", "- user: no-such-user-signerd", 1), "not found"},
		{"unknown key algorithm", validConfig + "key:\n  algorithm: rsa\n", "unknown key algorithm"},
		{"not YAML", "socket: [", "did not find"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("t.yaml", []byte(tt.text))
			if err == nil {
				t.Fatalf("Load() succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load() error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDevConfig(t *testing.T) {
	cfg, err := Dev("/tmp/signerd-dev")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Socket.Path != "/tmp/signerd-dev/signerd.sock" {
		t.Errorf("socket = %q", cfg.Socket.Path)
	}
	if cfg.Key.URI != "file:///tmp/signerd-dev/signing.key" {
		t.Errorf("key URI = %q", cfg.Key.URI)
	}
	if cfg.Tenants[0].Callers[0].UID == nil {
		t.Fatal("dev tenant has no uid rule")
	}
}
