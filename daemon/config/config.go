// Package config loads and validates signerd's YAML configuration.
//
// Load reports every problem it finds, each with its line and column in the
// file, rather than stopping at the first, so an administrator can fix a
// config in one pass (signerd validate --config FILE). Unknown keys are
// errors: a misspelt security setting must never be silently ignored.
// A Config that Load returns is complete and checked; later stages may
// trust its values.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultPath is the config file the daemon reads without --config.
const DefaultPath = "/etc/signerd/signerd.yaml"

// MaxSocketPath is the longest socket path Linux accepts: sun_path holds
// 108 bytes including the terminating NUL.
const MaxSocketPath = 107

// Config is the daemon's whole configuration.
type Config struct {
	// Warnings lists weaknesses that Load found in a valid config, such as
	// a caller rule that others could match. They are logged, not fatal.
	Warnings []Problem `yaml:"-"`

	// Socket is the caller socket.
	Socket SocketConfig `yaml:"socket"`

	HTTP HTTPConfig `yaml:"http"`

	// StateDir holds the key file (by default), the audit trail and caches.
	StateDir string `yaml:"state_dir"`

	Key KeyConfig `yaml:"key"`

	Log LogConfig `yaml:"log"`

	Identity IdentityConfig `yaml:"identity"`

	Audit AuditConfig `yaml:"audit"`
	// AdminSocket is the root-only socket for reload, status and metrics.
	AdminSocket SocketConfig `yaml:"admin_socket"`

	Metrics MetricsConfig `yaml:"metrics"`

	Tenants []Tenant `yaml:"tenants"`

	// Guard is the kernel-side connect guard.
	Guard       GuardConfig       `yaml:"guard"`
	Entitlement EntitlementConfig `yaml:"entitlement"`
	// Release sets how scanner images' release signatures are fetched.
	Release ReleaseConfig `yaml:"release"`
}

// SocketConfig describes a Unix socket the daemon binds when systemd does
// not pass one.
type SocketConfig struct {
	Path string `yaml:"path"`

	// Mode is the socket file's permission bits, for example "0660".
	Mode FileMode `yaml:"mode"`

	// Group owns the socket file when set; callers in it may connect.
	Group string `yaml:"group"`

	// Name is the FileDescriptorName of the matching systemd socket.
	Name string `yaml:"name"`
}

