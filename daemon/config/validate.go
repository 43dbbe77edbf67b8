package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/signerd/signerd/daemon/keys"
)

var tenantNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// validator collects problems and finds their place in the YAML tree.
type validator struct {
	file     string
	root     *yaml.Node
	problems []Problem

	// warnings are weaknesses that do not stop the config from loading.
	warnings []Problem

	// undecoded holds the key paths of values that failed to decode and
	// are already reported, so checks do not report them again.
	undecoded map[string]bool
}

// addf records a problem at path, a dotted path with [i] for list items.
func (v *validator) addf(path, format string, args ...any) {
	line, col := v.locate(path)
	v.problems = append(v.problems, Problem{
		File: v.file, Line: line, Column: col, Path: path,
		Message: fmt.Sprintf(format, args...),
	})
}

// warnf records a warning at path, placed as addf places a problem.
func (v *validator) warnf(path, format string, args ...any) {
	line, col := v.locate(path)
	v.warnings = append(v.warnings, Problem{
		File: v.file, Line: line, Column: col, Path: path,
		Message: fmt.Sprintf(format, args...),
	})
}

// locate returns the position of the node at path, or of its nearest
// ancestor when the key is absent.
func (v *validator) locate(path string) (int, int) {
	n := v.root
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n == nil {
		return 0, 0
	}
	line, col := n.Line, n.Column

	for _, part := range splitPath(path) {
		next := child(n, part)
		if next == nil {
			break
		}
		n = next
		line, col = n.Line, n.Column
	}
	return line, col
}

// findKey returns the dotted path and column of the mapping key name on
// line, or empty values when no such key is found.
func (v *validator) findKey(line int, name string) (string, int) {
	var walk func(n *yaml.Node, path string) (string, int)
	walk = func(n *yaml.Node, path string) (string, int) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if p, col := walk(c, path); col > 0 {
					return p, col
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				kp := k.Value
				if path != "" {
					kp = path + "." + k.Value
				}
				if k.Line == line && k.Value == name {
					return kp, k.Column
				}
				if p, col := walk(n.Content[i+1], kp); col > 0 {
					return p, col
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if p, col := walk(c, fmt.Sprintf("%s[%d]", path, i)); col > 0 {
					return p, col
				}
			}
		}
		return "", 0
	}
	return walk(v.root, "")
}

func splitPath(path string) []string {
	var parts []string
	for _, seg := range strings.Split(path, ".") {
		for seg != "" {
			i := strings.IndexByte(seg, '[')
			if i < 0 {
				parts = append(parts, seg)
				break
			}
			if i > 0 {
				parts = append(parts, seg[:i])
			}
			j := strings.IndexByte(seg, ']')
			if j < i {
				break
			}
			parts = append(parts, seg[i:j+1])
			seg = seg[j+1:]
		}
	}
	return parts
}

func child(n *yaml.Node, part string) *yaml.Node {
	if strings.HasPrefix(part, "[") {
		i, err := strconv.Atoi(strings.Trim(part, "[]"))
		if err != nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
			return nil
		}
		return n.Content[i]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == part {
			return n.Content[i+1]
		}
	}
	return nil
}

func (v *validator) check(c *Config) {
	v.checkSocket("socket", &c.Socket)
	v.checkExtensions(c)
	v.checkHTTP(&c.HTTP)

	if !AbsPath(c.StateDir) {
		v.addf("state_dir", "state directory %q must be an absolute, clean path", c.StateDir)
	}

	v.checkKey(&c.Key)
	v.checkLog(&c.Log)
	v.checkIdentity(&c.Identity)
	v.checkAudit(&c.Audit)
	v.checkAdmin(c)
	v.checkTenants(c.Tenants)
	v.checkGuard(&c.Guard)
	v.checkEntitlement(c)
	v.checkRelease(c)
}

func (v *validator) checkSocket(path string, s *SocketConfig) {
	v.checkSocketPath(path, s)
	v.checkSocketSettings(path, s)
}

func (v *validator) checkSocketPath(path string, s *SocketConfig) {
	if !AbsPath(s.Path) {
		v.addf(path+".path", "socket path %q must be an absolute, clean path", s.Path)
	}
	if len(s.Path) > MaxSocketPath {
		v.addf(path+".path", "socket path is %d bytes, over the kernel's limit of %d; choose a shorter path", len(s.Path), MaxSocketPath)
	}
}

func (v *validator) checkSocketSettings(path string, s *SocketConfig) {
	if s.Mode&0o007 != 0 {
		v.addf(path+".mode", "socket mode %04o lets any local user connect; use 0660 with a group, or 0600", s.Mode)
	}
	if s.Group != "" {
		if _, err := lookupGroup(s.Group); err != nil {
			v.addf(path+".group", "%v", err)
		}
	}
}

func (v *validator) checkHTTP(h *HTTPConfig) {
	if h.MaxBodyBytes < 1024 || h.MaxBodyBytes > 1<<30 {
		v.addf("http.max_body_bytes", "%d is out of range; use 1024 to 1073741824 bytes", h.MaxBodyBytes)
	}
	if h.MaxHeaderBytes < 1024 || h.MaxHeaderBytes > 1<<20 {
		v.addf("http.max_header_bytes", "%d is out of range; use 1024 to 1048576 bytes", h.MaxHeaderBytes)
	}
	for _, d := range []struct {
		path string
		val  Duration
	}{
		{"http.read_header_timeout", h.ReadHeaderTimeout},
		{"http.read_timeout", h.ReadTimeout},
		{"http.write_timeout", h.WriteTimeout},
		{"http.idle_timeout", h.IdleTimeout},
	} {
		if d.val <= 0 {
			v.addf(d.path, "timeout must be positive, got %s", d.val.String())
		}
	}
}

