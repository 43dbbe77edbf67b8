package pipeline

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/entitlement"
	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/metrics"
	"github.com/signerd/signerd/daemon/quota"
	"github.com/signerd/signerd/daemon/token"
)

// entitlementRuntime is the entitlement state that must outlive a reload:
// the DPoP nonce secret, the replay cache, the quota buckets and the clock
// high-water mark. A reload that reset them would make used proofs valid
// again and refill the buckets. There is one runtime per state directory,
// so tests that run several daemons in one process keep them apart.
type entitlementRuntime struct {
	nonces *token.NonceSource
	replay *token.ReplayCache
	quotas *quota.Manager
	clock  *entitlement.Clock
}

var (
	runtimesMu sync.Mutex
	runtimes   = map[string]*entitlementRuntime{}
)

// runtimeFor returns the runtime of cfg's state directory, creating it on
// first use. The replay cache size and nonce period are read then; later
// changes take effect at restart.
func runtimeFor(cfg *config.Config) (*entitlementRuntime, error) {
	runtimesMu.Lock()
	defer runtimesMu.Unlock()
	if rt, ok := runtimes[cfg.StateDir]; ok {
		return rt, nil
	}

	d := cfg.Entitlement.DPoP
	size := d.ReplayCacheSize
	if size == 0 {
		size = config.DefaultReplayCacheSize
	}
	// TODO: pass the daemon's logger once NewState takes one. Until then
	// the clock's warnings go to slog.Default, in its default format.
	clock, err := entitlement.OpenClock(filepath.Join(cfg.StateDir, entitlement.ClockFile), nil, nil)
	if err != nil {
		return nil, err
	}
	rt := &entitlementRuntime{
		nonces: token.NewNonceSource(d.NoncePeriod.Or(config.DefaultNoncePeriod)),
		replay: token.NewReplayCache(size),
		quotas: quota.NewManager(),
		clock:  clock,
	}
	runtimes[cfg.StateDir] = rt
	return rt, nil
}

// entitlementStage checks OpToks, DPoP proofs, PoEs and quotas. Its key
// sets are read when the State is built, so a reload re-reads them.
type entitlementStage struct {
	rt      *entitlementRuntime
	auth    *token.Authenticator
	poe     *entitlement.Verifier
	tenants map[string]config.TenantEntitlement
}

func newEntitlementStage(cfg *config.Config) (*entitlementStage, error) {
	rt, err := runtimeFor(cfg)
	if err != nil {
		return nil, err
	}
	e := cfg.Entitlement
	st := &entitlementStage{rt: rt, tenants: e.Tenants}

	if e.OpTok != nil {
		keys, err := token.LoadKeySet(e.OpTok.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("OpTok key set %s: %w", e.OpTok.JWKSFile, err)
		}
		st.auth = &token.Authenticator{
			OpTok: &token.OpTokVerifier{
				Issuer: e.OpTok.Issuer,
				Keys:   keys,
				Leeway: e.OpTok.Leeway.Or(config.DefaultTokenLeeway),
			},
			ProofMaxAge: e.DPoP.ProofMaxAge.Or(config.DefaultProofMaxAge),
			ProofLeeway: e.DPoP.ProofLeeway.Or(config.DefaultProofLeeway),
			Nonces:      rt.nonces,
			Replay:      rt.replay,
		}
	}

	if e.PoE != nil {
		keys, err := token.LoadKeySet(e.PoE.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("PoE key set %s: %w", e.PoE.JWKSFile, err)
		}
		size := e.PoE.CacheSize
		if size == 0 {
			size = config.DefaultPoECacheSize
		}
		st.poe = entitlement.NewVerifier(e.PoE.Issuer, keys, e.PoE.Leeway.Or(config.DefaultTokenLeeway),
			rt.clock, size, e.PoE.CacheTTL.Or(config.DefaultPoECacheTTL))
	}
	return st, nil
}

// entitle runs the token, PoE and quota checks for req's tenant. On
// success the caller must call release when the request ends.
func (s *State) entitle(req *Request) (release func(), attrs []slog.Attr, err error) {
	st := s.entitlement
	tenant, auth, reason := s.Policy.MatchAuth(req.Caller)
	if tenant == nil {
		return nil, nil, api.Errorf(api.CodeForbidden, "%s", reason)
	}

	if auth == config.AuthOpTok || auth == config.AuthOpTokDPoP {
		if st.auth == nil {
			return nil, nil, api.Errorf(api.CodeInternal, "caller rule requires an OpTok but no Authority is configured")
		}
		claims, e := st.auth.Authenticate(&token.Request{
			Method:        req.Method,
			Path:          req.Path,
			Authorization: req.Authorization,
			DPoP:          req.DPoP,
		}, tenant.Name, auth == config.AuthOpTokDPoP, time.Now())
		if e != nil {
			return nil, nil, e
		}
		attrs = append(attrs, slog.String(logkey.TokenSubject, truncate(claims.Subject, 128)), slog.Bool(logkey.TokenBound, claims.Bound()))
	}

	te := st.tenants[tenant.Name]
	limits := quota.Limits{
		QPS:          te.Quota.QPS,
		Burst:        te.Quota.Burst,
		Concurrency:  te.Quota.Concurrency,
		MaxBodyBytes: te.Quota.MaxBodyBytes,
	}

	if te.RequirePoE {
		ent, e := st.checkPoE(req, tenant.Name)
		if e != nil {
			return nil, attrs, e
		}
		req.poeClaims = ent.Claims
		q := ent.Claims.Quotas
		limits = quota.Stricter(limits, quota.Limits{
			QPS: q.QPS, Burst: q.Burst, Concurrency: q.Concurrency, MaxBodyBytes: q.MaxArtifactBytes,
		})
		attrs = append(attrs, slog.String(logkey.PoEPlan, truncate(ent.Claims.Plan, 64)))
	}

	release, e := st.rt.quotas.Acquire(tenant.Name, limits, req.BodyBytes, time.Now())
	if e != nil {
		metrics.ObserveQuotaRejection(tenant.Name, e.Quota)
		return nil, attrs, e
	}
	return release, attrs, nil
}

func (st *entitlementStage) checkPoE(req *Request, tenant string) (*entitlement.Entitlement, *api.Error) {
	if st.poe == nil {
		return nil, api.Errorf(api.CodeInternal, "tenant requires a PoE but no licensing authority is configured")
	}
	switch len(req.PoE) {
	case 0:
		return nil, api.Errorf(api.CodePoEMissing, "tenant %q requires a Proof-of-Entitlement; send it in the %s header (signerctl sign --poe FILE)", tenant, api.HeaderPoE)
	case 1:
	default:
		return nil, api.Errorf(api.CodePoEInvalid, "request has %d %s headers; send exactly one", len(req.PoE), api.HeaderPoE)
	}

	version := ""
	if req.Body != nil && req.Body.Scanner != nil {
		version = req.Body.Scanner.Version
	}
	return st.poe.Check(req.PoE[0], tenant, version)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
