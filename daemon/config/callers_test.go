package config

import (
	"errors"
	"strings"
	"testing"
)

// configWith returns a valid config whose tenants section is tenants.
func configWith(tenants string) string {
	return `socket:
  path: /run/signerd/signerd.sock
key:
  uri: file:///var/lib/signerd/signing.key
tenants:
` + tenants
}

func TestCallerRuleProblems(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name     string
		tenants  string
		wantPath string
		wantLine int
		wantMsg  string
	}{
		{
			name: "identical rules in two tenants",
			tenants: `  - name: a
    predicate_types: ["*"]
    callers:
      - uid: 1000
  - name: b
    predicate_types: ["*"]
    callers:
      - uid: 1000
`,
			wantPath: "tenants[1].callers[0]", wantLine: 13, wantMsg: `overlaps tenants[0].callers[0] of tenant "a"`,
		},
		{
			name: "uid rule and executable rule overlap",
			tenants: `  - name: a
    predicate_types: ["*"]
    callers:
      - uid: 1000
  - name: b
    predicate_types: ["*"]
    callers:
      - executable: /usr/bin/trivy
`,
			wantPath: "tenants[1].callers[0]", wantMsg: "a caller could match both",
		},
		{
			name: "nested cgroup prefixes overlap",
			tenants: `  - name: a
    predicate_types: ["*"]
    callers:
      - cgroup_prefix: /system.slice
  - name: b
    predicate_types: ["*"]
    callers:
      - cgroup_prefix: /system.slice/trivy.service
`,
			wantPath: "tenants[1].callers[0]", wantMsg: "overlaps",
		},
		{
			name: "supplementary groups do not separate rules",
			tenants: `  - name: a
    predicate_types: ["*"]
    callers:
      - supplementary_gid: 5000
  - name: b
    predicate_types: ["*"]
    callers:
      - supplementary_gid: 5001
`,
			wantPath: "tenants[1].callers[0]", wantMsg: "overlaps",
		},
		{
			name: "overflow uid",
			tenants: `  - name: a
    predicate_types: ["*"]
    callers:
      - uid: 65534
`,
			wantPath: "tenants[0].callers[0].uid", wantMsg: "overflow id",
		},
		{
			name: "relative executable",
			tenants: `  - name: a
    predicate_types: ["*"]
    callers:
      - executable: bin/trivy
`,
			wantPath: "tenants[0].callers[0].executable", wantLine: 9, wantMsg: "absolute",
		},
		{
			name: "upper-case sha256",
			tenants: `  - name: a
    predicate_types: ["*"]
    callers:
      - executable_sha256: ` + strings.ToUpper(sha) + `
`,
			wantPath: "tenants[0].callers[0].executable_sha256", wantMsg: "64 lower-case hex",
		},
		{
			name: "slice as unit",
			tenants: `  - name: a
    predicate_types: ["*"]
    callers:
      - systemd_unit: system.slice
`,
			wantPath: "tenants[0].callers[0].systemd_unit", wantMsg: "service or scope",
		},
		{
			name: "cgroup prefix with dot-dot",
			tenants: `  - name: a
    predicate_types: ["*"]
    callers:
      - cgroup_prefix: /../system.slice
`,
			wantPath: "tenants[0].callers[0].cgroup_prefix", wantMsg: "absolute, clean",
		},
		{
			name: "short container id",
			tenants: `  - name: a
    predicate_types: ["*"]
    callers:
      - container_id: 3f4e1a9c2b7d
`,
			wantPath: "tenants[0].callers[0].container_id", wantMsg: "64-digit",
		},
		{
			name: "both supplementary forms",
			tenants: `  - name: a
    predicate_types: ["*"]
    callers:
      - supplementary_gid: 100
        supplementary_group: root
`,
			wantPath: "tenants[0].callers[0]", wantMsg: "both supplementary_gid and supplementary_group",
		},
		{
			name: "unknown supplementary group",
			tenants: `  - name: a
    predicate_types: ["*"]
    callers:
      - supplementary_group: no-such-group-signerd
`,
			wantPath: "tenants[0].callers[0].supplementary_group", wantMsg: "not found",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("test.yaml", []byte(configWith(tc.tenants)))
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load = %v, want a config error", err)
			}
			for _, p := range cerr.Problems {
				if p.Path != tc.wantPath || !strings.Contains(p.Message, tc.wantMsg) {
					continue
				}
				if tc.wantLine != 0 && p.Line != tc.wantLine {
					t.Errorf("problem at line %d, want %d: %s", p.Line, tc.wantLine, p)
				}
				if p.Line == 0 || p.Column == 0 {
					t.Errorf("problem has no position: %s", p)
				}
				return
			}
			t.Fatalf("no problem at %s containing %q in:\n%v", tc.wantPath, tc.wantMsg, err)
		})
	}
}

func TestDisjointRulesLoad(t *testing.T) {
	const shaA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const shaB = "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cfg, err := Load("test.yaml", []byte(configWith(`  - name: a
    predicate_types: ["*"]
    callers:
      - uid: 1000
        executable_sha256: `+shaA+`
      - uid: 1000
        supplementary_group: root
        executable_sha256: `+shaA+`
        cgroup_prefix: /system.slice/a.service
  - name: b
    predicate_types: ["*"]
    callers:
      - uid: 1000
        executable_sha256: `+shaB+`
      - uid: 1001
      - systemd_unit: b.service
        cgroup_prefix: /system.slice/b.service
        uid: 1002
`)))
	if err != nil {
		t.Fatalf("Load of disjoint rules: %v", err)
	}
	r, err := cfg.Tenants[0].Callers[1].Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if r.SupplementaryGID == nil || *r.SupplementaryGID != 0 {
		t.Errorf("supplementary_group root resolved to %v, want gid 0", r.SupplementaryGID)
	}
}

func TestCgroupHasPrefix(t *testing.T) {
	tests := []struct {
		path, prefix string
		want         bool
	}{
		{"/system.slice/a.service", "/system.slice", true},
		{"/system.slice", "/system.slice", true},
		{"/system.slice2/a.service", "/system.slice", false},
		{"/a", "/", true},
		{"/system.slice", "/system.slice/a.service", false},
	}
	for _, tc := range tests {
		if got := CgroupHasPrefix(tc.path, tc.prefix); got != tc.want {
			t.Errorf("CgroupHasPrefix(%q, %q) = %v, want %v", tc.path, tc.prefix, got, tc.want)
		}
	}
}
