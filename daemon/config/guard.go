package config

import (
	"fmt"
	"strings"
)

// GuardConfig configures the kernel-side connect guard: an eBPF program
// that refuses connects to the caller socket from tasks outside the
// allowed uids and cgroups. It is a second line of defence; peer-credential
// policy still decides every request.
type GuardConfig struct {
	// Enabled installs the guard at start.
	Enabled bool `yaml:"enabled"`

	// Mandatory makes the daemon refuse to start when the guard cannot be
	// installed, for example on a kernel before Linux 6.7. Otherwise the
	// daemon logs the reason and runs without the guard.
	Mandatory bool `yaml:"mandatory"`

	// Cgroup is the cgroup v2 directory the program is attached to; tasks
	// outside it are not checked. Changes take effect at restart.
	Cgroup string `yaml:"cgroup"`

	// PinDir is the bpffs directory that keeps the guard in force between
	// daemon runs. Changes take effect at restart.
	PinDir string `yaml:"pin_dir"`

	// AllowedUIDs may connect whatever their cgroup.
	AllowedUIDs []uint32 `yaml:"allowed_uids"`

	// AllowedCgroups are cgroup v2 directories; tasks in them or below may
	// connect. Paths are resolved at start and on every reload.
	AllowedCgroups []string `yaml:"allowed_cgroups"`
}

// DefaultGuard returns the guard defaults: off, attached to the root of
// the cgroup v2 hierarchy, pinned under /sys/fs/bpf/signerd.
func DefaultGuard() GuardConfig {
	return GuardConfig{Cgroup: "/sys/fs/cgroup", PinDir: "/sys/fs/bpf/signerd"}
}

func (v *validator) checkGuard(g *GuardConfig) {
	if g.Mandatory && !g.Enabled {
		v.addf("guard.mandatory", "guard.mandatory is true but guard.enabled is false; enable the guard or drop mandatory")
	}
	if !AbsPath(g.Cgroup) {
		v.addf("guard.cgroup", "cgroup %q must be an absolute, clean path to a cgroup v2 directory", g.Cgroup)
	}
	if !AbsPath(g.PinDir) || g.PinDir == "/" {
		v.addf("guard.pin_dir", "pin directory %q must be an absolute, clean path inside a bpf file system, such as /sys/fs/bpf/signerd", g.PinDir)
	}
	for i, p := range g.AllowedCgroups {
		if !AbsPath(p) {
			v.addf(fmt.Sprintf("guard.allowed_cgroups[%d]", i), "cgroup %q must be an absolute, clean path to a cgroup v2 directory", p)
		} else if p == g.Cgroup {
			v.addf(fmt.Sprintf("guard.allowed_cgroups[%d]", i), "cgroup %q is the attach cgroup itself, so every checked task would be allowed; name a child cgroup such as a slice", p)
		} else if !strings.HasPrefix(p, strings.TrimSuffix(g.Cgroup, "/")+"/") {
			v.addf(fmt.Sprintf("guard.allowed_cgroups[%d]", i), "cgroup %q is outside guard.cgroup %q, whose tasks are the only ones checked; name a cgroup below it", p, g.Cgroup)
		}
	}
	if g.Enabled && len(g.AllowedUIDs) == 0 && len(g.AllowedCgroups) == 0 {
		v.addf("guard", "guard is enabled but allowed_uids and allowed_cgroups are empty, so every caller would be refused; list the scanners' uids or cgroups")
	}
	if n := len(g.AllowedUIDs) + len(g.AllowedCgroups); n > MaxGuardEntries {
		v.addf("guard", "allowed_uids and allowed_cgroups list %d entries together, more than the guard's policy map holds (%d); allow a group's cgroup or slice in place of many uids", n, MaxGuardEntries)
	}
}

// MaxGuardEntries is the size of the guard program's policy map
// (max_entries of guard_policy_set in daemon/guard/bpf/guard.c). A larger
// allowed set would fail at reload and leave the old one in force.
const MaxGuardEntries = 4096
