package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/signerd/signerd/guest"
	"github.com/signerd/signerd/test/testenv"
)

func TestCheck(t *testing.T) {
	sbom, err := os.ReadFile(testenv.RealWorld(t, "cyclonedx/trivy_npm-cyclonedx_1.6.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := `{"registries":["ghcr.io"],"repositories":["docker.io/library/alpine","quay.io/acme/*"]}`
	cases := []struct {
		name     string
		config   string
		subjects []string
		allow    bool
		reason   string
	}{
		{"registry", cfg, []string{"ghcr.io/anyone/app@sha256:" + strings.Repeat("a", 64)}, true, ""},
		{"official image", cfg, []string{"alpine:3.20"}, true, ""},
		{"repository prefix", cfg, []string{"quay.io/acme/team/app:v1"}, true, ""},
		{"prefix is not a substring", cfg, []string{"quay.io/acme-evil/app"}, false, "not on the tenant's allow-list"},
		{"one bad subject denies", cfg, []string{"ghcr.io/a/b", "docker.io/evil/alpine"}, false, "docker.io/evil/alpine"},
		{"not an image", cfg, []string{"pkg:npm/jquery@3.3.1"}, false, ""},
		{"dot segment", cfg, []string{"quay.io/acme/../evil/app"}, false, "dot path component"},
		{"empty config", `{}`, []string{"ghcr.io/a/b"}, false, "lists no registries"},
		{"misspelt config", `{"registry":["ghcr.io"]}`, []string{"ghcr.io/a/b"}, false, "unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := &guest.Request{ABIVersion: 1, PredicateType: "https://cyclonedx.org/bom", Predicate: sbom, Config: json.RawMessage(tc.config)}
			for _, s := range tc.subjects {
				req.Subjects = append(req.Subjects, guest.Subject{Name: s, Digest: map[string]string{"sha256": strings.Repeat("b", 64)}})
			}
			d := check(req)
			if d.Allow != tc.allow {
				t.Fatalf("check() = %+v, want allow=%v", d, tc.allow)
			}
			if tc.reason != "" && !strings.Contains(strings.Join(d.Reasons, "\n"), tc.reason) {
				t.Fatalf("reasons %q do not mention %q", d.Reasons, tc.reason)
			}
		})
	}
}
