package token

import (
	"crypto"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/signerd/signerd/daemon/api"
)

// maxJTIBytes bounds the jti of a proof, which the replay cache stores.
const maxJTIBytes = 128

// ProofClaims are the claims of a DPoP proof.
type ProofClaims struct {
	ID         string           `json:"jti"`
	Method     string           `json:"htm"`
	URL        string           `json:"htu"`
	IssuedAt   *jwt.NumericDate `json:"iat"`
	TokenHash  string           `json:"ath,omitempty"`
	Nonce      string           `json:"nonce,omitempty"`
	Thumbprint string           `json:"-"`
}

// ProofCheck is the request context a DPoP proof must match.
type ProofCheck struct {
	// Method is the request's method; htm must equal it exactly.
	Method string

	// URL is the request's target URI without query or fragment, for
	// example http://signer.localhost/v1/sign/dsse.
	URL string

	// AccessToken is the OpTok the proof goes with. When set, ath must be
	// its hash.
	AccessToken string

	// JKT is the token's cnf.jkt. When set, the proof key's thumbprint
	// must equal it.
	JKT string

	Now time.Time

	// MaxAge is the maximum age of iat, and Leeway the maximum time iat
	// may lie in the future.
	MaxAge time.Duration
	Leeway time.Duration

	// Nonces, when set, requires a current server nonce in the proof.
	Nonces *NonceSource

	// Replay, when set, records the proof's (thumbprint, jti) and rejects
	// a pair seen before.
	Replay *ReplayCache
}

// VerifyProof verifies raw as a DPoP proof (RFC 9449 section 4.3) against
// c. Errors are *api.Error values with DPoP codes.
func VerifyProof(raw string, c *ProofCheck) (*ProofClaims, *api.Error) {
	claims, err := verifyProofSignature(raw)
	if err != nil {
		return nil, api.Errorf(api.CodeDPoPInvalid, "DPoP proof rejected: %v", err)
	}

	if err := checkProofClaims(claims, c); err != nil {
		return nil, api.Errorf(api.CodeDPoPInvalid, "DPoP proof rejected: %v", err)
	}

	if c.Nonces != nil && !c.Nonces.Valid(claims.Nonce, c.Now) {
		reason := "DPoP proof has no nonce"
		if claims.Nonce != "" {
			reason = "DPoP proof nonce is not current"
		}
		return nil, NonceError(c.Nonces, c.Now, reason)
	}

	if c.Replay != nil {
		expires := claims.IssuedAt.Time().Add(c.MaxAge + c.Leeway)
		switch err := c.Replay.Record(claims.Thumbprint, claims.ID, expires, c.Now); {
		case errors.Is(err, ErrReplay):
			return nil, api.Errorf(api.CodeDPoPReplay, "DPoP proof jti %q was already used; send a fresh proof with every request", truncate(claims.ID, 64))
		case errors.Is(err, ErrReplayCacheFull):
			e := api.Errorf(api.CodeUnavailable, "DPoP replay cache is full, so no new proof can be accepted now; retry shortly")
			e.RetryAfterSeconds = max(1, int(c.MaxAge/time.Second))
			return nil, e
		case err != nil:
			return nil, api.Errorf(api.CodeInternal, "DPoP replay cache: %v", err)
		}
	}
	return claims, nil
}

// NonceError returns the use_dpop_nonce error with a fresh nonce in the
// DPoP-Nonce header, as RFC 9449 section 9 describes.
func NonceError(n *NonceSource, now time.Time, reason string) *api.Error {
	e := api.Errorf(api.CodeUseDPoPNonce, "%s; retry with the nonce from the %s response header", reason, api.HeaderDPoPNonce)
	e.Headers = map[string]string{
		api.HeaderDPoPNonce: n.Current(now),
		"WWW-Authenticate":  `DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"`,
	}
	return e
}

