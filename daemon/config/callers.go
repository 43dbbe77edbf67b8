package config

import (
	"fmt"
	"regexp"
	"strings"
)

// overflowID is the kernel's id for an unmapped uid or gid. The daemon
// rejects such callers, so a rule that selects it could never match.
const overflowID = 65534

var (
	sha256HexRE   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	unitNameRE    = regexp.MustCompile(`^[A-Za-z0-9:_.@\\-]+\.(service|scope)$`)
	containerIDRE = sha256HexRE
)

// ResolvedRule is a CallerRule with user and group names resolved to
// numeric ids. A nil or empty field matches any caller. The selectors
// compare:
//   - UID, GID: the caller's uid and primary gid (SO_PEERCRED);
//   - SupplementaryGID: a gid among the caller's supplementary groups
//     (SO_PEERGROUPS);
//   - Executable: the path of the running image, which must still be the
//     file at that path on the daemon's host (same device and inode);
//   - ExecutableSHA256: the SHA-256 of the running image;
//   - SystemdUnit: the system manager's unit that owns the caller's cgroup;
//   - CgroupPrefix: the caller's cgroup path or one of its ancestors;
//   - ContainerID: the container id the caller's cgroup shows.
type ResolvedRule struct {
	UID, GID, SupplementaryGID *uint32

	Executable       string
	ExecutableSHA256 string
	SystemdUnit      string
	CgroupPrefix     string
	ContainerID      string
}

func (r *CallerRule) empty() bool {
	return r.UID == nil && r.User == "" && r.GID == nil && r.Group == "" &&
		r.SupplementaryGID == nil && r.SupplementaryGroup == "" &&
		r.Executable == "" && r.ExecutableSHA256 == "" &&
		r.SystemdUnit == "" && r.CgroupPrefix == "" && r.ContainerID == ""
}

// Resolve looks up the rule's user and group names. Names are resolved at
// every load, so a reload picks up renamed users and groups.
func (r *CallerRule) Resolve() (ResolvedRule, error) {
	out := ResolvedRule{
		UID: r.UID, GID: r.GID, SupplementaryGID: r.SupplementaryGID,
		Executable:       r.Executable,
		ExecutableSHA256: r.ExecutableSHA256,
		SystemdUnit:      r.SystemdUnit,
		CgroupPrefix:     r.CgroupPrefix,
		ContainerID:      r.ContainerID,
	}
	if r.User != "" {
		id, err := lookupUser(r.User)
		if err != nil {
			return out, err
		}
		out.UID = &id
	}
	if r.Group != "" {
		id, err := lookupGroup(r.Group)
		if err != nil {
			return out, err
		}
		out.GID = &id
	}
	if r.SupplementaryGroup != "" {
		id, err := lookupGroup(r.SupplementaryGroup)
		if err != nil {
			return out, err
		}
		out.SupplementaryGID = &id
	}
	return out, nil
}

// checkSelectors checks the selectors beyond uid and gid.
func (v *validator) checkSelectors(path string, r *CallerRule) {
	if r.SupplementaryGID != nil && r.SupplementaryGroup != "" {
		v.addf(path, "caller rule sets both supplementary_gid and supplementary_group; keep one")
	}
	if r.SupplementaryGroup != "" {
		if _, err := lookupGroup(r.SupplementaryGroup); err != nil {
			v.addf(path+".supplementary_group", "%v", err)
		}
	}
	for _, id := range []struct {
		key string
		val *uint32
	}{{"uid", r.UID}, {"gid", r.GID}, {"supplementary_gid", r.SupplementaryGID}} {
		if id.val != nil && *id.val == overflowID {
			v.addf(path+"."+id.key, "%d is the overflow id that the kernel shows for unmapped users and groups; the daemon rejects such callers, so select another id", overflowID)
		}
	}

	if r.Executable != "" && !AbsPath(r.Executable) {
		v.addf(path+".executable", "executable %q must be an absolute, clean path", r.Executable)
	}
	if r.ExecutableSHA256 != "" && !sha256HexRE.MatchString(r.ExecutableSHA256) {
		v.addf(path+".executable_sha256", "executable_sha256 %q is not 64 lower-case hex digits; write the output of sha256sum", r.ExecutableSHA256)
	}
	if r.SystemdUnit != "" && !unitNameRE.MatchString(r.SystemdUnit) {
		v.addf(path+".systemd_unit", "systemd_unit %q is not a service or scope unit name, such as trivy.service", r.SystemdUnit)
	}
	if r.CgroupPrefix != "" && (!AbsPath(r.CgroupPrefix) || strings.Contains(r.CgroupPrefix, "..")) {
		v.addf(path+".cgroup_prefix", "cgroup_prefix %q must be an absolute, clean cgroup path such as /system.slice/trivy.service", r.CgroupPrefix)
	}
	if r.ContainerID != "" && !containerIDRE.MatchString(r.ContainerID) {
		v.addf(path+".container_id", "container_id %q is not a full 64-digit lower-case hex container id; short ids are ambiguous", r.ContainerID)
	}
	v.checkCgroupOnly(path, r)
}

