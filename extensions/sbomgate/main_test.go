package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/signerd/signerd/guest"
	"github.com/signerd/signerd/test/testenv"
)

const (
	cdx      = "https://cyclonedx.org/bom"
	spdxType = "https://spdx.dev/Document/v2.3"
)

func TestCheckRealSBOMs(t *testing.T) {
	cases := []struct {
		name, file, predType, config string
		allow                        bool
		reason                       string
	}{
		{"trivy npm: 12 libraries, all complete", "cyclonedx/trivy_npm-cyclonedx_1.6.cdx.json", cdx, `{}`, true, "12 of 12"},
		{"laravel: 62 composer packages", "cyclonedx/bom-examples_laravel-7.12.0_bom.1.4.cdx.json", cdx, `{}`, true, "62 of 62"},
		{"laravel over the component cap", "cyclonedx/bom-examples_laravel-7.12.0_bom.1.4.cdx.json", cdx, `{"max_components":50}`, false, "at most 50"},
		{"trivy counting applications too", "cyclonedx/trivy_npm-cyclonedx_1.6.cdx.json", cdx, `{"component_types":["library","application"]}`, false, "package-lock.json lacks version and purl"},
		{"trivy with relaxed coverage", "cyclonedx/trivy_npm-cyclonedx_1.6.cdx.json", cdx, `{"component_types":["library","application"],"min_coverage":0.9}`, true, "12 of 13"},
		{"SPDX hello: package without version or purl", "spdx/spdx-examples_example10_hello-source.spdx.json", spdxType, `{}`, false, "hello lacks version and purl"},
		{"CycloneDX file sent as SPDX", "cyclonedx/trivy_npm-cyclonedx_1.6.cdx.json", spdxType, `{}`, false, "spdxVersion"},
		{"SPDX file sent as CycloneDX", "spdx/spdx-examples_example10_hello-source.spdx.json", cdx, `{}`, false, "bomFormat"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pred, err := os.ReadFile(testenv.RealWorld(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			d := check(&guest.Request{ABIVersion: 1, PredicateType: tc.predType, Predicate: pred, Config: json.RawMessage(tc.config)})
			if d.Allow != tc.allow {
				t.Fatalf("check() = %+v, want allow=%v", d, tc.allow)
			}
			if !strings.Contains(strings.Join(d.Reasons, "\n"), tc.reason) {
				t.Fatalf("reasons %q do not mention %q", d.Reasons, tc.reason)
			}
		})
	}
}

func TestCheckOther(t *testing.T) {
	cases := []struct {
		name   string
		req    guest.Request
		allow  bool
		reason string
	}{
		{"not an SBOM", guest.Request{PredicateType: "https://slsa.dev/provenance/v1"}, true, "does not apply"},
		{"not an SBOM, denied", guest.Request{PredicateType: "https://slsa.dev/provenance/v1", Config: json.RawMessage(`{"other_predicates":"deny"}`)}, false, "not an SBOM"},
		{"omitted predicate", guest.Request{PredicateType: cdx, PredicateOmitted: true}, false, "max_predicate_bytes"},
		{"bad coverage", guest.Request{PredicateType: cdx, Config: json.RawMessage(`{"min_coverage":2}`)}, false, "inconsistent"},
		{"empty SBOM", guest.Request{PredicateType: cdx, Predicate: json.RawMessage(`{"bomFormat":"CycloneDX","components":[]}`)}, false, "at least 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := check(&tc.req)
			if d.Allow != tc.allow || !strings.Contains(strings.Join(d.Reasons, "\n"), tc.reason) {
				t.Fatalf("check() = %+v, want allow=%v mentioning %q", d, tc.allow, tc.reason)
			}
		})
	}
}
