package peercred

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Mount is one line of /proc/PID/mountinfo (see proc_pid_mountinfo(5)).
type Mount struct {
	ID, ParentID int

	// Root is the path inside the source filesystem that is mounted.
	Root string

	// MountPoint is where it is mounted, in the process's mount namespace.
	MountPoint string

	FSType string
	Source string
}

// ParseMountInfo parses /proc/PID/mountinfo. Octal escapes (\040 for a
// space) in paths are decoded.
func ParseMountInfo(data []byte) ([]Mount, error) {
	var mounts []Mount
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		fields := strings.Fields(line)

		// Fields 1 to 6 are fixed, then optional fields end with "-",
		// then the filesystem type and source.
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 6 || sep < 0 || sep+2 >= len(fields) {
			return nil, fmt.Errorf("mountinfo line %d is malformed: %q", n, line)
		}

		id, err1 := strconv.Atoi(fields[0])
		parent, err2 := strconv.Atoi(fields[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mountinfo line %d has invalid mount ids %q %q", n, fields[0], fields[1])
		}
		mounts = append(mounts, Mount{
			ID: id, ParentID: parent,
			Root:       unescapeOctal(fields[3]),
			MountPoint: unescapeOctal(fields[4]),
			FSType:     fields[sep+1],
			Source:     unescapeOctal(fields[sep+2]),
		})
	}
	return mounts, sc.Err()
}

// unescapeOctal decodes the kernel's \NNN escapes for space, tab,
// newline and backslash.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ContainerIDFromMounts finds a container id in the roots of bind mounts,
// where container engines mount per-container files such as hostname and
// resolv.conf: .../containers/ID/... (docker) and
// .../overlay-containers/ID/userdata/... (podman).
//
// Anyone who can create a mount namespace can choose these paths, so the
// policy never selects callers by this id.
func ContainerIDFromMounts(mounts []Mount) string {
	for _, m := range mounts {
		comps := strings.Split(m.Root, "/")
		for i := 1; i < len(comps); i++ {
			if (comps[i-1] == "containers" || comps[i-1] == "overlay-containers") && isContainerID(comps[i]) {
				return comps[i]
			}
		}
	}
	return ""
}

// CgroupMounts returns the cgroup and cgroup2 mounts.
func CgroupMounts(mounts []Mount) []Mount {
	var out []Mount
	for _, m := range mounts {
		if m.FSType == "cgroup" || m.FSType == "cgroup2" {
			out = append(out, m)
		}
	}
	return out
}
