package config

import (
	"errors"
	"path/filepath"
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

// Each case is one mistake a new user made. It must come back as exactly
// one problem at the value's line, column and key path, with no follow-on
// problems, and the message must name the value and what to do.
func TestLoadReportsMistakeOnce(t *testing.T) {
	missingKey := filepath.Join(t.TempDir(), "missing.key")
	tenant := "tenants:\n  - name: a\n    predicate_types: [\"*\"]\n    callers: [{uid: 1000}]\n"
	tests := []struct {
		name   string
		text   string
		line   int
		column int
		path   string
		want   string
	}{
		{"missing key file without create",
			"key:\n  uri: file://" + missingKey + "\n  create: false\n" + tenant,
			2, 8, "key.uri", "key file " + missingKey + " not found; set key.create: true to create it at start (for development), or create it with signerctl key create --backend file --path " + missingKey},
		{"extension config not a mapping",
			tenant + "    extensions:\n      - name: x\n        source: /x.wasm\n        sha256: " + strings.Repeat("a", 64) + "\n        config: \"team-a\"\n",
			9, 17, "tenants[0].extensions[0].config", `extension config must be a mapping of settings, but is the value "team-a"; write key: value pairs, for example config: {team: team-a}`},
		{"extension config a list",
			tenant + "    extensions:\n      - {name: x, source: /x.wasm, sha256: " + strings.Repeat("a", 64) + ", config: [a]}\n",
			6, 118, "tenants[0].extensions[0].config", "extension config must be a mapping of settings, but is a list"},
		{"empty file", "", 0, 0, "", "config file is empty; it needs at least one tenant"},
		{"only comments", "# nothing yet\n", 0, 0, "", "config file is empty; it needs at least one tenant"},
		{"null document", "---\n", 0, 0, "", "config file is empty"},
		{"quoted uid",
			"tenants:\n  - name: a\n    predicate_types: [\"*\"]\n    callers: [{uid: \"1001\"}]\n",
			4, 21, "tenants[0].callers[0].uid", `uid must be a number, but is the string "1001"; remove the quotes`},
		{"word for uid",
			"tenants:\n  - name: a\n    predicate_types: [\"*\"]\n    callers:\n      - uid: root\n",
			5, 14, "tenants[0].callers[0].uid", `uid must be a non-negative whole number, but is the string "root"`},
		{"negative uid beside another tenant's rule",
			"tenants:\n  - name: a\n    predicate_types: [\"*\"]\n    callers:\n      - uid: -5\n  - name: b\n    predicate_types: [\"*\"]\n    callers:\n      - uid: 0\n",
			5, 14, "tenants[0].callers[0].uid", "uid must be a non-negative whole number, but is -5"},
		{"duration without unit",
			"http:\n  read_timeout: 30\n" + tenant,
			2, 17, "http.read_timeout", `invalid duration "30": a duration needs a unit; write 30s for seconds`},
		{"duration word",
			"http:\n  idle_timeout: soon\n" + tenant,
			2, 17, "http.idle_timeout", `invalid duration "soon"; use a form such as 5s, 250ms or 2m`},
		{"mode not octal",
			"socket:\n  mode: rw\n" + tenant,
			2, 9, "socket.mode", `invalid mode "rw"`},
		{"tenants as a mapping",
			"tenants:\n  a:\n    predicate_types: [\"*\"]\n",
			2, 3, "tenants", `tenants must be a list, but is a mapping; start each item on its own line with "- "`},
		{"tenants as a mapping of flow mappings",
			"tenants:\n  a: {x: 1}\n",
			2, 3, "tenants", "tenants must be a list, but is a mapping"},
		{"top-level list", "- a\n", 1, 1, "", "the config must be a mapping of top-level keys such as tenants and socket, but is a list"},
		{"mapping for a duration on the parent's line",
			"http: {read_timeout: {a: 1}}\n" + tenant,
			1, 22, "http.read_timeout", "read_timeout must be a single value, but is a mapping"},
		{"mapping for a list on the parent's line",
			"guard: {allowed_uids: {a: 1}}\n" + tenant,
			1, 23, "guard.allowed_uids", "allowed_uids must be a list, but is a mapping"},
		{"log as a string",
			"log: debug\n" + tenant,
			1, 6, "log", `log must be a mapping of keys to values, but is the string "debug"`},
		{"empty caller rule",
			"tenants:\n  - name: a\n    predicate_types: [\"*\"]\n    callers: [{uid: 1000}, {}]\n  - name: b\n    predicate_types: [\"*\"]\n    callers: [{uid: 1001}]\n",
			4, 28, "tenants[0].callers[1]", "caller rule sets no selector, so it would match every caller"},
		{"relative socket path",
			"socket:\n  path: rel.sock\n" + tenant,
			2, 9, "socket.path", `socket path "rel.sock" must be an absolute, clean path`},
		{"derived admin socket path too long",
			"socket:\n  path: /" + strings.Repeat("d", 98) + "/s.sock\n" + tenant,
			2, 9, "socket.path", "admin socket path \"/" + strings.Repeat("d", 98) + "/admin.sock\", derived from this path, is 110 bytes, over the kernel's limit of 107; choose a shorter socket.path or set admin_socket.path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("t.yaml", []byte(tt.text))
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load() error = %v, want *Error", err)
			}
			if len(cerr.Problems) != 1 {
				t.Fatalf("Load() reported %d problems, want 1:\n%v", len(cerr.Problems), cerr)
			}
			p := cerr.Problems[0]
			if p.Line != tt.line || p.Column != tt.column {
				t.Errorf("problem at %d:%d, want %d:%d", p.Line, p.Column, tt.line, tt.column)
			}
			if p.Path != tt.path {
				t.Errorf("problem path = %q, want %q", p.Path, tt.path)
			}
			if !strings.Contains(p.Message, tt.want) {
				t.Errorf("message = %q, want it to contain %q", p.Message, tt.want)
			}
		})
	}
}

