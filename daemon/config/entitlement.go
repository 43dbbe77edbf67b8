package config

import (
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/signerd/signerd/daemon/token"
)

// Caller authentication modes, the values of CallerRule.Auth.
const (
	// AuthPeerCred admits a caller on its kernel peer credentials alone.
	AuthPeerCred = "peercred"

	// AuthOpTok also requires an OpTok for the caller's tenant, with a
	// DPoP proof when the token is bound.
	AuthOpTok = "optok"

	// AuthOpTokDPoP also requires the OpTok to be DPoP-bound.
	AuthOpTokDPoP = "optok-dpop"
)

// Defaults of the entitlement section, applied where a value is zero.
const (
	DefaultTokenLeeway     = 30 * time.Second
	DefaultProofMaxAge     = 60 * time.Second
	DefaultProofLeeway     = 5 * time.Second
	DefaultReplayCacheSize = 100_000
	DefaultNoncePeriod     = 5 * time.Minute
	DefaultPoECacheSize    = 1024
	DefaultPoECacheTTL     = 10 * time.Minute
)

// EntitlementConfig configures operator tokens, DPoP, Proofs-of-Entitlement
// and per-tenant quotas.
type EntitlementConfig struct {
	// OpTok names the Authority that issues operator tokens. Required when
	// a caller rule has auth optok or optok-dpop.
	OpTok *IssuerConfig `yaml:"optok"`

	DPoP DPoPConfig `yaml:"dpop"`

	// PoE names the licensing authority that signs PoEs. Required when a
	// tenant has require_poe.
	PoE *IssuerConfig `yaml:"poe"`

	// Tenants maps a tenant name to its entitlement settings.
	Tenants map[string]TenantEntitlement `yaml:"tenants"`
}

// IssuerConfig names a token issuer and its public keys.
type IssuerConfig struct {
	// Issuer is the exact iss claim the tokens carry.
	Issuer string `yaml:"issuer"`

	// JWKSFile is the issuer's public key set, re-read at every reload.
	JWKSFile string `yaml:"jwks_file"`

	// Leeway is the clock skew allowed on exp, nbf and iat; default 30s.
	Leeway Duration `yaml:"leeway"`

	// CacheSize and CacheTTL bound the cache of verified PoEs (PoE only).
	CacheSize int      `yaml:"cache_size"`
	CacheTTL  Duration `yaml:"cache_ttl"`
}

// DPoPConfig bounds DPoP proofs.
type DPoPConfig struct {
	// ProofMaxAge is the maximum age of a proof's iat; default 60s.
	ProofMaxAge Duration `yaml:"proof_max_age"`

	// ProofLeeway is the maximum time a proof's iat may lie in the
	// future; default 5s.
	ProofLeeway Duration `yaml:"proof_leeway"`

	// ReplayCacheSize bounds the proofs remembered against replay; when
	// it is full, new proofs are rejected. Default 100000.
	ReplayCacheSize int `yaml:"replay_cache_size"`

	// NoncePeriod is how often the server nonce changes; a nonce is
	// accepted for up to two periods. Default 5m.
	NoncePeriod Duration `yaml:"nonce_period"`
}

// TenantEntitlement is one tenant's entitlement settings.
type TenantEntitlement struct {
	// RequirePoE rejects the tenant's requests that carry no valid PoE.
	RequirePoE bool `yaml:"require_poe"`

	// Quota is the tenant's limit from the node's config. A PoE can lower
	// it, never raise it.
	Quota QuotaConfig `yaml:"quota"`
}

// QuotaConfig is a tenant's quota. Zero means no limit.
type QuotaConfig struct {
	QPS          float64 `yaml:"qps"`
	Burst        int     `yaml:"burst"`
	Concurrency  int     `yaml:"concurrency"`
	MaxBodyBytes int64   `yaml:"max_body_bytes"`
}

