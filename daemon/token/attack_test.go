package token_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/token"
	"github.com/signerd/signerd/test/authority"
)

const (
	tenant   = "scanners"
	signPath = api.PathSignDSSE
	signURL  = api.DPoPBaseURL + signPath
)

// fixture is an authority, a DPoP key, a bound token and an
// Authenticator with a fixed clock.
type fixture struct {
	t     *testing.T
	auth  *authority.Authority
	authn *token.Authenticator
	now   time.Time
	key   *ecdsa.PrivateKey
	jkt   string
	tok   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	a, err := authority.Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := token.LoadKeySet(a.OpTokJWKS())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, auth: a, now: time.Unix(1_800_000_000, 0)}
	f.authn = &token.Authenticator{
		OpTok:       &token.OpTokVerifier{Issuer: authority.OpTokIssuer, Keys: keys, Leeway: 30 * time.Second},
		ProofMaxAge: time.Minute,
		ProofLeeway: 5 * time.Second,
		Nonces:      token.NewNonceSource(5 * time.Minute),
		Replay:      token.NewReplayCache(1000),
	}
	f.key, f.jkt = newKey(t)
	f.tok = f.mint(authority.OpTok{Tenant: tenant, JKT: f.jkt})
	return f
}

func newKey(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := client.DPoPThumbprint(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return key, jkt
}

func (f *fixture) mint(o authority.OpTok) string {
	f.t.Helper()
	o.Now = f.now
	tok, err := f.auth.MintOpTok(o)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// proof returns a valid proof for POST signPath with the current nonce.
func (f *fixture) proof(key *ecdsa.PrivateKey, method, htu, tok string) string {
	f.t.Helper()
	p, err := client.NewDPoPProof(key, method, htu, tok, f.authn.Nonces.Current(f.now), f.now)
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) request(authz string, proofs ...string) *token.Request {
	r := &token.Request{Method: "POST", Path: signPath, DPoP: proofs}
	if authz != "" {
		r.Authorization = []string{authz}
	}
	return r
}

func (f *fixture) authenticate(r *token.Request) *api.Error {
	_, e := f.authn.Authenticate(r, tenant, false, f.now)
	return e
}

// signRaw signs header and claims as a compact JWS with an ES256 key
// without any library checks, so tests can build tokens a library would
// refuse to build.
func signRaw(t *testing.T, key *ecdsa.PrivateKey, header, claims any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := b64(h) + "." + b64(c)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// highSTwin returns the other valid encoding of an ES256 JWS: s replaced
// by n - s.
func highSTwin(t *testing.T, jws string) string {
	t.Helper()
	i := strings.LastIndex(jws, ".")
	sig, err := base64.RawURLEncoding.DecodeString(jws[i+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("not an ES256 signature: %v", err)
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	twin := make([]byte, 64)
	copy(twin, sig[:32])
	s.FillBytes(twin[32:])
	return jws[:i+1] + b64(twin)
}

func (f *fixture) claims(mod func(map[string]any)) map[string]any {
	c := map[string]any{
		"iss": authority.OpTokIssuer, "aud": "signer", "exp": f.now.Add(time.Hour).Unix(),
		"iat": f.now.Unix(), "scope": "signer.sign", "tenant": tenant, "cnf": map[string]string{"jkt": f.jkt},
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func (f *fixture) signed(mod func(map[string]any)) string {
	f.t.Helper()
	tok, err := authority.Sign(f.auth.OpTokKey, jose.ES256, authority.OpTokKeyID, api.TypeOpTok, f.claims(mod), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

func jwe(t *testing.T) string {
	t.Helper()
	key, _ := newKey(t)
	enc, err := jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.ECDH_ES, Key: key.Public()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := enc.Encrypt([]byte(`{"tenant":"scanners"}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(s, ".") != 4 {
		t.Fatalf("JWE has %d parts, want 5", strings.Count(s, ".")+1)
	}
	return s
}

func TestAuthenticateValid(t *testing.T) {
	f := newFixture(t)
	claims, e := f.authn.Authenticate(f.request("DPoP "+f.tok, f.proof(f.key, "POST", signURL, f.tok)), tenant, true, f.now)
	if e != nil {
		t.Fatalf("valid token and proof rejected: %v", e)
	}
	if claims.Tenant != tenant || !claims.Bound() {
		t.Errorf("claims = %+v, want bound token of tenant %s", claims, tenant)
	}

	unbound := f.mint(authority.OpTok{Tenant: tenant})
	if _, e := f.authn.Authenticate(f.request("Bearer "+unbound), tenant, false, f.now); e != nil {
		t.Errorf("valid unbound Bearer token rejected: %v", e)
	}
	if _, e := f.authn.Authenticate(f.request("Bearer "+unbound), tenant, true, f.now); e == nil || e.Code != api.CodeTokenInvalid {
		t.Errorf("unbound token under optok-dpop: got %v, want token_invalid", e)
	}
}

func TestAttackTable(t *testing.T) {
	f := newFixture(t)
	attacker, attackerJKT := newKey(t)
	nonce := f.authn.Nonces.Current(f.now)

	proofClaims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{
			"jti": "j-" + b64([]byte(time.Now().String())), "htm": "POST", "htu": signURL,
			"iat": f.now.Unix(), "ath": token.AccessTokenHash(f.tok), "nonce": nonce,
		}
		if mod != nil {
			mod(c)
		}
		return c
	}
	publicJWK := func(k *ecdsa.PrivateKey) jose.JSONWebKey { return jose.JSONWebKey{Key: k.Public()} }

	poe, err := f.auth.MintPoE(authority.PoE{Tenant: tenant, Now: f.now})
	if err != nil {
		t.Fatal(err)
	}
	opTokJWK := jose.JSONWebKey{Key: f.auth.OpTokKey.Public(), KeyID: authority.OpTokKeyID}
	opTokJWKJSON, _ := json.Marshal(opTokJWK)

	hs256, err := func() (string, error) {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: opTokJWKJSON},
			(&jose.SignerOptions{}).WithType(api.TypeOpTok).WithHeader("kid", authority.OpTokKeyID))
		if err != nil {
			return "", err
		}
		payload, _ := json.Marshal(f.claims(nil))
		obj, err := signer.Sign(payload)
		if err != nil {
			return "", err
		}
		return obj.CompactSerialize()
	}()
	if err != nil {
		t.Fatal(err)
	}

	algNone := b64([]byte(`{"alg":"none","typ":"at+jwt","kid":"`+authority.OpTokKeyID+`"}`)) + "." +
		b64(mustJSON(f.claims(nil))) + "."

	privateJWK, _ := json.Marshal(jose.JSONWebKey{Key: f.key})
	var privateJWKMap map[string]any
	json.Unmarshal(privateJWK, &privateJWKMap)

	expiredBadSig := func() string {
		tok := f.signed(func(c map[string]any) { c["exp"] = f.now.Add(-time.Hour).Unix() })
		i := strings.LastIndex(tok, ".")
		sig := []byte(tok[i+1:])
		if sig[0] == 'A' {
			sig[0] = 'B'
		} else {
			sig[0] = 'A'
		}
		return tok[:i+1] + string(sig)
	}()

	dots := strings.Repeat(".", 1<<20)

	tests := []struct {
		name      string
		req       *token.Request
		want      api.Code
		wantInMsg string
		notInMsg  string
	}{
		{name: "alg none", req: f.request("DPoP " + algNone), want: api.CodeTokenInvalid},
		{name: "HS256 with the public key as secret", req: f.request("DPoP " + hs256), want: api.CodeTokenInvalid},
		{
			name: "OpTok with jwk header of the Authority key",
			req: f.request("DPoP " + signRaw(t, attacker,
				map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": authority.OpTokKeyID, "jwk": opTokJWK}, f.claims(nil))),
			want: api.CodeTokenInvalid, wantInMsg: "jwk",
		},
		{
			name: "OpTok self-signed with its own jwk",
			req: f.request("DPoP " + signRaw(t, attacker,
				map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": authority.OpTokKeyID, "jwk": publicJWK(attacker)}, f.claims(nil))),
			want: api.CodeTokenInvalid,
		},
		{
			name: "DPoP proof with jwk of the Authority key",
			req: f.request("DPoP "+f.tok, signRaw(t, attacker,
				map[string]any{"alg": "ES256", "typ": "dpop+jwt", "jwk": opTokJWK}, proofClaims(nil))),
			want: api.CodeDPoPInvalid, wantInMsg: "signature",
		},
		{
			name: "DPoP jwk with a private part",
			req: f.request("DPoP "+f.tok, signRaw(t, f.key,
				map[string]any{"alg": "ES256", "typ": "dpop+jwt", "jwk": privateJWKMap}, proofClaims(nil))),
			want: api.CodeDPoPInvalid,
		},
		{
			name: "victim token with attacker proof",
			req:  f.request("DPoP "+f.tok, f.proof(attacker, "POST", signURL, f.tok)),
			want: api.CodeDPoPInvalid, wantInMsg: "cnf.jkt",
		},
		{
			name: "attacker token bound to attacker key, other tenant",
			req: f.request("DPoP "+f.mint(authority.OpTok{Tenant: "other", JKT: attackerJKT}),
				f.proof(attacker, "POST", signURL, f.mint(authority.OpTok{Tenant: "other", JKT: attackerJKT}))),
			want: api.CodeTokenTenantMismatch,
		},
		{name: "htm lower case", req: f.request("DPoP "+f.tok, f.proof(f.key, "post", signURL, f.tok)), want: api.CodeDPoPInvalid, wantInMsg: "htm"},
		{name: "htu with query", req: f.request("DPoP "+f.tok, f.proof(f.key, "POST", signURL+"?x=1", f.tok)), want: api.CodeDPoPInvalid, wantInMsg: "htu"},
		{name: "htu with trailing slash", req: f.request("DPoP "+f.tok, f.proof(f.key, "POST", signURL+"/", f.tok)), want: api.CodeDPoPInvalid, wantInMsg: "htu"},
		{name: "htu with other path", req: f.request("DPoP "+f.tok, f.proof(f.key, "POST", api.DPoPBaseURL+api.PathKeys, f.tok)), want: api.CodeDPoPInvalid, wantInMsg: "htu"},
		{name: "htu with other host", req: f.request("DPoP "+f.tok, f.proof(f.key, "POST", "http://evil.example"+signPath, f.tok)), want: api.CodeDPoPInvalid, wantInMsg: "htu"},
		{
			name: "two DPoP headers",
			req:  f.request("DPoP "+f.tok, f.proof(f.key, "POST", signURL, f.tok), f.proof(f.key, "POST", signURL, f.tok)),
			want: api.CodeDPoPInvalid, wantInMsg: "2 DPoP headers",
		},
		{name: "DPoP scheme without DPoP header", req: f.request("DPoP " + f.tok), want: api.CodeDPoPInvalid},
		{name: "bound token with Bearer scheme", req: f.request("Bearer "+f.tok, f.proof(f.key, "POST", signURL, f.tok)), want: api.CodeTokenInvalid, wantInMsg: "Bearer"},
		{name: "no Authorization", req: f.request(""), want: api.CodeTokenMissing},
		{name: "two Authorization headers", req: &token.Request{Method: "POST", Path: signPath, Authorization: []string{"DPoP " + f.tok, "DPoP " + f.tok}}, want: api.CodeTokenInvalid},
		{name: "1 MiB of dots as OpTok", req: f.request("DPoP " + dots), want: api.CodeTokenInvalid},
		{name: "8000 dots as OpTok", req: f.request("DPoP " + strings.Repeat(".", 8000)), want: api.CodeTokenInvalid, wantInMsg: "8001 parts"},
		{name: "1 MiB of dots as DPoP proof", req: f.request("DPoP "+f.tok, dots), want: api.CodeDPoPInvalid},
		{name: "JWE as OpTok", req: f.request("DPoP " + jwe(t)), want: api.CodeTokenInvalid, wantInMsg: "5 parts"},
		{name: "JWE as DPoP proof", req: f.request("DPoP "+f.tok, jwe(t)), want: api.CodeDPoPInvalid, wantInMsg: "5 parts"},
		{name: "aud missing", req: f.request("Bearer " + f.signed(func(c map[string]any) { delete(c, "aud"); delete(c, "cnf") })), want: api.CodeTokenInvalid, wantInMsg: "audience"},
		{name: "aud empty", req: f.request("Bearer " + f.signed(func(c map[string]any) { c["aud"] = ""; delete(c, "cnf") })), want: api.CodeTokenInvalid, wantInMsg: "audience"},
		{name: "aud [\"\"]", req: f.request("Bearer " + f.signed(func(c map[string]any) { c["aud"] = []string{""}; delete(c, "cnf") })), want: api.CodeTokenInvalid, wantInMsg: "audience"},
		{name: "aud other", req: f.request("Bearer " + f.signed(func(c map[string]any) { c["aud"] = []string{"verifier"}; delete(c, "cnf") })), want: api.CodeTokenInvalid, wantInMsg: "audience"},
		{name: "iss other", req: f.request("Bearer " + f.signed(func(c map[string]any) { c["iss"] = "https://evil.example"; delete(c, "cnf") })), want: api.CodeTokenInvalid, wantInMsg: "issuer"},
		{name: "iss empty", req: f.request("Bearer " + f.signed(func(c map[string]any) { c["iss"] = ""; delete(c, "cnf") })), want: api.CodeTokenInvalid, wantInMsg: "issuer"},
		{name: "exp missing", req: f.request("Bearer " + f.signed(func(c map[string]any) { delete(c, "exp"); delete(c, "cnf") })), want: api.CodeTokenInvalid, wantInMsg: "exp"},
		{name: "expired", req: f.request("Bearer " + f.signed(func(c map[string]any) { c["exp"] = f.now.Add(-time.Minute).Unix(); delete(c, "cnf") })), want: api.CodeTokenExpired},
		{name: "expired within leeway", req: f.request("Bearer " + f.signed(func(c map[string]any) {
			c["exp"] = f.now.Add(-10 * time.Second).Unix()
			c["scope"] = "x"
			delete(c, "cnf")
		})), want: api.CodeInsufficientScope},
		{name: "nbf in the future", req: f.request("Bearer " + f.signed(func(c map[string]any) { c["nbf"] = f.now.Add(time.Minute).Unix(); delete(c, "cnf") })), want: api.CodeTokenInvalid, wantInMsg: "not yet valid"},
		{name: "scope without signer.sign", req: f.request("Bearer " + f.signed(func(c map[string]any) { c["scope"] = "signer.read signer.signx"; delete(c, "cnf") })), want: api.CodeInsufficientScope},
		{name: "expired token with corrupted signature", req: f.request("Bearer " + expiredBadSig), want: api.CodeTokenInvalid, wantInMsg: "signature", notInMsg: "expired"},
		{name: "PoE in OpTok slot", req: f.request("Bearer " + poe), want: api.CodeTokenInvalid, wantInMsg: "typ"},
		{name: "DPoP proof in OpTok slot", req: f.request("Bearer " + f.proof(f.key, "POST", signURL, f.tok)), want: api.CodeTokenInvalid, wantInMsg: "typ"},
		{name: "PoE retyped as OpTok", req: f.request("Bearer " + retyped(t, f.auth.PoEKey, authority.PoEKeyID, f.claims(poeIssuer))), want: api.CodeTokenInvalid, wantInMsg: "no key with kid"},
		{name: "PoE key under the OpTok kid", req: f.request("Bearer " + retyped(t, f.auth.PoEKey, authority.OpTokKeyID, f.claims(poeIssuer))), want: api.CodeTokenInvalid, wantInMsg: "does not verify alg EdDSA"},
		{name: "OpTok key with the licensing issuer", req: f.request("Bearer " + f.signed(func(c map[string]any) { poeIssuer(c); delete(c, "cnf") })), want: api.CodeTokenInvalid, wantInMsg: "issuer"},
		{
			name: "DPoP proof retyped as OpTok",
			req: f.request("Bearer " + signRaw(t, f.key,
				map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": authority.OpTokKeyID, "jwk": publicJWK(f.key)}, f.claims(nil))),
			want: api.CodeTokenInvalid, wantInMsg: "jwk",
		},
		{name: "unknown scheme", req: f.request("Basic " + f.tok), want: api.CodeTokenInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := f.authenticate(tc.req)
			if e == nil {
				t.Fatalf("accepted, want %s", tc.want)
			}
			t.Logf("%s: %s", e.Code, e.Message)
			if e.Code != tc.want {
				t.Errorf("code = %s (%s), want %s", e.Code, e.Message, tc.want)
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

func poeIssuer(c map[string]any) { c["iss"] = authority.PoEIssuer }

// retyped signs claims with an EdDSA key under kid with the OpTok typ, as
// an attacker who holds a licensing key might.
func retyped(t *testing.T, key ed25519.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	delete(claims, "cnf")
	tok, err := authority.Sign(key, jose.EdDSA, kid, api.TypeOpTok, claims, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestProofReplay(t *testing.T) {
	f := newFixture(t)
	proof := f.proof(f.key, "POST", signURL, f.tok)

	if e := f.authenticate(f.request("DPoP "+f.tok, proof)); e != nil {
		t.Fatalf("first use rejected: %v", e)
	}
	if e := f.authenticate(f.request("DPoP "+f.tok, proof)); e == nil || e.Code != api.CodeDPoPReplay {
		t.Errorf("same proof twice: got %v, want dpop_replay", e)
	}
	if e := f.authenticate(f.request("DPoP "+f.tok, highSTwin(t, proof))); e == nil || e.Code != api.CodeDPoPReplay {
		t.Errorf("high-S twin: got %v, want dpop_replay", e)
	}
}

// TestHighSTwinVerifies shows that the twin is a valid proof on its own,
// so only a jti-keyed replay cache stops it.
func TestHighSTwinVerifies(t *testing.T) {
	f := newFixture(t)
	twin := highSTwin(t, f.proof(f.key, "POST", signURL, f.tok))
	if e := f.authenticate(f.request("DPoP "+f.tok, twin)); e != nil {
		t.Fatalf("fresh high-S twin rejected (%v); the replay test would prove nothing", e)
	}
}

func TestProofNonce(t *testing.T) {
	f := newFixture(t)

	noNonce, err := client.NewDPoPProof(f.key, "POST", signURL, f.tok, "", f.now)
	if err != nil {
		t.Fatal(err)
	}
	e := f.authenticate(f.request("DPoP "+f.tok, noNonce))
	if e == nil || e.Code != api.CodeUseDPoPNonce {
		t.Fatalf("proof without nonce: got %v, want use_dpop_nonce", e)
	}
	if got := e.Headers[api.HeaderDPoPNonce]; got != f.authn.Nonces.Current(f.now) {
		t.Errorf("DPoP-Nonce header = %q, want the current nonce", got)
	}

	// A proof made before a restart carries a nonce from the old secret.
	captured := f.proof(f.key, "POST", signURL, f.tok)
	f.authn.Nonces = token.NewNonceSource(5 * time.Minute)
	f.authn.Replay = token.NewReplayCache(1000)
	if e := f.authenticate(f.request("DPoP "+f.tok, captured)); e == nil || e.Code != api.CodeUseDPoPNonce {
		t.Errorf("proof captured before restart: got %v, want use_dpop_nonce", e)
	}

	// Nonces expire after two periods: a fresh proof carrying an old
	// nonce is rejected.
	oldNonce := f.authn.Nonces.Current(f.now)
	f.now = f.now.Add(11 * time.Minute)
	f.tok = f.mint(authority.OpTok{Tenant: tenant, JKT: f.jkt})
	stale, err := client.NewDPoPProof(f.key, "POST", signURL, f.tok, oldNonce, f.now)
	if err != nil {
		t.Fatal(err)
	}
	if e := f.authenticate(f.request("DPoP "+f.tok, stale)); e == nil || e.Code != api.CodeUseDPoPNonce {
		t.Errorf("proof with a nonce two periods old: got %v, want use_dpop_nonce", e)
	}
	if e := f.authenticate(f.request("DPoP "+f.tok, f.proof(f.key, "POST", signURL, f.tok))); e != nil {
		t.Errorf("proof with the current nonce rejected: %v", e)
	}
}

func TestProofIatWindow(t *testing.T) {
	f := newFixture(t)
	for _, skew := range []time.Duration{-2 * time.Minute, time.Minute} {
		p, err := client.NewDPoPProof(f.key, "POST", signURL, f.tok, f.authn.Nonces.Current(f.now), f.now.Add(skew))
		if err != nil {
			t.Fatal(err)
		}
		if e := f.authenticate(f.request("DPoP "+f.tok, p)); e == nil || e.Code != api.CodeDPoPInvalid {
			t.Errorf("iat %s from now: got %v, want dpop_invalid", skew, e)
		}
	}
}

func TestReplayCacheFullRejects(t *testing.T) {
	f := newFixture(t)
	f.authn.Replay = token.NewReplayCache(2)
	for i := 0; i < 2; i++ {
		if e := f.authenticate(f.request("DPoP "+f.tok, f.proof(f.key, "POST", signURL, f.tok))); e != nil {
			t.Fatalf("proof %d rejected: %v", i, e)
		}
	}
	e := f.authenticate(f.request("DPoP "+f.tok, f.proof(f.key, "POST", signURL, f.tok)))
	if e == nil || e.Code != api.CodeUnavailable {
		t.Fatalf("third proof in a full cache: got %v, want unavailable", e)
	}
	if e.RetryAfterSeconds <= 0 {
		t.Errorf("RetryAfterSeconds = %d, want > 0", e.RetryAfterSeconds)
	}
	if n := f.authn.Replay.Len(); n != 2 {
		t.Errorf("cache holds %d entries, want 2 (it must not evict)", n)
	}
}

// TestDotBombAllocations checks that a megabyte of dots is rejected
// before any decoding: the work must not allocate in proportion to the
// input.
func TestDotBombAllocations(t *testing.T) {
	f := newFixture(t)
	dots := strings.Repeat(".", 1<<20)
	req := f.request("DPoP " + dots)

	var e *api.Error
	allocs := testing.AllocsPerRun(20, func() { e = f.authenticate(req) })
	if e == nil || e.Code != api.CodeTokenInvalid {
		t.Fatalf("got %v, want token_invalid", e)
	}
	if allocs > 20 {
		t.Errorf("rejecting 1 MiB of dots made %.0f allocations, want at most 20", allocs)
	}

	var ms runtimeMem
	before := ms.total()
	for i := 0; i < 20; i++ {
		f.authenticate(req)
	}
	if grew := ms.total() - before; grew > 1<<20 {
		t.Errorf("20 rejections allocated %d bytes, want under 1 MiB in total", grew)
	}
}

func TestKeyLookupRespectsAlg(t *testing.T) {
	f := newFixture(t)

	// The kid names an ES256 key. A token that claims EdDSA under that kid
	// must be rejected by the lookup, never verified with the EC key.
	tok := f.signed(func(c map[string]any) { delete(c, "cnf") })
	parts := strings.Split(tok, ".")
	header := map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": authority.OpTokKeyID}
	forged := b64(mustJSON(header)) + "." + parts[1] + "." + parts[2]
	e := f.authenticate(f.request("Bearer " + forged))
	if e == nil || e.Code != api.CodeTokenInvalid || !strings.Contains(e.Message, "does not verify alg EdDSA") {
		t.Errorf("EdDSA token under an ES256 kid: got %v, want token_invalid naming the alg", e)
	}
}
