package guard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/signerd/signerd/daemon/logkey"
)

// Kinds of policy map keys; they match POLICY_KIND_* in bpf/guard.c.
const (
	kindUID    uint32 = 1
	kindCgroup uint32 = 2
)

// Policy is the set of tasks allowed to connect to the socket.
type Policy struct {
	// UIDs are allowed by the task's real uid in the initial user
	// namespace.
	UIDs []uint32

	// Cgroups are cgroup v2 directories; a task in one of them or below
	// is allowed.
	Cgroups []string
}

// policyKey is struct guard_policy_key in bpf/guard.c.
type policyKey struct {
	Kind uint32
	_    uint32
	ID   uint64
}

func (k policyKey) MarshalBinary() ([]byte, error) {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint32(b[0:4], k.Kind)
	binary.NativeEndian.PutUint64(b[8:16], k.ID)
	return b, nil
}

func (k *policyKey) UnmarshalBinary(b []byte) error {
	if len(b) != 16 {
		return fmt.Errorf("policy key is %d bytes, want 16", len(b))
	}
	k.Kind = binary.NativeEndian.Uint32(b[0:4])
	k.ID = binary.NativeEndian.Uint64(b[8:16])
	return nil
}

// SetPolicy replaces the allowed sets in one map update. The daemon's own
// uid is always allowed, so it can probe its own socket. A cgroup path
// that does not exist is logged and left out, which allows fewer tasks,
// never more.
func (g *Guard) SetPolicy(p Policy) error {
	keys := g.resolve(p)

	g.mu.Lock()
	defer g.mu.Unlock()

	inner, err := ebpf.NewMap(g.innerSpec)
	if err != nil {
		return fmt.Errorf("create connect guard policy map: %w", err)
	}
	defer inner.Close() // the outer map holds its own reference

	one := uint8(1)
	for _, k := range keys {
		if err := inner.Update(k, one, ebpf.UpdateNoExist); err != nil {
			return fmt.Errorf("fill connect guard policy map: %w", err)
		}
	}
	if err := g.objs.GuardPolicy.Update(uint32(0), inner, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("install connect guard policy map: %w", err)
	}
	return nil
}

// resolve turns p into map keys, deduplicated.
func (g *Guard) resolve(p Policy) []policyKey {
	uids := append([]uint32{uint32(os.Getuid())}, p.UIDs...)
	slices.Sort(uids)
	uids = slices.Compact(uids)

	keys := make([]policyKey, 0, len(uids)+len(p.Cgroups))
	for _, uid := range uids {
		keys = append(keys, policyKey{Kind: kindUID, ID: uint64(uid)})
	}

	seen := map[uint64]bool{}
	for _, path := range p.Cgroups {
		id, err := CgroupID(path)
		if err != nil {
			level := slog.LevelWarn
			if !errors.Is(err, os.ErrNotExist) {
				level = slog.LevelError
			}
			g.log.Log(context.Background(), level, "connect guard: allowed cgroup left out until the next reload",
				slog.String(logkey.GuardCgroup, path), slog.String(logkey.Error, err.Error()))
			continue
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		keys = append(keys, policyKey{Kind: kindCgroup, ID: id})
	}
	return keys
}
