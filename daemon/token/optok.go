package token

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/signerd/signerd/daemon/api"
)

// OpTokClaims are the claims of an operator token.
type OpTokClaims struct {
	// Claims are the registered claims (iss, sub, aud, exp, nbf, iat,
	// jti).
	jwt.Claims

	// Scope is a space-separated list of scopes (RFC 8693 section 4.2).
	Scope string `json:"scope"`

	// Tenant names the signerd tenant the token is for.
	Tenant string `json:"tenant"`

	// Confirmation binds the token to a DPoP key (RFC 9449 section 6).
	Confirmation *Confirmation `json:"cnf,omitempty"`
}

// Confirmation is the cnf claim.
type Confirmation struct {
	// JKT is the base64url RFC 7638 SHA-256 thumbprint of the DPoP key.
	JKT string `json:"jkt,omitempty"`
}

// Bound reports whether the token is bound to a DPoP key.
func (c *OpTokClaims) Bound() bool { return c.Confirmation != nil && c.Confirmation.JKT != "" }

// OpTokVerifier checks OpToks against one Authority.
type OpTokVerifier struct {
	// Issuer is the exact iss every token must carry. It is never empty.
	Issuer string

	Keys *KeySet

	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
}

// Verify checks raw and returns its claims. tenant is the tenant that the
// caller's peer credentials selected; the token must name the same one.
// Errors are *api.Error values with token codes.
func (v *OpTokVerifier) Verify(raw, tenant string, now time.Time) (*OpTokClaims, *api.Error) {
	if v.Issuer == "" {
		return nil, api.Errorf(api.CodeInternal, "OpTok verifier has no issuer configured")
	}

	payload, err := VerifySigned(raw, v.Keys, api.TypeOpTok)
	if err != nil {
		return nil, api.Errorf(api.CodeTokenInvalid, "OpTok rejected: %v", err)
	}

	var c OpTokClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, api.Errorf(api.CodeTokenInvalid, "OpTok claims are not valid JSON of the expected types: %v", err)
	}

	if e := v.checkClaims(&c, now); e != nil {
		return nil, e
	}
	if c.Tenant != tenant {
		return nil, api.Errorf(api.CodeTokenTenantMismatch,
			"OpTok is for tenant %q but the caller belongs to tenant %q; request a token for %q", truncate(c.Tenant, 64), tenant, tenant)
	}
	if !slices.Contains(strings.Fields(c.Scope), api.ScopeSign) {
		return nil, api.Errorf(api.CodeInsufficientScope, "OpTok scope %q lacks %s", truncate(c.Scope, 200), api.ScopeSign)
	}
	return &c, nil
}

// checkClaims checks iss, aud and the times. Every check is explicit:
// an empty issuer never matches, a missing exp fails, and the leeway is
// v.Leeway, not a library default.
func (v *OpTokVerifier) checkClaims(c *OpTokClaims, now time.Time) *api.Error {
	if c.Issuer != v.Issuer {
		return api.Errorf(api.CodeTokenInvalid, "OpTok issuer %q is not the configured Authority %q", truncate(c.Issuer, 200), v.Issuer)
	}
	if !slices.Contains([]string(c.Audience), api.TokenAudience) {
		return api.Errorf(api.CodeTokenInvalid, "OpTok audience %q does not contain %q", truncateList(c.Audience), api.TokenAudience)
	}
	if err := CheckTimes(c.Expiry, c.NotBefore, c.IssuedAt, now, v.Leeway); err != nil {
		if errors.Is(err, ErrExpired) {
			return api.Errorf(api.CodeTokenExpired, "OpTok %v; request a new token", err)
		}
		return api.Errorf(api.CodeTokenInvalid, "OpTok %v", err)
	}
	return nil
}

// Errors that CheckTimes wraps, so callers can give each its own code.
var (
	ErrExpired     = errors.New("expired")
	ErrNotYetValid = errors.New("not yet valid")
)

// CheckTimes requires exp and applies leeway to exp, nbf and iat. An iat
// in the future is treated like nbf: a token cannot be used before it was
// issued.
func CheckTimes(exp, nbf, iat *jwt.NumericDate, now time.Time, leeway time.Duration) error {
	if exp == nil {
		return errors.New("has no exp claim; tokens without an expiry are not accepted")
	}
	if now.Add(-leeway).After(exp.Time()) {
		return fmt.Errorf("%w at %s", ErrExpired, exp.Time().UTC().Format(time.RFC3339))
	}
	if nbf != nil && now.Add(leeway).Before(nbf.Time()) {
		return fmt.Errorf("%w: nbf is %s", ErrNotYetValid, nbf.Time().UTC().Format(time.RFC3339))
	}
	if iat != nil && now.Add(leeway).Before(iat.Time()) {
		return fmt.Errorf("%w: iat %s is in the future", ErrNotYetValid, iat.Time().UTC().Format(time.RFC3339))
	}
	return nil
}

// AccessTokenHash returns the ath value for token: base64url(SHA-256).
func AccessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func truncateList(l []string) string {
	if len(l) > 4 {
		l = l[:4]
	}
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = truncate(s, 64)
	}
	return strings.Join(out, ",")
}