// HTTPConfig bounds each connection and request.
type HTTPConfig struct {
	MaxBodyBytes      int64    `yaml:"max_body_bytes"`
	MaxHeaderBytes    int      `yaml:"max_header_bytes"`
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	ReadTimeout       Duration `yaml:"read_timeout"`
	WriteTimeout      Duration `yaml:"write_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
}

// KeyConfig names the signing key.
type KeyConfig struct {
	// URI names the key, for example file:///var/lib/signerd/signing.key.
	URI string `yaml:"uri"`

	// Algorithm is used when the key is created: ecdsa-p256 or ed25519.
	Algorithm string `yaml:"algorithm"`

	// Create makes the daemon create a missing key file at start.
	Create bool `yaml:"create"`
}

// LogConfig selects the log format and level.
type LogConfig struct {
	// Format is "text" or "json".
	Format string `yaml:"format"`

	// Level is "debug", "info", "warn" or "error".
	Level string `yaml:"level"`
}

// Tenant is a group of callers that sign under one policy.
type Tenant struct {
	Name string `yaml:"name"`

	// PredicateTypes lists the predicate types the tenant may sign. "*"
	// allows any.
	PredicateTypes []string `yaml:"predicate_types"`

	// Callers lists the rules that admit a caller to the tenant. A caller
	// matches when any rule matches.
	Callers []CallerRule `yaml:"callers"`

	// ReleaseIntegrity, when set, checks the scanner image's release
	// signature before signing.
	ReleaseIntegrity *ReleaseIntegrity `yaml:"release_integrity"`

	// Extensions are the tenant's WASM checks, run in order before signing.
	Extensions []Extension `yaml:"extensions"`
}

// CallerRule is an AND of selectors over the caller's kernel identity. A
// selector left unset matches any value; a rule must set at least one.
// See ResolvedRule for what each selector compares.
type CallerRule struct {
	UID   *uint32 `yaml:"uid"`
	User  string  `yaml:"user"`
	GID   *uint32 `yaml:"gid"`
	Group string  `yaml:"group"`

	SupplementaryGID   *uint32 `yaml:"supplementary_gid"`
	SupplementaryGroup string  `yaml:"supplementary_group"`

	Executable       string `yaml:"executable"`
	ExecutableSHA256 string `yaml:"executable_sha256"`

	SystemdUnit  string `yaml:"systemd_unit"`
	CgroupPrefix string `yaml:"cgroup_prefix"`
	ContainerID  string `yaml:"container_id"`

	// Auth is what the caller must present besides its peer credentials:
	// peercred (nothing, the default), optok or optok-dpop.
	Auth string `yaml:"auth"`
}

// Duration is a time.Duration written as a Go duration string ("5s").
type Duration time.Duration

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, numErr := strconv.ParseFloat(s, 64); numErr == nil {
			return typeErrorf(n, "invalid duration %q: a duration needs a unit; write %ss for seconds, or a form such as 250ms or 2m", s, s)
		}
		return typeErrorf(n, "invalid duration %q; use a form such as 5s, 250ms or 2m", s)
	}
	*d = Duration(v)
	return nil
}

// FileMode is a permission mode written in octal ("0660").
type FileMode os.FileMode

// UnmarshalYAML parses an octal mode.
func (m *FileMode) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o777 {
		return typeErrorf(n, "invalid mode %q; write octal permission bits such as \"0660\"", s)
	}
	*m = FileMode(v)
	return nil
}

// typeErrorf returns a yaml.TypeError about node n. yaml.v3 collects
// TypeErrors from custom unmarshalers and goes on decoding, where any
// other error would stop it at the first problem. The message starts with
// the node's line and column, which decodeProblems reads back.
func typeErrorf(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d column %d: ", n.Line, n.Column) + fmt.Sprintf(format, args...)}}
}

// Problem is one thing wrong with a config, with its place in the file.
type Problem struct {
	File    string
	Line    int
	Column  int
	Path    string
	Message string
}

func (p Problem) String() string {
	loc := p.File
	switch {
	case p.Line > 0 && p.Column > 0:
		loc = fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
	case p.Line > 0:
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Path != "" {
		return fmt.Sprintf("%s: %s: %s", loc, p.Path, p.Message)
	}
	return fmt.Sprintf("%s: %s", loc, p.Message)
}

// Error is returned by Load when the config has problems.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return fmt.Sprintf("config has %d problem(s):\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// CheckFunc checks what a config names outside its own text, such as the
// files of its extension modules. It reports each problem with report, at
// a key path such as tenants[0].extensions[1].source, and Load places the
// problem in the file. It runs even when the config has other problems, so
// it must accept any value, including ones that failed to decode.
type CheckFunc func(c *Config, report func(path, message string))

// LoadFile reads and validates the config at path, running checks after
// its own.
func LoadFile(path string, checks ...CheckFunc) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read config: %w; pass the config's path with --config, or write one there: make install puts a commented example at %s, and docs/configuration.md describes every setting", err, DefaultPath)
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Load(path, data, checks...)
}

// emptyConfigMessage is the problem reported for a file with no settings.
const emptyConfigMessage = "config file is empty; it needs at least one tenant, with a name, predicate_types and callers. " +
	"The installed /etc/signerd/signerd.yaml (daemon/config/signerd.yaml in the source) has a commented example, and docs/configuration.md describes every setting"

// Load parses and validates a config, running checks after its own. name
// labels the problems it reports.
func Load(name string, data []byte, checks ...CheckFunc) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Error{Problems: []Problem{{File: name, Message: err.Error()}}}
	}
	if isEmptyDocument(&root) {
		return nil, &Error{Problems: []Problem{{File: name, Message: emptyConfigMessage}}}
	}

	// Type errors (an unknown key, a bad duration) do not stop decoding,
	// so the checks below still run on the rest and every problem is
	// reported in one pass.
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	v := validator{file: name, root: &root, undecoded: map[string]bool{}}
	if err := dec.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, &Error{Problems: []Problem{{File: name, Message: err.Error()}}}
		}
		v.problems = append(v.problems, v.decodeProblems(te)...)
	}

	deriveAdminSocketPath(cfg)
	v.check(cfg)
	for _, check := range checks {
		check(cfg, func(path, message string) { v.addf(path, "%s", message) })
	}
	if len(v.problems) > 0 {
		sort.SliceStable(v.problems, func(i, j int) bool {
			a, b := v.problems[i], v.problems[j]
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Column < b.Column
		})
		return nil, &Error{Problems: v.problems}
	}
	cfg.Warnings = v.warnings
	return cfg, nil
}

// isEmptyDocument reports whether root, as yaml.Unmarshal returns it, has
// no content: an empty file, only comments, or a null document ("---").
func isEmptyDocument(root *yaml.Node) bool {
	if root.Kind == 0 || len(root.Content) == 0 {
		return true
	}
	top := root.Content[0]
	return top.Kind == yaml.ScalarNode && top.Tag == "!!null"
}

// Default returns a config with every default set and no tenants.
func Default() *Config {
	return &Config{
		Socket: SocketConfig{
			Path: "/run/signerd/signerd.sock",
			Mode: 0o660,
			Name: "signerd",
		},
		HTTP: HTTPConfig{
			MaxBodyBytes:      8 << 20,
			MaxHeaderBytes:    16 << 10,
			ReadHeaderTimeout: Duration(5 * time.Second),
			ReadTimeout:       Duration(30 * time.Second),
			WriteTimeout:      Duration(30 * time.Second),
			IdleTimeout:       Duration(120 * time.Second),
		},
		StateDir: "/var/lib/signerd",
		Key: KeyConfig{
			URI:       "file:///var/lib/signerd/signing.key",
			Algorithm: "ecdsa-p256",
			Create:    true,
		},
		Log:         LogConfig{Format: "text", Level: "info"},
		Guard:       DefaultGuard(),
		Identity:    defaultIdentity(),
		AdminSocket: defaultAdminSocket(),
		Release:     DefaultRelease(),
	}
}

// AbsPath reports whether p is an absolute, clean path.
func AbsPath(p string) bool {
	return filepath.IsAbs(p) && filepath.Clean(p) == p
}