// A CheckFunc's problems are placed in the file by key path and come back
// with the config's own problems, sorted by position.
func TestLoadRunsChecksOnBadConfig(t *testing.T) {
	text := `log:
  level: loud
tenants:
  - name: a
    predicate_types: ["*"]
    callers: [{uid: 1000}]
    extensions:
      - {name: x, source: /x.wasm, sha256: ` + strings.Repeat("a", 64) + `}
      - name: y
        source: /y.wasm
        sha256: ` + strings.Repeat("b", 64) + `
`
	var sources []string
	check := func(c *Config, report func(path, message string)) {
		for _, e := range c.Tenants[0].Extensions {
			sources = append(sources, e.Source)
		}
		report("tenants[0].extensions[1].source", "module file /y.wasm not found")
		report("tenants[0].extensions[0].sha256", "pin does not match")
	}
	_, err := Load("t.yaml", []byte(text), check)
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Load() error = %v, want *Error", err)
	}
	if strings.Join(sources, " ") != "/x.wasm /y.wasm" {
		t.Errorf("check saw sources %q, want /x.wasm /y.wasm", sources)
	}

	want := []string{
		"t.yaml:2:10: log.level: unknown log level",
		"t.yaml:8:44: tenants[0].extensions[0].sha256: pin does not match",
		"t.yaml:10:17: tenants[0].extensions[1].source: module file /y.wasm not found",
	}
	if len(cerr.Problems) != len(want) {
		t.Fatalf("Load() reported %d problems, want %d:\n%v", len(cerr.Problems), len(want), cerr)
	}
	for i, w := range want {
		if got := cerr.Problems[i].String(); !strings.HasPrefix(got, w) {
			t.Errorf("problem %d = %q, want it to start with %q", i, got, w)
		}
	}
}

// TestLoadWarnsAboutCgroupOnlyRules checks the warnings for caller rules
// that trust a cgroup name users can create, and that such a config still
// loads.
func TestLoadWarnsAboutCgroupOnlyRules(t *testing.T) {
	id := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		rule string
		want string
	}{
		{"container id alone", "container_id: " + id, "tenants[0].callers[0].container_id: the rule selects by container_id alone"},
		{"user slice prefix alone", "cgroup_prefix: /user.slice/user-1000.slice", "tenants[0].callers[0].cgroup_prefix: the rule selects by a cgroup_prefix inside /user.slice alone"},
		{"container id with uid", "{container_id: " + id + ", uid: 1000}", ""},
		{"container id with executable hash", "{container_id: " + id + ", executable_sha256: " + id + "}", ""},
		{"system slice prefix alone", "cgroup_prefix: /system.slice/trivy.service", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := "tenants:\n  - name: scanners\n    predicate_types: [\"*\"]\n    callers:\n      - " + tt.rule + "\n"
			cfg, err := Load("test.yaml", []byte(config))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}

			if tt.want == "" {
				if len(cfg.Warnings) != 0 {
					t.Errorf("warnings %v, want none", cfg.Warnings)
				}
				return
			}
			if len(cfg.Warnings) != 1 {
				t.Fatalf("%d warnings %v, want 1", len(cfg.Warnings), cfg.Warnings)
			}
			if got := cfg.Warnings[0].String(); !strings.HasPrefix(got, "test.yaml:5:") || !strings.Contains(got, tt.want) {
				t.Errorf("warning %q, want one at test.yaml:5 containing %q", got, tt.want)
			}
		})
	}
}
