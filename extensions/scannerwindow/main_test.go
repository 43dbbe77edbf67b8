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
	trivy, err := os.ReadFile(testenv.RealWorld(t, "cyclonedx/trivy_npm-cyclonedx_1.6.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	laravel, err := os.ReadFile(testenv.RealWorld(t, "cyclonedx/bom-examples_laravel-7.12.0_bom.1.4.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	poe := &guest.PoE{Issuer: "https://licensing.example.com", Tenant: "team-a", ScannerVersions: ">=0.50.0, <0.60.0"}
	trivyAt := func(v string) *guest.Scanner { return &guest.Scanner{Name: "trivy", Version: v} }
	cases := []struct {
		name      string
		config    string
		scanner   *guest.Scanner
		poe       *guest.PoE
		predicate []byte
		allow     bool
		reason    string
	}{
		{"inside", `{}`, trivyAt("0.58.1"), poe, trivy, true, ""},
		{"leading v", `{}`, trivyAt("v0.59.0"), poe, trivy, true, ""},
		{"too old", `{}`, trivyAt("0.49.9"), poe, trivy, false, `outside the entitlement's range ">=0.50.0, <0.60.0"`},
		{"upper bound is exclusive", `{}`, trivyAt("0.60.0"), poe, trivy, false, "outside the entitlement's range"},
		{"open PoE range", `{}`, trivyAt("9.0.0"), &guest.PoE{Tenant: "team-a"}, trivy, true, ""},
		{"tenant range is narrower", `{"versions":"<0.55.0"}`, trivyAt("0.58.1"), poe, trivy, false, "outside the tenant's range"},
		{"invalid tenant range", `{"versions":"~>banana"}`, trivyAt("0.58.1"), poe, trivy, false, "is invalid"},
		{"other scanner", `{"scanner":"trivy"}`, &guest.Scanner{Name: "grype", Version: "0.58.1"}, poe, trivy, false, `"grype" is not "trivy"`},
		{"no declaration", `{}`, nil, poe, trivy, false, "declares no scanner version"},
		{"not semver", `{}`, trivyAt("dev"), poe, trivy, false, "not a semantic version"},
		{"no PoE", `{}`, trivyAt("0.58.1"), nil, trivy, false, "no proof of entitlement"},
		{"no PoE allowed by config", `{"require_poe":false,"versions":">=0.50.0"}`, trivyAt("0.58.1"), nil, trivy, true, ""},
		// The real Trivy SBOM records trivy "dev", so a declared release
		// version does not match it.
		{"SBOM tool disagrees", `{"match_predicate_tool":true}`, trivyAt("0.58.1"), poe, trivy, false, `made by trivy "dev"`},
		{"SBOM without the tool", `{"match_predicate_tool":true}`, trivyAt("0.58.1"), poe, laravel, false, `does not list scanner "trivy"`},
		{"misspelt config", `{"version":">=1.0.0"}`, trivyAt("0.58.1"), poe, trivy, false, "unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := &guest.Request{ABIVersion: 1, PredicateType: "https://cyclonedx.org/bom", Predicate: tc.predicate,
				Scanner: tc.scanner, PoE: tc.poe, Config: json.RawMessage(tc.config)}
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
