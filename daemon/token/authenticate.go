package token

import (
	"strings"
	"time"

	"github.com/signerd/signerd/daemon/api"
)

// Request is the part of an HTTP request that carries credentials. The
// slices hold every value of the header, so duplicates are seen.
type Request struct {
	Method        string
	Path          string
	Authorization []string
	DPoP          []string
}

// Authenticator checks the OpTok and DPoP proof of a request.
type Authenticator struct {
	OpTok *OpTokVerifier

	// ProofMaxAge and ProofLeeway bound a proof's iat.
	ProofMaxAge time.Duration
	ProofLeeway time.Duration

	// Nonces and Replay outlive reloads; see the package doc.
	Nonces *NonceSource
	Replay *ReplayCache
}

// Authenticate verifies r's OpTok for tenant, and its DPoP proof when the
// token is bound. requireBound rejects unbound tokens.
func (a *Authenticator) Authenticate(r *Request, tenant string, requireBound bool, now time.Time) (*OpTokClaims, *api.Error) {
	scheme, raw, e := splitAuthorization(r.Authorization)
	if e != nil {
		return nil, e
	}

	claims, e := a.OpTok.Verify(raw, tenant, now)
	if e != nil {
		return nil, e
	}

	if !claims.Bound() {
		switch {
		case requireBound:
			return nil, api.Errorf(api.CodeTokenInvalid, "the policy requires a DPoP-bound OpTok (with cnf.jkt) for this caller; request a bound token")
		case scheme != "bearer":
			return nil, api.Errorf(api.CodeTokenInvalid, "OpTok is not DPoP-bound, so send it with the Bearer scheme")
		case len(r.DPoP) > 0:
			return nil, api.Errorf(api.CodeDPoPInvalid, "a DPoP proof was sent with a token that is not DPoP-bound; drop the proof or use a bound token")
		}
		return claims, nil
	}

	if scheme != "dpop" {
		return nil, api.Errorf(api.CodeTokenInvalid, "OpTok is DPoP-bound, so send it as Authorization: DPoP TOKEN with a DPoP proof, never as Bearer")
	}
	switch len(r.DPoP) {
	case 0:
		return nil, api.Errorf(api.CodeDPoPInvalid, "the DPoP-bound OpTok came without a %s header; send one proof per request", api.HeaderDPoP)
	case 1:
	default:
		return nil, api.Errorf(api.CodeDPoPInvalid, "request has %d %s headers; send exactly one", len(r.DPoP), api.HeaderDPoP)
	}

	_, e = VerifyProof(r.DPoP[0], &ProofCheck{
		Method:      r.Method,
		URL:         api.DPoPBaseURL + r.Path,
		AccessToken: raw,
		JKT:         claims.Confirmation.JKT,
		Now:         now,
		MaxAge:      a.ProofMaxAge,
		Leeway:      a.ProofLeeway,
		Nonces:      a.Nonces,
		Replay:      a.Replay,
	})
	if e != nil {
		return nil, e
	}
	return claims, nil
}

// splitAuthorization returns the lower-case scheme and the token of the
// one Authorization header.
func splitAuthorization(values []string) (string, string, *api.Error) {
	switch len(values) {
	case 0:
		return "", "", api.Errorf(api.CodeTokenMissing,
			"the policy requires an OpTok for this caller; send Authorization: DPoP TOKEN (or Bearer TOKEN for an unbound token)")
	case 1:
	default:
		return "", "", api.Errorf(api.CodeTokenInvalid, "request has %d Authorization headers; send exactly one", len(values))
	}

	scheme, raw, ok := strings.Cut(values[0], " ")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "dpop" && scheme != "bearer") {
		return "", "", api.Errorf(api.CodeTokenInvalid, "Authorization scheme %q is not accepted; use DPoP or Bearer", truncate(scheme, 32))
	}
	return scheme, strings.TrimSpace(raw), nil
}