// Or returns d, or def when d is zero.
func (d Duration) Or(def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

func (v *validator) checkRuleAuth(path string, r *CallerRule) {
	switch r.Auth {
	case "", AuthPeerCred, AuthOpTok, AuthOpTokDPoP:
	default:
		v.addf(path+".auth", "unknown auth %q; use %s, %s or %s", r.Auth, AuthPeerCred, AuthOpTok, AuthOpTokDPoP)
	}
}

func (v *validator) checkEntitlement(c *Config) {
	e := &c.Entitlement

	needOpTok, needPoE := false, false
	tenants := map[string]bool{}
	for i, t := range c.Tenants {
		tenants[t.Name] = true
		for j, r := range t.Callers {
			if (r.Auth == AuthOpTok || r.Auth == AuthOpTokDPoP) && e.OpTok == nil && !needOpTok {
				v.addf(fmt.Sprintf("tenants[%d].callers[%d].auth", i, j),
					"auth %s needs an Authority; configure entitlement.optok with issuer and jwks_file", r.Auth)
				needOpTok = true
			}
		}
	}

	names := make([]string, 0, len(e.Tenants))
	for name := range e.Tenants {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		te := e.Tenants[name]
		path := "entitlement.tenants." + name
		if !tenants[name] {
			v.addf(path, "tenant %q is not defined under tenants", name)
		}
		if te.RequirePoE && e.PoE == nil && !needPoE {
			v.addf(path+".require_poe", "require_poe needs a licensing authority; configure entitlement.poe with issuer and jwks_file")
			needPoE = true
		}
		q := te.Quota
		if q.QPS < 0 || q.Burst < 0 || q.Concurrency < 0 || q.MaxBodyBytes < 0 {
			v.addf(path+".quota", "quota values must not be negative; use 0 for no limit")
		}
		if q.Burst > 0 && q.QPS == 0 {
			v.addf(path+".quota.burst", "burst is set without qps; set qps too")
		}
	}

	if e.OpTok != nil {
		v.checkIssuer("entitlement.optok", e.OpTok)
	}
	if e.PoE != nil {
		v.checkIssuer("entitlement.poe", e.PoE)
	}
	if e.OpTok != nil && e.PoE != nil {
		if e.OpTok.Issuer == e.PoE.Issuer {
			v.addf("entitlement.poe.issuer", "the licensing issuer must differ from the OpTok issuer %q, so one kind of token can never pass as the other", e.OpTok.Issuer)
		}
		if e.OpTok.JWKSFile == e.PoE.JWKSFile {
			v.addf("entitlement.poe.jwks_file", "the licensing key set must be a different file from the OpTok key set")
		}
	}

	d := e.DPoP
	for _, x := range []struct {
		path string
		val  Duration
	}{
		{"entitlement.dpop.proof_max_age", d.ProofMaxAge},
		{"entitlement.dpop.proof_leeway", d.ProofLeeway},
		{"entitlement.dpop.nonce_period", d.NoncePeriod},
	} {
		if x.val < 0 {
			v.addf(x.path, "duration must not be negative, got %s", x.val)
		}
	}
	if d.ReplayCacheSize < 0 {
		v.addf("entitlement.dpop.replay_cache_size", "must not be negative, got %d", d.ReplayCacheSize)
	}
}

func (v *validator) checkIssuer(path string, ic *IssuerConfig) {
	if ic.Issuer == "" {
		v.addf(path+".issuer", "issuer is empty; set the exact iss value the tokens carry")
	} else if u, err := url.Parse(ic.Issuer); err != nil || !u.IsAbs() {
		v.addf(path+".issuer", "issuer %q is not an absolute URI", ic.Issuer)
	}
	if !AbsPath(ic.JWKSFile) {
		v.addf(path+".jwks_file", "key set path %q must be an absolute, clean path", ic.JWKSFile)
	} else if _, err := token.LoadKeySet(ic.JWKSFile); err != nil {
		v.addf(path+".jwks_file", "%v", err)
	}
	if ic.Leeway < 0 || time.Duration(ic.Leeway) > 5*time.Minute {
		v.addf(path+".leeway", "leeway %s is out of range; use 0s to 5m", ic.Leeway)
	}
	if ic.CacheSize < 0 || ic.CacheTTL < 0 {
		v.addf(path, "cache_size and cache_ttl must not be negative")
	}
}