// checkCgroupOnly warns about a rule that trusts a name any user can put in
// a cgroup path. A user with a delegated cgroup subtree (every user with a
// systemd user manager, and rootless container engines) can create a
// cgroup named docker-<id>.scope, and any cgroup below their own slice.
// Such a rule still works, so this is a warning, not a problem.
func (v *validator) checkCgroupOnly(path string, r *CallerRule) {
	if r.UID != nil || r.User != "" || r.GID != nil || r.Group != "" ||
		r.SupplementaryGID != nil || r.SupplementaryGroup != "" ||
		r.Executable != "" || r.ExecutableSHA256 != "" {
		return
	}
	const fix = "; add uid, group or executable_sha256 to the rule"
	switch {
	case r.ContainerID != "":
		v.warnf(path+".container_id", "the rule selects by container_id alone, which any user with a delegated cgroup can copy into a cgroup name of their own"+fix)
	case strings.HasPrefix(r.CgroupPrefix, "/user.slice"):
		v.warnf(path+".cgroup_prefix", "the rule selects by a cgroup_prefix inside /user.slice alone, where users create cgroups themselves"+fix)
	}
}

// checkOverlaps reports pairs of rules in different tenants that some
// caller could match at once. The check works per selector. Two rules are
// disjoint only when a selector that both set can never match the same
// caller: different uids, gids, executable paths, hashes, units or
// container ids, or cgroup prefixes neither of which contains the other.
// Selectors of different kinds are assumed independent, and supplementary
// groups never make rules disjoint, since a caller can be in many groups.
// So the check may report rules that no real caller matches both of, and
// the fix is to add a selector that tells them apart; it never misses a
// pair that could both match.
func (v *validator) checkOverlaps(tenants []Tenant) {
	type placed struct {
		tenant int
		path   string
		rule   ResolvedRule
	}
	var rules []placed
	for i, t := range tenants {
		for j := range t.Callers {
			path := fmt.Sprintf("tenants[%d].callers[%d]", i, j)
			if t.Callers[j].empty() {
				continue // reported by checkRule; it would overlap every rule
			}
			if v.undecodedWithin(path) {
				continue // a selector failed to decode and is reported; the rest would seem to overlap
			}
			r, err := t.Callers[j].Resolve()
			if err != nil {
				continue // reported by checkRule
			}
			rules = append(rules, placed{i, path, r})
		}
	}

	for a := range rules {
		for b := a + 1; b < len(rules); b++ {
			ra, rb := rules[a], rules[b]
			if ra.tenant == rb.tenant || !Overlaps(ra.rule, rb.rule) {
				continue
			}
			v.addf(rb.path, "caller rule overlaps %s of tenant %q: a caller could match both, so its tenant would be ambiguous; add a selector (such as a different uid, executable or systemd_unit) that tells the rules apart",
				ra.path, tenants[ra.tenant].Name)
		}
	}
}

// Overlaps reports whether some caller could match both a and b, by the
// per-selector test that checkOverlaps describes.
func Overlaps(a, b ResolvedRule) bool {
	differ := func(x, y *uint32) bool { return x != nil && y != nil && *x != *y }
	if differ(a.UID, b.UID) || differ(a.GID, b.GID) {
		return false
	}
	for _, p := range [][2]string{
		{a.Executable, b.Executable},
		{a.ExecutableSHA256, b.ExecutableSHA256},
		{a.SystemdUnit, b.SystemdUnit},
		{a.ContainerID, b.ContainerID},
	} {
		if p[0] != "" && p[1] != "" && p[0] != p[1] {
			return false
		}
	}
	if a.CgroupPrefix != "" && b.CgroupPrefix != "" &&
		!CgroupHasPrefix(a.CgroupPrefix, b.CgroupPrefix) && !CgroupHasPrefix(b.CgroupPrefix, a.CgroupPrefix) {
		return false
	}
	return true
}

// CgroupHasPrefix reports whether cgroup path is prefix or lies below it,
// comparing whole path components.
func CgroupHasPrefix(path, prefix string) bool {
	if prefix == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}
