package peercred

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Cgroup is the peer's control group and what its path shows.
//
// The path is relative to the daemon's cgroup namespace. A cgroup that
// lies outside it shows as a path starting with "/..", and then
// OutsideNamespace is set and SystemdUnit stays empty: the policy never
// matches such a caller by cgroup, unit or container id.
type Cgroup struct {
	// Path is the cgroup v2 path, or the name=systemd hierarchy's path on
	// a cgroup v1 or hybrid node.
	Path string

	// Version is 2 when the file had only the unified hierarchy, else 1.
	Version int

	OutsideNamespace bool

	// SystemdUnit is the unit of the system manager that owns the cgroup,
	// for example "trivy.service" or "user@1000.service".
	SystemdUnit string

	// SystemdUserUnit is the unit of a user manager below
	// user@UID.service. That user controls it.
	SystemdUserUnit string

	// ContainerID is the 64-digit hex id of the container whose cgroup
	// holds the process, and ContainerRuntime names the runtime whose
	// naming scheme matched ("docker", "containerd", "cri-o", "podman",
	// or "cgroupfs" for a bare id).
	//
	// NOTE: below user@UID.service and in other delegated subtrees the
	// owner names cgroups freely, so an id found there is only as
	// trustworthy as that owner's uid.
	ContainerID      string
	ContainerRuntime string

	// PodUID is the Kubernetes pod UID when the path shows one.
	PodUID string
}

// readCgroup reads and parses /proc/PID/cgroup.
func readCgroup(pid int32) (Cgroup, error) {
	data, err := os.ReadFile(procPath(pid, "cgroup"))
	if err != nil {
		return Cgroup{}, err
	}
	return ParseCgroup(data)
}

// ParseCgroup parses the contents of /proc/PID/cgroup: lines of
// "hierarchy-ID:controller-list:cgroup-path", where the unified (v2)
// hierarchy has ID 0 and an empty controller list.
func ParseCgroup(data []byte) (Cgroup, error) {
	var unified, systemdV1, firstV1 string
	var hasUnified, hasV1 bool
	var paths []string

	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			return Cgroup{}, fmt.Errorf("cgroup line %d %q is not ID:CONTROLLERS:PATH", n, line)
		}
		if _, err := strconv.ParseUint(parts[0], 10, 32); err != nil {
			return Cgroup{}, fmt.Errorf("cgroup line %d has invalid hierarchy id %q", n, parts[0])
		}
		path := parts[2]
		if !strings.HasPrefix(path, "/") {
			return Cgroup{}, fmt.Errorf("cgroup line %d has path %q, which is not absolute", n, path)
		}
		paths = append(paths, path)

		switch {
		case parts[0] == "0" && parts[1] == "":
			unified, hasUnified = path, true
		case hasController(parts[1], "name=systemd"):
			systemdV1, hasV1 = path, true
		default:
			if !hasV1 {
				firstV1 = path
			}
			hasV1 = true
		}
	}
	if err := sc.Err(); err != nil {
		return Cgroup{}, err
	}

	var cg Cgroup
	switch {
	case hasV1 && systemdV1 != "":
		cg.Path, cg.Version = systemdV1, 1
	case hasV1 && !hasUnified:
		cg.Path, cg.Version = firstV1, 1
	case hasUnified:
		cg.Path, cg.Version = unified, 2
		if hasV1 {
			cg.Version = 1
		}
	default:
		return Cgroup{}, fmt.Errorf("cgroup file lists no hierarchy")
	}

	cg.OutsideNamespace = cg.Path == "/.." || strings.HasPrefix(cg.Path, "/../")
	if !cg.OutsideNamespace {
		cg.SystemdUnit, cg.SystemdUserUnit = systemdUnits(cg.Path)
	}

	// The chosen path decides first; on cgroup v1 with the cgroupfs driver
	// only the controller hierarchies may show the container.
	for _, p := range append([]string{cg.Path}, paths...) {
		if cg.ContainerRuntime, cg.ContainerID = containerFromPath(p); cg.ContainerID != "" {
			cg.PodUID = podUIDFromPath(p)
			break
		}
	}
	return cg, nil
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// systemdUnits derives the units that own a cgroup path as systemd does:
// slices are skipped, the first other unit is the system manager's unit,
// and below user@UID.service the first non-slice unit is the user
// manager's unit.
func systemdUnits(path string) (unit, userUnit string) {
	for _, c := range strings.Split(path, "/") {
		if c == "" || strings.HasSuffix(c, ".slice") {
			continue
		}
		if !isUnitName(c) {
			return unit, userUnit
		}
		switch {
		case unit == "":
			unit = c
			if !strings.HasPrefix(unit, "user@") || !strings.HasSuffix(unit, ".service") {
				return unit, ""
			}
		default:
			return unit, c
		}
	}
	return unit, userUnit
}

// isUnitName reports whether c names a unit type that owns processes in
// a cgroup.
func isUnitName(c string) bool {
	for _, suffix := range []string{".service", ".scope"} {
		if name, ok := strings.CutSuffix(c, suffix); ok && name != "" {
			return true
		}
	}
	return false
}

// containerScopePrefixes maps the prefixes of container scope names
// created through systemd to runtimes. The conmon scopes of cri-o and
// podman hold the monitor process, not the container, and never match
// because their id part is not a bare id.
var containerScopePrefixes = []struct{ prefix, runtime string }{
	{"docker-", "docker"},
	{"cri-containerd-", "containerd"},
	{"crio-", "cri-o"},
	{"libpod-", "podman"},
}

// containerFromPath finds a container id in a cgroup path: a scope such
// as docker-ID.scope (systemd driver), or a bare 64-digit id as the
// cgroupfs driver writes it (/docker/ID, /kubepods/.../podUID/ID). The
// component closest to the leaf wins.
func containerFromPath(path string) (runtime, id string) {
	comps := strings.Split(path, "/")
	for i := len(comps) - 1; i >= 0; i-- {
		c := comps[i]
		if name, ok := strings.CutSuffix(c, ".scope"); ok {
			for _, p := range containerScopePrefixes {
				if rest, ok := strings.CutPrefix(name, p.prefix); ok && isContainerID(rest) {
					return p.runtime, rest
				}
			}
			continue
		}
		if isContainerID(c) {
			if i > 0 && (comps[i-1] == "docker" || strings.HasPrefix(comps[i-1], "pod")) {
				return "docker", c
			}
			return "cgroupfs", c
		}
	}
	return "", ""
}

// isContainerID reports whether s is 64 lower-case hex digits, the id
// form of docker, containerd, cri-o and podman.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// podUIDFromPath finds a Kubernetes pod UID: "podUID" with the cgroupfs
// driver, or "kubepods-QOS-podUID.slice" with the systemd driver, where
// the UID's dashes are written as underscores.
func podUIDFromPath(path string) string {
	for _, c := range strings.Split(path, "/") {
		name := strings.TrimSuffix(c, ".slice")
		i := strings.LastIndex(name, "pod")
		if i < 0 || (i > 0 && name[i-1] != '-') {
			continue
		}
		uid := strings.ReplaceAll(name[i+3:], "_", "-")
		if isUUID(uid) {
			return uid
		}
	}
	return ""
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
