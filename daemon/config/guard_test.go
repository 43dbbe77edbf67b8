package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestGuardDefaultsOff(t *testing.T) {
	cfg, err := Load("test.yaml", []byte(validConfig))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Guard.Enabled {
		t.Error("guard enabled by default, want off")
	}
	if cfg.Guard.Cgroup != "/sys/fs/cgroup" || cfg.Guard.PinDir != "/sys/fs/bpf/signerd" {
		t.Errorf("guard defaults = %+v", cfg.Guard)
	}
}

func TestGuardValid(t *testing.T) {
	text := validConfig + `guard:
  enabled: true
  mandatory: true
  cgroup: /sys/fs/cgroup
  allowed_uids: [1000, 1001]
  allowed_cgroups: [/sys/fs/cgroup/scanners.slice]
`
	cfg, err := Load("test.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Guard.AllowedUIDs, []uint32{1000, 1001}) {
		t.Errorf("allowed_uids = %v", cfg.Guard.AllowedUIDs)
	}
	if !slices.Equal(cfg.Guard.AllowedCgroups, []string{"/sys/fs/cgroup/scanners.slice"}) {
		t.Errorf("allowed_cgroups = %v", cfg.Guard.AllowedCgroups)
	}
}

func TestGuardRejects(t *testing.T) {
	tests := []struct {
		name     string
		guard    string
		wantPath string
		wantText string
	}{
		{"mandatory without enabled", "  mandatory: true\n", "guard.mandatory", "guard.enabled is false"},
		{"relative cgroup", "  cgroup: sys/fs/cgroup\n", "guard.cgroup", "absolute"},
		{"relative pin dir", "  pin_dir: bpf/signerd\n", "guard.pin_dir", "absolute"},
		{"enabled with empty sets", "  enabled: true\n", "guard", "every caller would be refused"},
		{"allowed cgroup is attach cgroup", "  allowed_cgroups: [/sys/fs/cgroup]\n", "guard.allowed_cgroups[0]", "every checked task"},
		{"allowed cgroup outside attach cgroup", "  cgroup: /sys/fs/cgroup/a\n  allowed_cgroups: [/sys/fs/cgroup/ab]\n", "guard.allowed_cgroups[0]", "outside guard.cgroup"},
		{"relative allowed cgroup", "  allowed_cgroups: [scanners.slice]\n", "guard.allowed_cgroups[0]", "absolute"},
		{"negative uid", "  allowed_uids: [-1]\n", "guard.allowed_uids[0]", "allowed_uids[0] must be a non-negative whole number, but is -1"},
		{"more entries than the policy map holds", "  allowed_uids: [" + uidList(MaxGuardEntries) + "]\n  allowed_cgroups: [/sys/fs/cgroup/a.slice]\n",
			"guard", fmt.Sprintf("list %d entries together, more than the guard's policy map holds (%d)", MaxGuardEntries+1, MaxGuardEntries)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("test.yaml", []byte(validConfig+"guard:\n"+tt.guard))
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load() error = %v, want *Error", err)
			}
			found := false
			for _, p := range cerr.Problems {
				if p.Path == tt.wantPath && strings.Contains(p.Message, tt.wantText) {
					found = true
				}
			}
			if !found {
				t.Errorf("problems = %v, want one at %q containing %q", cerr.Problems, tt.wantPath, tt.wantText)
			}
		})
	}
}

// uidList returns n distinct uids, from 1000, as a YAML flow list body.
func uidList(n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = strconv.Itoa(1000 + i)
	}
	return strings.Join(ids, ", ")
}
