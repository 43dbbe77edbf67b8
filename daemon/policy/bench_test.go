package policy

import (
	"fmt"
	"testing"

	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/peercred"
)

// BenchmarkMatch matches one caller against a policy of 50 tenants, each
// with two rules (a uid, and a systemd unit with an executable digest).
// Every request pays for this, before any other stage.
func BenchmarkMatch(b *testing.B) {
	const tenants = 50
	cfg := make([]config.Tenant, 0, tenants)
	for i := range tenants {
		cfg = append(cfg, config.Tenant{
			Name:           fmt.Sprintf("team-%02d", i),
			PredicateTypes: []string{"*"},
			Callers: []config.CallerRule{
				{UID: u32(uint32(2000 + i))},
				{SystemdUnit: fmt.Sprintf("scanner-%02d.service", i), ExecutableSHA256: shaA},
			},
		})
	}
	p, err := Compile(cfg)
	if err != nil {
		b.Fatal(err)
	}

	cases := []struct {
		name string
		unit string
		want string
	}{
		{"first tenant", "scanner-00.service", "team-00"},
		{"last tenant", fmt.Sprintf("scanner-%02d.service", tenants-1), fmt.Sprintf("team-%02d", tenants-1)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			id := &peercred.Identity{
				PID: 42, UID: 1000, GID: 1000,
				Exe:    peercred.Executable{Path: "/usr/bin/scanner", SHA256: shaA},
				Cgroup: peercred.Cgroup{Path: "/system.slice/" + tc.unit, Version: 2, SystemdUnit: tc.unit},
			}
			b.ReportAllocs()
			for b.Loop() {
				t, why := p.Match(id)
				if t == nil || t.Name != tc.want {
					b.Fatalf("matched %v (%s), want %s", t, why, tc.want)
				}
			}
		})
	}
}
