package guard

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// CgroupID returns the id of the cgroup v2 directory at path, the value
// bpf_get_current_cgroup_id and bpf_get_current_ancestor_cgroup_id return
// for it. It fails when path is not on a cgroup v2 file system, for
// example the tmpfs at /sys/fs/cgroup on a host with the hybrid hierarchy,
// whose cgroup v2 mount is /sys/fs/cgroup/unified.
func CgroupID(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", path, err)
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return 0, fmt.Errorf("%s is not a cgroup v2 directory; name one on the cgroup2 mount (see /proc/self/mountinfo)", path)
	}

	// The cgroup id is the kernfs node id, which the file handle carries.
	handle, _, err := unix.NameToHandleAt(unix.AT_FDCWD, path, 0)
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: file handle: %w", path, err)
	}
	b := handle.Bytes()
	if len(b) < 8 {
		return 0, fmt.Errorf("cgroup %s: file handle is %d bytes, want 8", path, len(b))
	}
	return binary.NativeEndian.Uint64(b[:8]), nil
}

// cgroupPaths maps the ids in want to directories under root by walking
// it. Ids it does not find are absent from the result.
func cgroupPaths(root string, want map[uint64]bool) map[uint64]string {
	found := map[uint64]string{}
	if len(want) == 0 {
		return found
	}
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if id, idErr := CgroupID(path); idErr == nil && want[id] {
			found[id] = path
			if len(found) == len(want) {
				return filepath.SkipAll
			}
		}
		return nil
	})
	return found
}
