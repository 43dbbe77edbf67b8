package policy

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/peercred"
)

func u32(v uint32) *uint32 { return &v }

const (
	shaA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	shaB = "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	ctr  = "3f4e1a9c2b7d8e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f"
)

func TestMatchSelectors(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "scanner")
	if err := os.WriteFile(exe, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(exe)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)

	// base is a caller that every rule below admits unless a test case
	// changes it.
	base := func() *peercred.Identity {
		return &peercred.Identity{
			PID: 42, UID: 1000, GID: 1000, Groups: []uint32{27, 5000},
			Exe: peercred.Executable{Path: exe, Device: sys.Dev, Inode: sys.Ino, SHA256: shaA},
			Cgroup: peercred.Cgroup{
				Path: "/system.slice/docker-" + ctr + ".scope", Version: 2,
				SystemdUnit: "docker-" + ctr + ".scope", ContainerID: ctr,
			},
		}
	}

	tests := []struct {
		name   string
		rule   config.CallerRule
		change func(*peercred.Identity)
		want   bool
		reason string
	}{
		{name: "uid", rule: config.CallerRule{UID: u32(1000)}, want: true},
		{name: "other uid", rule: config.CallerRule{UID: u32(1001)}, reason: "uid 1000 is not 1001"},
		{name: "gid", rule: config.CallerRule{GID: u32(1000)}, want: true},
		{name: "supplementary group", rule: config.CallerRule{SupplementaryGID: u32(5000)}, want: true},
		{name: "missing supplementary group", rule: config.CallerRule{SupplementaryGID: u32(5001)}, reason: "do not include 5001"},
		{name: "primary gid is not supplementary", rule: config.CallerRule{SupplementaryGID: u32(1000)}, reason: "do not include 1000"},
		{name: "sha256", rule: config.CallerRule{ExecutableSHA256: shaA}, want: true},
		{name: "other sha256", rule: config.CallerRule{ExecutableSHA256: shaB}, reason: "is not " + shaB},
		{
			name: "unhashed executable", rule: config.CallerRule{ExecutableSHA256: shaA},
			change: func(id *peercred.Identity) { id.Exe.SHA256, id.Exe.HashSkipped = "", "over the hashing limit" },
			reason: "was not hashed: over the hashing limit",
		},
		{name: "executable path", rule: config.CallerRule{Executable: exe}, want: true},
		{
			name: "unreadable executable by hash", rule: config.CallerRule{ExecutableSHA256: shaA},
			change: func(id *peercred.Identity) { id.Exe = peercred.Executable{Unavailable: "no CAP_SYS_PTRACE"} },
			reason: "executable unavailable: no CAP_SYS_PTRACE",
		},
		{
			name: "unreadable executable by path", rule: config.CallerRule{Executable: exe},
			change: func(id *peercred.Identity) { id.Exe = peercred.Executable{Unavailable: "no CAP_SYS_PTRACE"} },
			reason: "executable unavailable",
		},
		{
			name: "unreadable executable by uid", rule: config.CallerRule{UID: u32(1000)}, want: true,
			change: func(id *peercred.Identity) { id.Exe = peercred.Executable{Unavailable: "no CAP_SYS_PTRACE"} },
		},
		{
			name: "executable path of a deleted image", rule: config.CallerRule{Executable: exe},
			change: func(id *peercred.Identity) { id.Exe.Deleted = true },
			reason: "replaced or deleted",
		},
		{
			name: "executable path naming another file", rule: config.CallerRule{Executable: exe},
			change: func(id *peercred.Identity) { id.Exe.Inode++ },
			reason: "is not the file at",
		},
		{name: "systemd unit", rule: config.CallerRule{SystemdUnit: "docker-" + ctr + ".scope"}, want: true},
		{name: "other unit", rule: config.CallerRule{SystemdUnit: "trivy.service"}, reason: "is not \"trivy.service\""},
		{name: "cgroup prefix", rule: config.CallerRule{CgroupPrefix: "/system.slice"}, want: true},
		{name: "cgroup prefix not on a component boundary", rule: config.CallerRule{CgroupPrefix: "/system.sl"}, reason: "is not under"},
		{name: "container id", rule: config.CallerRule{ContainerID: ctr}, want: true},
		{
			name: "container outside the namespace", rule: config.CallerRule{ContainerID: ctr},
			change: func(id *peercred.Identity) { id.Cgroup.OutsideNamespace = true },
			reason: "outside the daemon's cgroup namespace",
		},
		{
			name: "all selectors", want: true,
			rule: config.CallerRule{
				UID: u32(1000), GID: u32(1000), SupplementaryGID: u32(27), Executable: exe, ExecutableSHA256: shaA,
				SystemdUnit: "docker-" + ctr + ".scope", CgroupPrefix: "/system.slice", ContainerID: ctr,
			},
		},
		{
			name:   "all selectors but one",
			rule:   config.CallerRule{UID: u32(1000), GID: u32(1000), ExecutableSHA256: shaA, ContainerID: ctr},
			change: func(id *peercred.Identity) { id.GID = 1001 },
			reason: "gid 1001 is not 1000",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile([]config.Tenant{{Name: "t", PredicateTypes: []string{"*"}, Callers: []config.CallerRule{tc.rule}}})
			if err != nil {
				t.Fatal(err)
			}
			id := base()
			if tc.change != nil {
				tc.change(id)
			}
			tenant, reason := p.Match(id)
			if got := tenant != nil; got != tc.want {
				t.Fatalf("matched = %v (reason %q), want %v", got, reason, tc.want)
			}
			if !tc.want && !strings.Contains(reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", reason, tc.reason)
			}
			r := p.tenants[0].rules[0]
			if why := r.mismatch(id); r.matches(id) != (why == "") {
				t.Errorf("matches = %v but mismatch = %q: the two checks disagree", r.matches(id), why)
			}
		})
	}
}

func TestMatchAmbiguousRejected(t *testing.T) {
	// Compile skips the config loader's overlap check, so this policy
	// reaches Match the way an overlap the static check misses would.
	p, err := Compile([]config.Tenant{
		{Name: "a", PredicateTypes: []string{"*"}, Callers: []config.CallerRule{{UID: u32(1000)}}},
		{Name: "b", PredicateTypes: []string{"*"}, Callers: []config.CallerRule{{GID: u32(1000)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tenant, reason := p.Match(&peercred.Identity{PID: 1, UID: 1000, GID: 1000})
	if tenant != nil {
		t.Fatalf("ambiguous caller matched tenant %q", tenant.Name)
	}
	if !strings.Contains(reason, `matches tenants "a" and "b"`) {
		t.Errorf("reason %q does not name both tenants", reason)
	}
}

func TestCompileRejectsEmptyRule(t *testing.T) {
	_, err := Compile([]config.Tenant{{Name: "a", Callers: []config.CallerRule{{}}}})
	if err == nil {
		t.Fatal("Compile accepted a rule with no selector")
	}
}
