package config

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Signature kinds a tenant can accept as a release signature.
const (
	// SignatureKindSigstoreBundle is a Sigstore bundle v0.3 attached as an
	// OCI referrer, as cosign v3 writes it.
	SignatureKindSigstoreBundle = "sigstore-bundle"

	// SignatureKindCosignLegacy is a cosign simple-signing payload under
	// the sha256-HEX.sig tag, as cosign v2 writes it.
	SignatureKindCosignLegacy = "cosign-legacy"
)

// ReleaseConfig sets how the daemon reads registries when it checks
// scanner images' release signatures. Which images need a signature, and
// whose, is tenant policy (Tenant.ReleaseIntegrity).
type ReleaseConfig struct {
	// RequestTimeout bounds each registry request.
	RequestTimeout Duration `yaml:"request_timeout"`

	// CheckTimeout bounds one whole check, which makes several requests.
	CheckTimeout Duration `yaml:"check_timeout"`

	// InsecureRegistries lists registries (host or host:port) reached over
	// plain HTTP. Every other registry is reached over TLS.
	InsecureRegistries []string `yaml:"insecure_registries"`

	// Layouts lists OCI image layout directories that replace the
	// registry for some repositories on air-gapped nodes.
	Layouts []ReleaseLayout `yaml:"layouts"`

	Cache ReleaseCacheConfig `yaml:"cache"`
}

// ReleaseLayout maps one repository to an OCI image layout directory.
type ReleaseLayout struct {
	// Repository is REGISTRY/REPOSITORY, for example
	// registry.example.com/scanners/trivy.
	Repository string `yaml:"repository"`

	// Path is the layout directory (it holds oci-layout and index.json).
	Path string `yaml:"path"`
}

// ReleaseCacheConfig bounds the verdict cache.
type ReleaseCacheConfig struct {
	// MaxEntries bounds the positive and the negative cache, each.
	MaxEntries int `yaml:"max_entries"`

	// PositiveTTL is how long a verified verdict is reused.
	PositiveTTL Duration `yaml:"positive_ttl"`

	// NegativeTTL is how long any other verdict is reused. Zero disables
	// negative caching.
	NegativeTTL Duration `yaml:"negative_ttl"`
}

// ReleaseIntegrity is a tenant's policy for the scanner image named in
// sign requests.
type ReleaseIntegrity struct {
	// Required makes every sign request name a scanner image by digest
	// whose release signature verifies against TrustedKeys.
	Required bool `yaml:"required"`

	// TrustedKeys lists the publishers' release keys.
	TrustedKeys []TrustedKey `yaml:"trusted_keys"`

	// SignatureKinds lists the kinds that count; empty means both
	// sigstore-bundle and cosign-legacy.
	SignatureKinds []string `yaml:"signature_kinds"`

	// AttestationPredicateType is the only predicate type for which a
	// key-signed in-toto attestation bundle counts as a release signature.
	// Empty means attestations never count; plain cosign signature bundles
	// (predicate https://sigstore.dev/cosign/sign/v1) always do.
	AttestationPredicateType string `yaml:"attestation_predicate_type"`
}

// TrustedKey is one PEM public key, inline or from a file.
type TrustedKey struct {
	// Name labels the key in logs and errors.
	Name string `yaml:"name"`

	// PEM is the PKIX public key in PEM form.
	PEM string `yaml:"pem"`

	// File is the path of a PEM public key file, read at load and reload.
	File string `yaml:"file"`
}

// DefaultRelease returns the defaults of the release section.
func DefaultRelease() ReleaseConfig {
	return ReleaseConfig{
		RequestTimeout: Duration(10 * time.Second),
		CheckTimeout:   Duration(20 * time.Second),
		Cache: ReleaseCacheConfig{
			MaxEntries:  1024,
			PositiveTTL: Duration(10 * time.Minute),
			NegativeTTL: Duration(30 * time.Second),
		},
	}
}

// PEMBytes returns the key's PEM text, reading File when it is set.
func (k *TrustedKey) PEMBytes() ([]byte, error) {
	if k.File == "" {
		return []byte(k.PEM), nil
	}
	data, err := os.ReadFile(k.File)
	if err != nil {
		return nil, fmt.Errorf("read trusted key %q: %w", k.Name, err)
	}
	return data, nil
}

// Kinds returns the accepted signature kinds with the default applied.
func (r *ReleaseIntegrity) Kinds() []string {
	if len(r.SignatureKinds) == 0 {
		return []string{SignatureKindSigstoreBundle, SignatureKindCosignLegacy}
	}
	return r.SignatureKinds
}