// String formats the duration as Go does.
func (d Duration) String() string { return fmtDuration(d) }

func (v *validator) checkKey(k *KeyConfig) {
	u, err := url.Parse(k.URI)
	if err != nil || u.Scheme == "" {
		v.addf("key.uri", "key URI %q is not a URI; use for example file:///var/lib/signerd/signing.key", keys.Redact(k.URI))
		return
	}
	if _, err := keys.ParseAlgorithm(k.Algorithm); err != nil {
		v.addf("key.algorithm", "%v", err)
	}

	// A missing key file with create: false stops the daemon at start.
	// Only a file known to be missing is reported, because validate may run
	// as a user who cannot read the state directory.
	if u.Scheme == "file" && !k.Create && filepath.IsAbs(u.Path) {
		if _, err := os.Stat(u.Path); errors.Is(err, fs.ErrNotExist) {
			v.addf("key.uri", "key file %s not found; %s", u.Path, keys.MissingKeyFileHint(u.Path))
		}
	}
}

func (v *validator) checkLog(l *LogConfig) {
	switch l.Format {
	case "text", "json":
	default:
		v.addf("log.format", "unknown log format %q; use text or json", l.Format)
	}
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		v.addf("log.level", "unknown log level %q; use debug, info, warn or error", l.Level)
	}
}

func (v *validator) checkTenants(tenants []Tenant) {
	if len(tenants) == 0 {
		if v.undecoded["tenants"] || v.undecoded[""] {
			return
		}
		v.addf("tenants", "no tenants are configured, so no caller could sign; add a tenant with at least one caller rule")
		return
	}

	names := map[string]int{}
	for i, t := range tenants {
		path := fmt.Sprintf("tenants[%d]", i)
		if !tenantNameRE.MatchString(t.Name) {
			v.addf(path+".name", "tenant name %q is invalid; use 1 to 63 lower-case letters, digits, '.', '_' or '-'", t.Name)
		}
		if j, dup := names[t.Name]; dup {
			v.addf(path+".name", "tenant %q is defined twice (also tenants[%d])", t.Name, j)
		}
		names[t.Name] = i

		if len(t.PredicateTypes) == 0 {
			v.addf(path+".predicate_types", "tenant %q lists no predicate types, so it could sign nothing; list them, or \"*\" for any", t.Name)
		}
		for j, pt := range t.PredicateTypes {
			if pt == "*" {
				continue
			}
			if u, err := url.Parse(pt); err != nil || !u.IsAbs() {
				v.addf(fmt.Sprintf("%s.predicate_types[%d]", path, j), "predicate type %q is not an absolute URI", pt)
			}
		}

		if len(t.Callers) == 0 {
			v.addf(path+".callers", "tenant %q has no caller rules, so no caller can reach it", t.Name)
		}
		for j := range t.Callers {
			v.checkRule(fmt.Sprintf("%s.callers[%d]", path, j), &t.Callers[j])
		}
		if t.ReleaseIntegrity != nil {
			v.checkReleaseIntegrity(path, t.ReleaseIntegrity)
		}
	}
	v.checkOverlaps(tenants)
}

func (v *validator) checkRule(path string, r *CallerRule) {
	if r.empty() {
		v.addf(path, "caller rule sets no selector, so it would match every caller; set uid, user, gid, group, supplementary_gid, supplementary_group, executable, executable_sha256, systemd_unit, cgroup_prefix or container_id")
	}
	if r.UID != nil && r.User != "" {
		v.addf(path, "caller rule sets both uid and user; keep one")
	}
	if r.GID != nil && r.Group != "" {
		v.addf(path, "caller rule sets both gid and group; keep one")
	}
	v.checkRuleAuth(path, r)
	if r.User != "" {
		if _, err := lookupUser(r.User); err != nil {
			v.addf(path+".user", "%v", err)
		}
	}
	if r.Group != "" {
		if _, err := lookupGroup(r.Group); err != nil {
			v.addf(path+".group", "%v", err)
		}
	}
	v.checkSelectors(path, r)
}

func lookupUser(name string) (uint32, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, fmt.Errorf("user %q not found on this node; create it or use a numeric uid", name)
	}
	id, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("user %q has non-numeric uid %q", name, u.Uid)
	}
	return uint32(id), nil
}

func lookupGroup(name string) (uint32, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("group %q not found on this node; create it or use a numeric gid", name)
	}
	id, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %q has non-numeric gid %q", name, g.Gid)
	}
	return uint32(id), nil
}

// LookupUser resolves a user name to its uid.
func LookupUser(name string) (uint32, error) { return lookupUser(name) }

// LookupGroup resolves a group name to its gid.
func LookupGroup(name string) (uint32, error) { return lookupGroup(name) }

// has reports whether the file sets the key at path.
// undecodedWithin reports whether the value at path, or one inside it,
// failed to decode.
func (v *validator) undecodedWithin(path string) bool {
	for p := range v.undecoded {
		if p == path || strings.HasPrefix(p, path+".") || strings.HasPrefix(p, path+"[") {
			return true
		}
	}
	return false
}

func (v *validator) has(path string) bool {
	n := v.root
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, part := range splitPath(path) {
		if n == nil {
			return false
		}
		n = child(n, part)
	}
	return n != nil
}
