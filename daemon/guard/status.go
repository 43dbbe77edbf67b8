package guard

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Status is what a pinned guard enforces, read from bpffs.
type Status struct {
	PinDir string `json:"pin_dir"`

	// Attached reports whether a pinned link exists.
	Attached  bool   `json:"attached"`
	LinkID    uint32 `json:"link_id,omitempty"`
	ProgramID uint32 `json:"program_id,omitempty"`
	CgroupID  uint64 `json:"cgroup_id,omitempty"`

	// CgroupPath is found by searching the cgroup v2 mount; it is empty
	// when the cgroup was not found.
	CgroupPath string `json:"cgroup_path,omitempty"`

	SocketPath     string         `json:"socket_path"`
	AllowedUIDs    []uint32       `json:"allowed_uids"`
	AllowedCgroups []CgroupStatus `json:"allowed_cgroups"`
	Denied         uint64         `json:"denied"`
}

// CgroupStatus is one allowed cgroup.
type CgroupStatus struct {
	ID uint64 `json:"id"`

	// Path is empty when no cgroup with ID exists any more.
	Path string `json:"path,omitempty"`
}

// ReadStatus reads the guard pinned in pinDir. cgroupRoot is searched to
// name cgroup ids; pass "" to skip that.
func ReadStatus(pinDir, cgroupRoot string) (*Status, error) {
	st := &Status{PinDir: pinDir, AllowedUIDs: []uint32{}, AllowedCgroups: []CgroupStatus{}}
	if _, err := os.Stat(pinDir); err != nil {
		return nil, fmt.Errorf("no connect guard is pinned: %w", err)
	}

	l, err := link.LoadPinnedLink(filepath.Join(pinDir, linkPinName), nil)
	switch {
	case err == nil:
		defer l.Close()
		st.Attached = true
		if info, err := l.Info(); err == nil {
			st.LinkID = uint32(info.ID)
			st.ProgramID = uint32(info.Program)
			if c := info.Cgroup(); c != nil {
				st.CgroupID = c.CgroupId
			}
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("open pinned connect guard link: %w", err)
	}

	if err := readTarget(pinDir, st); err != nil {
		return nil, err
	}
	if err := readPolicy(pinDir, st); err != nil {
		return nil, err
	}
	denied, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, deniedMapName), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open pinned map %s: %w", deniedMapName, err)
	}
	defer denied.Close()
	if st.Denied, err = sumDenied(denied); err != nil {
		return nil, err
	}

	if cgroupRoot != "" {
		want := map[uint64]bool{}
		if st.CgroupID != 0 {
			want[st.CgroupID] = true
		}
		for _, c := range st.AllowedCgroups {
			want[c.ID] = true
		}
		paths := cgroupPaths(cgroupRoot, want)
		st.CgroupPath = paths[st.CgroupID]
		for i := range st.AllowedCgroups {
			st.AllowedCgroups[i].Path = paths[st.AllowedCgroups[i].ID]
		}
	}
	return st, nil
}

func readTarget(pinDir string, st *Status) error {
	m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, targetMapName), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open pinned map %s: %w", targetMapName, err)
	}
	defer m.Close()
	var t guardTargetPath
	if err := m.Lookup(uint32(0), &t); err != nil {
		return fmt.Errorf("read connect guard socket path: %w", err)
	}
	var b strings.Builder
	for i := 0; i < int(t.Len) && i < len(t.Path); i++ {
		b.WriteByte(byte(t.Path[i]))
	}
	st.SocketPath = b.String()
	return nil
}

func readPolicy(pinDir string, st *Status) error {
	outer, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, policyMapName), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open pinned map %s: %w", policyMapName, err)
	}
	defer outer.Close()

	var innerID ebpf.MapID
	if err := outer.Lookup(uint32(0), &innerID); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil // no policy: the program denies every caller
		}
		return fmt.Errorf("read connect guard policy slot: %w", err)
	}
	inner, err := ebpf.NewMapFromID(innerID)
	if err != nil {
		return fmt.Errorf("open connect guard policy map %d: %w", innerID, err)
	}
	defer inner.Close()

	var key policyKey
	var value uint8
	it := inner.Iterate()
	for it.Next(&key, &value) {
		switch key.Kind {
		case kindUID:
			st.AllowedUIDs = append(st.AllowedUIDs, uint32(key.ID))
		case kindCgroup:
			st.AllowedCgroups = append(st.AllowedCgroups, CgroupStatus{ID: key.ID})
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read connect guard policy map: %w", err)
	}
	slices.Sort(st.AllowedUIDs)
	slices.SortFunc(st.AllowedCgroups, func(a, b CgroupStatus) int { return cmp.Compare(a.ID, b.ID) })
	return nil
}

// Remove detaches the guard pinned in pinDir and removes its pins and the
// directory. It reports whether there was anything to remove, and succeeds
// when there was not.
func Remove(pinDir string) (removed bool, err error) {
	l, err := link.LoadPinnedLink(filepath.Join(pinDir, linkPinName), nil)
	switch {
	case err == nil:
		if err := dropLink(l); err != nil {
			return false, err
		}
		removed = true
	case !errors.Is(err, os.ErrNotExist):
		return false, fmt.Errorf("open pinned connect guard link: %w", err)
	}

	for _, name := range []string{targetMapName, policyMapName, deniedMapName} {
		err := os.Remove(filepath.Join(pinDir, name))
		if err == nil {
			removed = true
		} else if !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("unpin %s: %w", name, err)
		}
	}
	if err := os.Remove(pinDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return removed, fmt.Errorf("remove %s: %w", pinDir, err)
	}
	return removed, nil
}
