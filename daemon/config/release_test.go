package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testPublicKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// releaseConfig returns a config whose only tenant has the given
// release_integrity body and whose release section is release.
func releaseConfig(integrity, release string) string {
	return fmt.Sprintf(`tenants:
  - name: scanners
    predicate_types: ["*"]
    callers:
      - uid: 0
    release_integrity:
%s
release:
%s
`, indent(integrity, 6), indent(release, 2))
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := range lines {
		lines[i] = pad + lines[i]
	}
	return strings.Join(lines, "\n")
}

func TestReleaseConfigValid(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "publisher.pub")
	if err := os.WriteFile(keyFile, []byte(testPublicKeyPEM(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	inline := fmt.Sprintf("%q", testPublicKeyPEM(t))

	cfg, err := Load("test.yaml", []byte(releaseConfig(fmt.Sprintf(`
required: true
trusted_keys:
  - name: publisher
    file: %s
  - name: inline
    pem: %s
signature_kinds: [sigstore-bundle]
attestation_predicate_type: https://example.com/release/v1
`, keyFile, inline), `
request_timeout: 2s
insecure_registries: ["127.0.0.1:5000"]
layouts:
  - repository: registry.example.com/scanners/trivy
    path: /var/lib/signerd/oci
cache:
  max_entries: 10
  positive_ttl: 1m
  negative_ttl: 5s
`)))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	ri := cfg.Tenants[0].ReleaseIntegrity
	if ri == nil || !ri.Required || len(ri.TrustedKeys) != 2 {
		t.Fatalf("release_integrity = %+v, want required with two keys", ri)
	}
	if got := ri.Kinds(); len(got) != 1 || got[0] != SignatureKindSigstoreBundle {
		t.Errorf("Kinds() = %v, want [sigstore-bundle]", got)
	}
	if cfg.Release.Cache.MaxEntries != 10 {
		t.Errorf("cache.max_entries = %d, want 10", cfg.Release.Cache.MaxEntries)
	}
}

func TestReleaseConfigProblems(t *testing.T) {
	key := fmt.Sprintf("%q", testPublicKeyPEM(t))
	tests := []struct {
		name      string
		integrity string
		release   string
		want      string
	}{
		{"required without keys", "required: true", "request_timeout: 1s", "no trusted keys are listed"},
		{"key without pem or file", "trusted_keys:\n  - name: a", "request_timeout: 1s", "set exactly one of pem and file"},
		{"key that is not PEM", "trusted_keys:\n  - name: a\n    pem: nonsense", "request_timeout: 1s", "no PEM \"PUBLIC KEY\" block"},
		{"missing key file", "trusted_keys:\n  - name: a\n    file: /nonexistent/key.pub", "request_timeout: 1s", "read trusted key"},
		{"relative key file", "trusted_keys:\n  - name: a\n    file: key.pub", "request_timeout: 1s", "absolute, clean path"},
		{"duplicate key name", "trusted_keys:\n  - name: a\n    pem: " + key + "\n  - name: a\n    pem: " + key, "request_timeout: 1s", "listed twice"},
		{"unknown kind", "signature_kinds: [pgp]", "request_timeout: 1s", "unknown signature kind"},
		{"relative predicate type", "attestation_predicate_type: release", "request_timeout: 1s", "not an absolute URI"},
		{"zero timeout", "required: false", "request_timeout: 0s", "timeout must be positive"},
		{"check shorter than request", "required: false", "request_timeout: 10s\ncheck_timeout: 5s", "shorter than request_timeout"},
		{"check over write timeout", "required: false", "check_timeout: 45s", "http.write_timeout"},
		{"layout without registry", "required: false", "layouts:\n  - repository: scanner\n    path: /srv/oci", "REGISTRY/REPOSITORY"},
		{"relative layout path", "required: false", "layouts:\n  - repository: r.example/s\n    path: oci", "absolute, clean path"},
		{"cache too small", "required: false", "cache:\n  max_entries: 0", "out of range"},
		{"insecure registry with path", "required: false", "insecure_registries: [\"r.example/x\"]", "not a host"},
		{"unknown field", "requried: true", "request_timeout: 1s", "requried"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("test.yaml", []byte(releaseConfig(tc.integrity, tc.release)))
			if err == nil {
				t.Fatal("Load succeeded, want a problem")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
