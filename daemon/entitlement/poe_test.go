package entitlement_test

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/entitlement"
	"github.com/signerd/signerd/daemon/token"
	"github.com/signerd/signerd/test/authority"
)

const tenant = "scanners"

// wallClock is a settable clock for tests.
type wallClock struct {
	mu sync.Mutex
	t  time.Time
}

func (w *wallClock) now() time.Time  { w.mu.Lock(); defer w.mu.Unlock(); return w.t }
func (w *wallClock) set(t time.Time) { w.mu.Lock(); w.t = t; w.mu.Unlock() }

type fixture struct {
	t     *testing.T
	auth  *authority.Authority
	keys  *token.KeySet
	wall  *wallClock
	dir   string
	start time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	a, err := authority.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := token.LoadKeySet(a.PoEJWKS())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_800_000_000, 0)
	return &fixture{t: t, auth: a, keys: keys, wall: &wallClock{t: start}, dir: t.TempDir(), start: start}
}

// verifier opens the clock file in the fixture's state directory, as a
// daemon start would.
func (f *fixture) verifier() *entitlement.Verifier {
	f.t.Helper()
	clock, err := entitlement.OpenClock(filepath.Join(f.dir, entitlement.ClockFile), f.wall.now, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return entitlement.NewVerifier(authority.PoEIssuer, f.keys, 30*time.Second, clock, 16, time.Hour)
}

func (f *fixture) poe(p authority.PoE) string {
	f.t.Helper()
	if p.Now.IsZero() {
		p.Now = f.start
	}
	if p.Tenant == "" {
		p.Tenant = tenant
	}
	tok, err := f.auth.MintPoE(p)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

func TestCheckValidPoE(t *testing.T) {
	f := newFixture(t)
	v := f.verifier()
	raw := f.poe(authority.PoE{Plan: "gold", QPS: 5, Burst: 10, Concurrency: 2, MaxArtifactBytes: 4096, ScannerVersions: ">=0.50.0, <0.60.0"})

	ent, e := v.Check(raw, tenant, "0.58.1")
	if e != nil {
		t.Fatalf("Check: %v", e)
	}
	want := entitlement.Quotas{QPS: 5, Burst: 10, Concurrency: 2, MaxArtifactBytes: 4096}
	if ent.Claims.Quotas != want {
		t.Errorf("quotas = %+v, want %+v", ent.Claims.Quotas, want)
	}
	if ent.Claims.Plan != "gold" {
		t.Errorf("plan = %q, want gold", ent.Claims.Plan)
	}
	if ent.Cached {
		t.Errorf("first check reported a cache hit")
	}

	ent, e = v.Check(raw, tenant, "0.59.0")
	if e != nil {
		t.Fatalf("second Check: %v", e)
	}
	if !ent.Cached {
		t.Errorf("second check of the same PoE missed the cache")
	}
}

func TestCheckRejects(t *testing.T) {
	f := newFixture(t)
	v := f.verifier()

	opTok, err := f.auth.MintOpTok(authority.OpTok{Tenant: tenant, Now: f.start})
	if err != nil {
		t.Fatal(err)
	}
	valid := f.poe(authority.PoE{ScannerVersions: ">=0.50.0, <0.60.0"})
	jwkHeader, err := authority.Sign(f.auth.PoEKey, jose.EdDSA, authority.PoEKeyID, api.TypePoE,
		map[string]any{"iss": authority.PoEIssuer, "aud": "signer", "tenant": tenant, "exp": f.start.Add(time.Hour).Unix()},
		map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: f.auth.PoEKey.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	corrupt := func(tok string) string {
		i := strings.LastIndex(tok, ".")
		b := []byte(tok)
		if b[i+1] == 'A' {
			b[i+1] = 'B'
		} else {
			b[i+1] = 'A'
		}
		return string(b)
	}

	tests := []struct {
		name      string
		raw       string
		tenant    string
		version   string
		want      api.Code
		wantInMsg string
		notInMsg  string
	}{
		{name: "other tenant", raw: f.poe(authority.PoE{Tenant: "other"}), want: api.CodePoETenantMismatch},
		{name: "iat in the future", raw: f.poe(authority.PoE{IssuedAt: f.start.Add(time.Hour)}), want: api.CodePoENotYetValid},
		{name: "expired", raw: f.poe(authority.PoE{Now: f.start.Add(-48 * time.Hour), TTL: 24 * time.Hour}), want: api.CodePoEExpired},
		{name: "expired with corrupted signature", raw: corrupt(f.poe(authority.PoE{Now: f.start.Add(-48 * time.Hour), TTL: 24 * time.Hour})), want: api.CodePoEInvalid, wantInMsg: "signature", notInMsg: "expired"},
		{name: "scanner version below range", raw: valid, version: "0.49.9", want: api.CodeScannerVersionNotEntitled, wantInMsg: "outside"},
		{name: "scanner version above range", raw: valid, version: "0.60.0", want: api.CodeScannerVersionNotEntitled},
		{name: "scanner version missing", raw: valid, version: "", want: api.CodeScannerVersionNotEntitled, wantInMsg: "declares none"},
		{name: "scanner version not semver", raw: valid, version: "latest", want: api.CodeScannerVersionNotEntitled, wantInMsg: "not a semantic version"},
		{name: "OpTok in PoE slot", raw: opTok, want: api.CodePoEInvalid, wantInMsg: "typ"},
		{name: "jwk header", raw: jwkHeader, want: api.CodePoEInvalid, wantInMsg: "jwk"},
		{name: "JWE", raw: "eyJhbGciOiJFQ0RILUVTIn0..aaaa.bbbb.cccc", want: api.CodePoEInvalid, wantInMsg: "5 parts"},
		{name: "1 MiB of dots", raw: strings.Repeat(".", 1<<20), want: api.CodePoEInvalid},
		{name: "alg none", raw: "eyJhbGciOiJub25lIiwidHlwIjoic2lnbmVyZC1wb2Urand0In0.eyJ0ZW5hbnQiOiJzY2FubmVycyJ9.", want: api.CodePoEInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn := tc.tenant
			if tn == "" {
				tn = tenant
			}
			_, e := v.Check(tc.raw, tn, tc.version)
			if e == nil {
				t.Fatalf("accepted, want %s", tc.want)
			}
			t.Logf("%s: %s", e.Code, e.Message)
			if e.Code != tc.want {
				t.Errorf("code = %s, want %s", e.Code, tc.want)
			}
			if tc.wantInMsg != "" && !strings.Contains(e.Message, tc.wantInMsg) {
				t.Errorf("message %q does not mention %q", e.Message, tc.wantInMsg)
			}
			if tc.notInMsg != "" && strings.Contains(e.Message, tc.notInMsg) {
				t.Errorf("message %q mentions %q", e.Message, tc.notInMsg)
			}
		})
	}
}

func TestClockMovedBack(t *testing.T) {
	f := newFixture(t)
	v := f.verifier()
	raw := f.poe(authority.PoE{TTL: time.Hour})

	if _, e := v.Check(raw, tenant, ""); e != nil {
		t.Fatalf("fresh PoE rejected: %v", e)
	}

	// Time passes beyond exp, then the clock is set back inside the
	// PoE's lifetime.
	f.wall.set(f.start.Add(2 * time.Hour))
	if _, e := v.Check(raw, tenant, ""); e == nil || e.Code != api.CodePoEExpired {
		t.Fatalf("after exp: got %v, want poe_expired", e)
	}
	f.wall.set(f.start.Add(10 * time.Minute))
	_, e := v.Check(raw, tenant, "")
	if e == nil || e.Code != api.CodePoEExpired {
		t.Fatalf("clock moved back: got %v, want poe_expired", e)
	}
	if !strings.Contains(e.Message, "1h50m0s behind") {
		t.Errorf("message %q does not say how far the clock is behind", e.Message)
	}

	// A restart reads the persisted high-water mark.
	restarted := f.verifier()
	if _, e := restarted.Check(raw, tenant, ""); e == nil || e.Code != api.CodePoEExpired {
		t.Errorf("clock moved back, after restart: got %v, want poe_expired", e)
	}
}

func TestCacheNeverOutlivesToken(t *testing.T) {
	f := newFixture(t)
	v := f.verifier()
	raw := f.poe(authority.PoE{TTL: 5 * time.Minute})

	if _, e := v.Check(raw, tenant, ""); e != nil {
		t.Fatalf("fresh PoE rejected: %v", e)
	}
	f.wall.set(f.start.Add(6 * time.Minute))
	ent, e := v.Check(raw, tenant, "")
	if e == nil || e.Code != api.CodePoEExpired {
		t.Fatalf("after exp with a one-hour cache TTL: got %v (%+v), want poe_expired", e, ent)
	}
}
