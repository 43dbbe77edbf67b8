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
	poe := &guest.PoE{Scanner: "trivy", ScannerVersionMin: "0.50.0", ScannerVersionMax: "0.60.0"}
	cases := []struct {
		name      string
		config    string
		scanner   *guest.Scanner
		poe       *guest.PoE
		predicate []byte
		allow     bool
		reason    string
	}{
		{"inside", `{}`, &guest.Scanner{Name: "trivy", Version: "0.58.1"}, poe, trivy, true, ""},
		{"leading v", `{}`, &guest.Scanner{Name: "trivy", Version: "v0.60.0"}, poe, trivy, true, ""},
		{"too old", `{}`, &guest.Scanner{Name: "trivy", Version: "0.49.9"}, poe, trivy, false, "older than the entitlement's minimum"},
		{"pre-release of the max is inside", `{}`, &guest.Scanner{Name: "trivy", Version: "0.60.0-rc.1"}, poe, trivy, true, ""},
		{"too new", `{}`, &guest.Scanner{Name: "trivy", Version: "0.60.1"}, poe, trivy, false, "newer than the entitlement's maximum"},
		{"tenant window is narrower", `{"max":"0.55.0"}`, &guest.Scanner{Name: "trivy", Version: "0.58.1"}, poe, trivy, false, "the tenant's maximum"},
		{"other scanner", `{}`, &guest.Scanner{Name: "grype", Version: "0.58.1"}, poe, trivy, false, "covers scanner"},
		{"no declaration", `{}`, nil, poe, trivy, false, "declares no scanner version"},
		{"not semver", `{}`, &guest.Scanner{Name: "trivy", Version: "dev"}, poe, trivy, false, "not a semantic version"},
		{"no PoE", `{}`, &guest.Scanner{Name: "trivy", Version: "0.58.1"}, nil, trivy, false, "no proof of entitlement"},
		{"no PoE allowed by config", `{"require_poe":false,"min":"0.50.0"}`, &guest.Scanner{Name: "trivy", Version: "0.58.1"}, nil, trivy, true, ""},
		// The real Trivy SBOM records trivy "dev", so a declared release
		// version does not match it.
		{"SBOM tool disagrees", `{"match_predicate_tool":true}`, &guest.Scanner{Name: "trivy", Version: "0.58.1"}, poe, trivy, false, `made by trivy "dev"`},
		{"SBOM without the tool", `{"match_predicate_tool":true}`, &guest.Scanner{Name: "trivy", Version: "0.58.1"}, poe, laravel, false, "does not list scanner"},
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

func TestCompare(t *testing.T) {
	order := []string{"0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0"}
	for i := 1; i < len(order); i++ {
		a, _ := parseVersion(order[i-1])
		b, err := parseVersion(order[i])
		if err != nil {
			t.Fatal(err)
		}
		if a.compare(b) >= 0 || b.compare(a) <= 0 {
			t.Errorf("want %s < %s", order[i-1], order[i])
		}
	}
}