// verifyProofSignature checks the proof's shape, typ and embedded public
// key, verifies the signature with that key and decodes the claims.
func verifyProofSignature(raw string) (*ProofClaims, error) {
	jws, h, err := parseCompact(raw)
	if err != nil {
		return nil, err
	}
	if got := headerType(h); got != api.TypeDPoP {
		return nil, fmt.Errorf("typ is %q, want %q", got, api.TypeDPoP)
	}

	jwk := h.JSONWebKey
	if jwk == nil {
		return nil, errors.New("header has no jwk")
	}
	if !jwk.IsPublic() {
		return nil, errors.New("jwk header contains a private key; send the public key only")
	}
	if !jwk.Valid() {
		return nil, errors.New("jwk is not a valid key")
	}
	alg, err := keyAlgorithm(jwk.Key)
	if err != nil {
		return nil, fmt.Errorf("jwk: %w", err)
	}
	if string(alg) != h.Algorithm {
		return nil, fmt.Errorf("alg %s does not match the %s jwk", h.Algorithm, alg)
	}

	payload, err := jws.Verify(jwk.Key)
	if err != nil {
		return nil, fmt.Errorf("signature verification failed: %w", err)
	}

	var claims ProofClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, fmt.Errorf("claims are not valid JSON of the expected types: %w", err)
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("jwk thumbprint: %w", err)
	}
	claims.Thumbprint = base64.RawURLEncoding.EncodeToString(tp)
	return &claims, nil
}

// checkProofClaims compares the proof's claims with the request.
func checkProofClaims(p *ProofClaims, c *ProofCheck) error {
	if p.ID == "" || len(p.ID) > maxJTIBytes {
		return fmt.Errorf("jti must be 1 to %d bytes, got %d", maxJTIBytes, len(p.ID))
	}
	if p.Method != c.Method {
		return fmt.Errorf("htm %q does not match the request method %q", truncate(p.Method, 16), c.Method)
	}

	got, err := NormalizeHTU(p.URL)
	if err != nil {
		return fmt.Errorf("htu %q: %w", truncate(p.URL, 200), err)
	}
	want, err := NormalizeHTU(c.URL)
	if err != nil {
		return fmt.Errorf("request URL %q: %w", c.URL, err)
	}
	if got != want {
		return fmt.Errorf("htu %q does not match the request URL %q", truncate(p.URL, 200), want)
	}

	if p.IssuedAt == nil {
		return errors.New("iat is missing")
	}
	iat := p.IssuedAt.Time()
	if iat.Before(c.Now.Add(-c.MaxAge)) {
		return fmt.Errorf("iat %s is older than %s; send a fresh proof", iat.UTC().Format(time.RFC3339), c.MaxAge)
	}
	if iat.After(c.Now.Add(c.Leeway)) {
		return fmt.Errorf("iat %s is in the future", iat.UTC().Format(time.RFC3339))
	}

	if c.AccessToken != "" {
		want := AccessTokenHash(c.AccessToken)
		if subtle.ConstantTimeCompare([]byte(p.TokenHash), []byte(want)) != 1 {
			return errors.New("ath does not match the access token")
		}
	}
	if c.JKT != "" && subtle.ConstantTimeCompare([]byte(p.Thumbprint), []byte(c.JKT)) != 1 {
		return errors.New("proof key thumbprint does not match the token's cnf.jkt")
	}
	return nil
}

// NormalizeHTU returns the canonical form of an htu value: lower-case
// scheme and host, no default port, and the path as sent. A value with a
// query, a fragment, user information or no absolute form is rejected,
// because htu names the target URI without them.
func NormalizeHTU(s string) (string, error) {
	if strings.ContainsAny(s, "?#") {
		return "", errors.New("has a query or fragment")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("is not a URL")
	}
	if u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", errors.New("is not an absolute http URL")
	}

	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	switch {
	case scheme == "http" && port == "80", scheme == "https" && port == "443":
		port = ""
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("scheme %q is not http or https", truncate(scheme, 16))
	}
	if port != "" {
		host += ":" + port
	}

	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, nil
}