func (v *validator) checkRelease(cfg *Config) {
	c := &cfg.Release
	if c.CheckTimeout >= cfg.HTTP.WriteTimeout {
		v.addf("release.check_timeout", "check timeout %s is not shorter than http.write_timeout %s, so a sign request could time out before its verdict is written; lower it",
			c.CheckTimeout.String(), cfg.HTTP.WriteTimeout.String())
	}
	if c.RequestTimeout <= 0 {
		v.addf("release.request_timeout", "timeout must be positive, got %s", c.RequestTimeout.String())
	}
	if c.CheckTimeout < c.RequestTimeout {
		v.addf("release.check_timeout", "check timeout %s is shorter than request_timeout %s; a check makes several requests",
			c.CheckTimeout.String(), c.RequestTimeout.String())
	}
	for i, host := range c.InsecureRegistries {
		if host == "" || strings.ContainsAny(host, "/ ") {
			v.addf(fmt.Sprintf("release.insecure_registries[%d]", i), "registry %q is not a host or host:port", host)
		}
	}
	for i, l := range c.Layouts {
		path := fmt.Sprintf("release.layouts[%d]", i)
		if l.Repository == "" || !strings.Contains(l.Repository, "/") {
			v.addf(path+".repository", "repository %q must be REGISTRY/REPOSITORY", l.Repository)
		}
		if !AbsPath(l.Path) {
			v.addf(path+".path", "layout path %q must be an absolute, clean path", l.Path)
		}
	}
	if c.Cache.MaxEntries < 1 || c.Cache.MaxEntries > 1<<20 {
		v.addf("release.cache.max_entries", "%d is out of range; use 1 to 1048576", c.Cache.MaxEntries)
	}
	if c.Cache.PositiveTTL < 0 {
		v.addf("release.cache.positive_ttl", "TTL must not be negative, got %s", c.Cache.PositiveTTL.String())
	}
	if c.Cache.NegativeTTL < 0 {
		v.addf("release.cache.negative_ttl", "TTL must not be negative, got %s", c.Cache.NegativeTTL.String())
	}
}

// checkTrustedKey checks that k names one readable PEM public key, inline
// or in a file. path is the key's path in the config.
func (v *validator) checkTrustedKey(path string, k *TrustedKey) {
	if (k.PEM == "") == (k.File == "") {
		v.addf(path, "set exactly one of pem and file")
		return
	}
	if k.File != "" && !AbsPath(k.File) {
		v.addf(path+".file", "key file %q must be an absolute, clean path", k.File)
		return
	}
	data, err := k.PEMBytes()
	if err != nil {
		v.addf(path, "%v", err)
		return
	}
	if err := checkPublicKeyPEM(data); err != nil {
		v.addf(path, "key %q: %v", k.Name, err)
	}
}

// checkReleaseIntegrity checks one tenant's release policy. path is the
// tenant's path, for example tenants[0].
func (v *validator) checkReleaseIntegrity(path string, r *ReleaseIntegrity) {
	path += ".release_integrity"
	if r.Required && len(r.TrustedKeys) == 0 {
		v.addf(path+".trusted_keys", "release integrity is required but no trusted keys are listed, so no image could pass; add the publisher's PEM public key")
	}

	names := map[string]bool{}
	for i := range r.TrustedKeys {
		k := &r.TrustedKeys[i]
		kp := fmt.Sprintf("%s.trusted_keys[%d]", path, i)
		if k.Name == "" {
			v.addf(kp+".name", "trusted key has no name; name it after its publisher")
		}
		if names[k.Name] {
			v.addf(kp+".name", "trusted key %q is listed twice", k.Name)
		}
		names[k.Name] = true

		v.checkTrustedKey(kp, k)
	}

	for i, kind := range r.SignatureKinds {
		switch kind {
		case SignatureKindSigstoreBundle, SignatureKindCosignLegacy:
		default:
			v.addf(fmt.Sprintf("%s.signature_kinds[%d]", path, i), "unknown signature kind %q; use %s or %s",
				kind, SignatureKindSigstoreBundle, SignatureKindCosignLegacy)
		}
	}

	if pt := r.AttestationPredicateType; pt != "" {
		if u, err := url.Parse(pt); err != nil || !u.IsAbs() {
			v.addf(path+".attestation_predicate_type", "predicate type %q is not an absolute URI", pt)
		}
	}
}

// checkPublicKeyPEM checks that data is exactly one PEM PUBLIC KEY block
// with a PKIX public key that Go's x509 package parses.
func checkPublicKeyPEM(data []byte) error {
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return fmt.Errorf("no PEM \"PUBLIC KEY\" block found")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return fmt.Errorf("data follows the PEM block; list one key per entry")
	}
	if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
		return fmt.Errorf("invalid public key: %v", err)
	}
	return nil
}
