package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testJWKS is a public key set with the EC key of RFC 9449's examples.
const testJWKS = `{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}]}`

func entitlementConfig(t *testing.T, tenantExtra, entitlement string) []byte {
	t.Helper()
	return []byte(fmt.Sprintf(`state_dir: /var/lib/signerd
tenants:
  - name: scanners
    predicate_types: ["*"]
    callers:
      - uid: 1000
%s
%s
`, tenantExtra, entitlement))
}

func writeJWKS(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(testJWKS), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEntitlementConfig(t *testing.T) {
	dir := t.TempDir()
	opJWKS := writeJWKS(t, dir, "op.json")
	poeJWKS := writeJWKS(t, dir, "poe.json")
	badJWKS := filepath.Join(dir, "bad.json")
	os.WriteFile(badJWKS, []byte(`{"keys":[]}`), 0o644)

	full := fmt.Sprintf(`entitlement:
  optok:
    issuer: https://authority.example
    jwks_file: %s
    leeway: 10s
  poe:
    issuer: https://licensing.example
    jwks_file: %s
  tenants:
    scanners:
      require_poe: true
      quota: {qps: 5, burst: 10, concurrency: 2, max_body_bytes: 65536}`, opJWKS, poeJWKS)

	tests := []struct {
		name        string
		auth        string
		entitlement string
		wantPath    string
		wantMsg     string
	}{
		{name: "valid", auth: "        auth: optok-dpop", entitlement: full},
		{name: "peercred needs nothing", auth: "        auth: peercred"},
		{name: "unknown auth", auth: "        auth: password", wantPath: "tenants[0].callers[0].auth", wantMsg: "unknown auth"},
		{name: "optok without authority", auth: "        auth: optok", wantPath: "tenants[0].callers[0].auth", wantMsg: "entitlement.optok"},
		{
			name: "require_poe without licensing", auth: "",
			entitlement: "entitlement:\n  tenants:\n    scanners:\n      require_poe: true",
			wantPath:    "entitlement.tenants.scanners.require_poe", wantMsg: "entitlement.poe",
		},
		{
			name: "unknown tenant", auth: "",
			entitlement: "entitlement:\n  tenants:\n    nobody:\n      quota: {qps: 1}",
			wantPath:    "entitlement.tenants.nobody", wantMsg: "not defined",
		},
		{
			name: "empty issuer", auth: "        auth: optok",
			entitlement: "entitlement:\n  optok:\n    jwks_file: " + opJWKS,
			wantPath:    "entitlement.optok.issuer", wantMsg: "issuer is empty",
		},
		{
			name: "bad key set", auth: "        auth: optok",
			entitlement: "entitlement:\n  optok:\n    issuer: https://a.example\n    jwks_file: " + badJWKS,
			wantPath:    "entitlement.optok.jwks_file", wantMsg: "no keys",
		},
		{
			name: "same issuer for both", auth: "",
			entitlement: fmt.Sprintf("entitlement:\n  optok:\n    issuer: https://a.example\n    jwks_file: %s\n  poe:\n    issuer: https://a.example\n    jwks_file: %s", opJWKS, poeJWKS),
			wantPath:    "entitlement.poe.issuer", wantMsg: "must differ",
		},
		{
			name: "same key set for both", auth: "",
			entitlement: fmt.Sprintf("entitlement:\n  optok:\n    issuer: https://a.example\n    jwks_file: %s\n  poe:\n    issuer: https://b.example\n    jwks_file: %s", opJWKS, opJWKS),
			wantPath:    "entitlement.poe.jwks_file", wantMsg: "different file",
		},
		{
			name: "negative quota", auth: "",
			entitlement: "entitlement:\n  tenants:\n    scanners:\n      quota: {concurrency: -1}",
			wantPath:    "entitlement.tenants.scanners.quota", wantMsg: "negative",
		},
		{
			name: "leeway too large", auth: "",
			entitlement: "entitlement:\n  optok:\n    issuer: https://a.example\n    leeway: 1h\n    jwks_file: " + opJWKS,
			wantPath:    "entitlement.optok.leeway", wantMsg: "out of range",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load("test.yaml", entitlementConfig(t, tc.auth, tc.entitlement))
			if tc.wantPath == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if tc.entitlement == full {
					q := cfg.Entitlement.Tenants["scanners"].Quota
					if q.QPS != 5 || q.Burst != 10 || q.Concurrency != 2 || q.MaxBodyBytes != 65536 {
						t.Errorf("quota = %+v", q)
					}
					if cfg.Tenants[0].Callers[0].Auth != AuthOpTokDPoP {
						t.Errorf("auth = %q, want %q", cfg.Tenants[0].Callers[0].Auth, AuthOpTokDPoP)
					}
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load error = %v, want problems", err)
			}
			for _, p := range ce.Problems {
				if p.Path == tc.wantPath && strings.Contains(p.Message, tc.wantMsg) {
					if p.Line == 0 {
						t.Errorf("problem %q has no line", p)
					}
					return
				}
			}
			t.Errorf("no problem at %s mentioning %q in:\n%v", tc.wantPath, tc.wantMsg, err)
		})
	}
}
