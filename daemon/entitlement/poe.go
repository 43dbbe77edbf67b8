package entitlement

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/token"
)

// Claims are the claims of a PoE.
type Claims struct {
	// Claims are the registered claims (iss, sub, aud, exp, nbf, iat,
	// jti).
	jwt.Claims

	Tenant string `json:"tenant"`
	Plan   string `json:"plan"`
	Quotas Quotas `json:"quotas"`

	// ScannerVersions is a semver range such as ">=0.50.0, <0.60.0". An
	// empty range allows any version.
	ScannerVersions string `json:"scanner_versions,omitempty"`
}

// Quotas are the limits a PoE grants. Zero means the PoE sets no limit.
type Quotas struct {
	QPS              float64 `json:"qps,omitempty"`
	Burst            int     `json:"burst,omitempty"`
	Concurrency      int     `json:"concurrency,omitempty"`
	MaxArtifactBytes int64   `json:"max_artifact_bytes,omitempty"`
}

// Verifier checks PoEs against one licensing authority.
type Verifier struct {
	// Issuer is the exact iss every PoE must carry. It is never empty.
	Issuer string

	Keys *token.KeySet

	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration

	Clock *Clock

	cache *cache
}

// NewVerifier returns a verifier with a cache of cacheSize entries that
// live at most cacheTTL.
func NewVerifier(issuer string, keys *token.KeySet, leeway time.Duration, clock *Clock, cacheSize int, cacheTTL time.Duration) *Verifier {
	return &Verifier{Issuer: issuer, Keys: keys, Leeway: leeway, Clock: clock, cache: newCache(cacheSize, cacheTTL)}
}

// Entitlement is a PoE that passed every check for one request.
type Entitlement struct {
	Claims *Claims
	Cached bool
}

// Check verifies raw for tenant and the request's scanner version
// (empty when the request declares none). Errors are *api.Error values
// with PoE codes.
func (v *Verifier) Check(raw, tenant, scannerVersion string) (*Entitlement, *api.Error) {
	if v.Issuer == "" {
		return nil, api.Errorf(api.CodeInternal, "PoE verifier has no issuer configured")
	}
	now := v.Clock.Now()

	digest := sha256.Sum256([]byte(raw))
	entry, cached := v.cache.get(digest, now)
	if !cached {
		var e *api.Error
		entry, e = v.verify(raw)
		if e != nil {
			return nil, e
		}
	}

	c := entry.claims
	if err := token.CheckTimes(c.Expiry, c.NotBefore, c.IssuedAt, now, v.Leeway); err != nil {
		switch {
		case errors.Is(err, token.ErrExpired):
			note := ""
			if behind := v.Clock.Behind(); behind > 0 {
				note = fmt.Sprintf(", the latest time seen; the system clock is %s behind it", behind.Round(time.Second))
			}
			return nil, api.Errorf(api.CodePoEExpired, "PoE %v (daemon time %s%s); ask the licensing authority for a renewed PoE",
				err, now.UTC().Format(time.RFC3339), note)
		case errors.Is(err, token.ErrNotYetValid):
			return nil, api.Errorf(api.CodePoENotYetValid, "PoE is %v (daemon time %s)", err, now.UTC().Format(time.RFC3339))
		}
		return nil, api.Errorf(api.CodePoEInvalid, "PoE %v", err)
	}
	if !cached {
		v.cache.put(digest, entry, now)
	}

	if c.Tenant != tenant {
		return nil, api.Errorf(api.CodePoETenantMismatch,
			"PoE is for tenant %q but the caller belongs to tenant %q; send the PoE issued to %q", truncate(c.Tenant), tenant, tenant)
	}
	if e := checkScanner(entry, scannerVersion); e != nil {
		return nil, e
	}
	return &Entitlement{Claims: c, Cached: cached}, nil
}

// verify checks the signature and the claims that do not depend on the
// request or the time.
func (v *Verifier) verify(raw string) (*cacheEntry, *api.Error) {
	payload, err := token.VerifySigned(raw, v.Keys, api.TypePoE)
	if err != nil {
		return nil, api.Errorf(api.CodePoEInvalid, "PoE rejected: %v", err)
	}

	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, api.Errorf(api.CodePoEInvalid, "PoE claims are not valid JSON of the expected types: %v", err)
	}
	if c.Issuer != v.Issuer {
		return nil, api.Errorf(api.CodePoEInvalid, "PoE issuer %q is not the configured licensing authority %q", truncate(c.Issuer), v.Issuer)
	}
	if !slices.Contains([]string(c.Audience), api.TokenAudience) {
		return nil, api.Errorf(api.CodePoEInvalid, "PoE audience does not contain %q", api.TokenAudience)
	}
	if c.Tenant == "" {
		return nil, api.Errorf(api.CodePoEInvalid, "PoE has no tenant claim")
	}
	if c.Expiry == nil {
		return nil, api.Errorf(api.CodePoEInvalid, "PoE has no exp claim; a licence without an expiry is not accepted")
	}
	q := c.Quotas
	if q.QPS < 0 || q.Burst < 0 || q.Concurrency < 0 || q.MaxArtifactBytes < 0 {
		return nil, api.Errorf(api.CodePoEInvalid, "PoE quotas must not be negative")
	}

	entry := &cacheEntry{claims: &c}
	if c.ScannerVersions != "" {
		constraint, err := semver.NewConstraint(c.ScannerVersions)
		if err != nil {
			return nil, api.Errorf(api.CodePoEInvalid, "PoE scanner_versions %q is not a semver range: %v", truncate(c.ScannerVersions), err)
		}
		entry.versions = constraint
	}
	return entry, nil
}

// checkScanner applies the PoE's scanner version range.
func checkScanner(entry *cacheEntry, version string) *api.Error {
	if entry.versions == nil {
		return nil
	}
	if version == "" {
		return api.FieldErrorf(api.CodeScannerVersionNotEntitled, "scanner.version",
			"the PoE allows scanner versions %q but the request declares none; set scanner.version", entry.claims.ScannerVersions)
	}
	sv, err := semver.StrictNewVersion(version)
	if err != nil {
		return api.FieldErrorf(api.CodeScannerVersionNotEntitled, "scanner.version",
			"scanner.version %q is not a semantic version such as 0.58.1", truncate(version))
	}
	if !entry.versions.Check(sv) {
		return api.FieldErrorf(api.CodeScannerVersionNotEntitled, "scanner.version",
			"scanner version %s is outside the PoE's range %q", sv, entry.claims.ScannerVersions)
	}
	return nil
}

func truncate(s string) string {
	if len(s) <= 64 {
		return s
	}
	return fmt.Sprintf("%s...", s[:64])
}
