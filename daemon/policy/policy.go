// Package policy maps a caller's identity snapshot to exactly one tenant.
//
// Rules are compiled from the config once per load: user and group names
// are resolved to numeric ids then, so a rename on the node takes effect at
// the next reload, not in the middle of a request. A rule is an AND of
// selectors and a tenant admits a caller when any of its rules matches.
// A caller that matches no tenant is rejected; the daemon never signs for
// everyone by default.
//
// The config loader rejects rules of two tenants that one caller could
// match (see config.Overlaps). Match still rejects a caller that matches
// two tenants, as a fail-closed backstop for overlaps the static check
// cannot see.
//
// Selectors fail closed. A hash selector never matches an executable that
// was not hashed. A path selector matches only while the path on the host
// still names the running image. Cgroup, unit and container selectors
// never match a caller whose cgroup lies outside the daemon's cgroup
// namespace.
package policy

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/peercred"
)

// Tenant is a compiled tenant.
type Tenant struct {
	Name           string
	PredicateTypes []string
	rules          []rule
}

// AllowsPredicate reports whether the tenant may sign predicateType.
func (t *Tenant) AllowsPredicate(predicateType string) bool {
	for _, pt := range t.PredicateTypes {
		if pt == "*" || pt == predicateType {
			return true
		}
	}
	return false
}

type rule struct {
	config.ResolvedRule

	// auth is the credential the caller must present besides its peer
	// credentials: peercred, optok or optok-dpop.
	auth string
}

// matches reports whether the rule admits id. It makes the same checks
// as mismatch without describing a failure, because Match calls it for
// every rule on every request. A test keeps the two in agreement.
func (r rule) matches(id *peercred.Identity) bool {
	if r.UID != nil && *r.UID != id.UID {
		return false
	}
	if r.GID != nil && *r.GID != id.GID {
		return false
	}
	if r.SupplementaryGID != nil && !slices.Contains(id.Groups, *r.SupplementaryGID) {
		return false
	}

	if (r.Executable != "" || r.ExecutableSHA256 != "") && id.Exe.Unavailable != "" {
		return false
	}
	if r.ExecutableSHA256 != "" && (id.Exe.SHA256 == "" || id.Exe.SHA256 != r.ExecutableSHA256) {
		return false
	}

	cgroupRule := r.SystemdUnit != "" || r.CgroupPrefix != "" || r.ContainerID != ""
	if cgroupRule && id.Cgroup.OutsideNamespace {
		return false
	}
	if r.SystemdUnit != "" && id.Cgroup.SystemdUnit != r.SystemdUnit {
		return false
	}
	if r.CgroupPrefix != "" && !config.CgroupHasPrefix(id.Cgroup.Path, r.CgroupPrefix) {
		return false
	}
	if r.ContainerID != "" && id.Cgroup.ContainerID != r.ContainerID {
		return false
	}

	// The path selector reads the file system, so it goes last.
	return r.Executable == "" || executableMismatch(r.Executable, id) == ""
}

// mismatch returns "" when the rule admits id, else the first selector
// that failed.
func (r rule) mismatch(id *peercred.Identity) string {
	if r.UID != nil && *r.UID != id.UID {
		return fmt.Sprintf("uid %d is not %d", id.UID, *r.UID)
	}
	if r.GID != nil && *r.GID != id.GID {
		return fmt.Sprintf("gid %d is not %d", id.GID, *r.GID)
	}
	if r.SupplementaryGID != nil && !slices.Contains(id.Groups, *r.SupplementaryGID) {
		return fmt.Sprintf("supplementary groups %v do not include %d", id.Groups, *r.SupplementaryGID)
	}

	if (r.Executable != "" || r.ExecutableSHA256 != "") && id.Exe.Unavailable != "" {
		return "executable unavailable: " + id.Exe.Unavailable
	}
	if r.Executable != "" {
		if why := executableMismatch(r.Executable, id); why != "" {
			return why
		}
	}
	if r.ExecutableSHA256 != "" {
		switch {
		case id.Exe.SHA256 == "":
			return "executable was not hashed: " + id.Exe.HashSkipped
		case id.Exe.SHA256 != r.ExecutableSHA256:
			return fmt.Sprintf("executable sha256 %s is not %s", id.Exe.SHA256, r.ExecutableSHA256)
		}
	}

	cgroupRule := r.SystemdUnit != "" || r.CgroupPrefix != "" || r.ContainerID != ""
	if cgroupRule && id.Cgroup.OutsideNamespace {
		return fmt.Sprintf("cgroup %q lies outside the daemon's cgroup namespace", id.Cgroup.Path)
	}
	if r.SystemdUnit != "" && id.Cgroup.SystemdUnit != r.SystemdUnit {
		return fmt.Sprintf("systemd unit %q is not %q", id.Cgroup.SystemdUnit, r.SystemdUnit)
	}
	if r.CgroupPrefix != "" && !config.CgroupHasPrefix(id.Cgroup.Path, r.CgroupPrefix) {
		return fmt.Sprintf("cgroup %q is not under %q", id.Cgroup.Path, r.CgroupPrefix)
	}
	if r.ContainerID != "" && id.Cgroup.ContainerID != r.ContainerID {
		return fmt.Sprintf("container id %q is not %q", id.Cgroup.ContainerID, r.ContainerID)
	}
	return ""
}

// executableMismatch checks an executable path selector. The path in the
// snapshot is in the caller's mount namespace, where the caller may have
// mounted another file at the configured path, so the rule also requires
// that the path on the daemon's host names the running image itself.
func executableMismatch(path string, id *peercred.Identity) string {
	if id.Exe.Path != path {
		return fmt.Sprintf("executable %q is not %q", id.Exe.Path, path)
	}
	if id.Exe.Deleted {
		return fmt.Sprintf("executable %q was replaced or deleted on disk after the caller started", path)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fmt.Sprintf("stat %s: %v", path, err)
	}
	if st.Dev != id.Exe.Device || st.Ino != id.Exe.Inode {
		return fmt.Sprintf("running image (device %d inode %d) is not the file at %s on the host (device %d inode %d)",
			id.Exe.Device, id.Exe.Inode, path, st.Dev, st.Ino)
	}
	return ""
}

// Policy is a compiled set of tenants.
type Policy struct {
	tenants []*Tenant
}

// Compile builds a Policy from the config's tenants.
func Compile(tenants []config.Tenant) (*Policy, error) {
	p := &Policy{}
	for _, ct := range tenants {
		t := &Tenant{Name: ct.Name, PredicateTypes: slices.Clone(ct.PredicateTypes)}
		for i := range ct.Callers {
			r, err := compileRule(&ct.Callers[i])
			if err != nil {
				return nil, fmt.Errorf("tenant %q caller rule %d: %w", ct.Name, i, err)
			}
			t.rules = append(t.rules, r)
		}
		p.tenants = append(p.tenants, t)
	}
	return p, nil
}

func compileRule(cr *config.CallerRule) (rule, error) {
	rr, err := cr.Resolve()
	if err != nil {
		return rule{}, err
	}
	if rr == (config.ResolvedRule{}) {
		return rule{}, fmt.Errorf("rule sets no selector")
	}
	return rule{ResolvedRule: rr, auth: cr.Auth}, nil
}

// Match returns the tenant whose rules admit id. When none does, it
// returns nil and a reason for the caller. When more than one does, it
// rejects the caller, because its tenant would be ambiguous.
func (p *Policy) Match(id *peercred.Identity) (*Tenant, string) {
	if id == nil {
		return nil, "caller has no identity"
	}

	// Every tenant is tried, so a caller two tenants admit is refused.
	// Reasons for the rules that did not match are only put into words
	// when no tenant matched: building them for every request would cost
	// more than the matching itself.
	var found *Tenant
	for _, t := range p.tenants {
		for _, r := range t.rules {
			if !r.matches(id) {
				continue
			}
			if found != nil && found != t {
				return nil, fmt.Sprintf("caller uid %d gid %d executable %q matches tenants %q and %q; the policy must admit each caller to one tenant",
					id.UID, id.GID, id.Exe.Path, found.Name, t.Name)
			}
			found = t
			break
		}
	}
	if found == nil {
		return nil, noMatchReason(id, p.misses(id))
	}
	return found, ""
}

// misses returns, for each rule, the reason it does not admit id.
func (p *Policy) misses(id *peercred.Identity) []string {
	var out []string
	for _, t := range p.tenants {
		for i, r := range t.rules {
			if why := r.mismatch(id); why != "" {
				out = append(out, fmt.Sprintf("tenant %q rule %d: %s", t.Name, i, why))
			}
		}
	}
	return out
}

// noMatchReason lists why each rule failed, bounded so a large policy
// does not produce a huge message.
func noMatchReason(id *peercred.Identity, misses []string) string {
	const maxListed = 8
	if len(misses) > maxListed {
		misses = append(misses[:maxListed:maxListed], fmt.Sprintf("(%d more rules)", len(misses)-maxListed))
	}
	return fmt.Sprintf("no tenant admits caller uid %d gid %d executable %q; add a caller rule for it to a tenant in the config (%s)",
		id.UID, id.GID, id.Exe.Path, strings.Join(misses, "; "))
}

// Tenants returns the compiled tenants in config order.
func (p *Policy) Tenants() []*Tenant { return p.tenants }
