package token

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// MaxTokenBytes bounds every token and proof before it is parsed, so a
// huge header costs one length check and no allocation.
const MaxTokenBytes = 8 << 10

// Algorithms lists the only signature algorithms accepted in any slot.
var Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA}

// checkCompact rejects anything that is not a JWS in compact form of at
// most MaxTokenBytes: a JWE (five parts), a JSON serialization, or a run
// of dots. It runs before any decoding and allocates nothing.
func checkCompact(raw string) error {
	if raw == "" {
		return errors.New("token is empty")
	}
	if len(raw) > MaxTokenBytes {
		return fmt.Errorf("token is %d bytes, over the limit of %d", len(raw), MaxTokenBytes)
	}
	if n := strings.Count(raw, "."); n != 2 {
		return fmt.Errorf("token has %d parts; a signed JWT in compact form has 3 (encrypted tokens are not accepted)", n+1)
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("token contains byte 0x%02x at offset %d; a compact JWT holds base64url and dots only", c, i)
		}
	}
	return nil
}

// parseCompact checks raw's shape and parses it as a single-signature
// compact JWS with an allowed algorithm.
func parseCompact(raw string) (*jose.JSONWebSignature, *jose.Header, error) {
	if err := checkCompact(raw); err != nil {
		return nil, nil, err
	}
	jws, err := jose.ParseSignedCompact(raw, Algorithms)
	if err != nil {
		return nil, nil, fmt.Errorf("parse JWS: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, nil, fmt.Errorf("JWS has %d signatures, want 1", len(jws.Signatures))
	}
	h := jws.Signatures[0].Protected
	return jws, &h, nil
}

// headerType returns the typ header, lower-cased and without an
// "application/" prefix (RFC 7515 section 4.1.9 allows both forms).
func headerType(h *jose.Header) string {
	v, _ := h.ExtraHeaders[jose.HeaderType].(string)
	v = strings.ToLower(v)
	return strings.TrimPrefix(v, "application/")
}

// rejectEmbeddedKeys fails when the header names a key by value or by
// reference. Tokens verified against a configured key set must not carry
// one, because a verifier that used it would trust the signer's own key.
func rejectEmbeddedKeys(h *jose.Header) error {
	if h.JSONWebKey != nil {
		return errors.New("header carries a jwk; keys come from the configured key set only")
	}
	for _, name := range []jose.HeaderKey{"jku", "x5u"} {
		if _, ok := h.ExtraHeaders[name]; ok {
			return fmt.Errorf("header carries %s; keys come from the configured key set only", name)
		}
	}
	if _, err := h.Certificates(x509.VerifyOptions{}); !errors.Is(err, jose.ErrMissingX5cHeader) {
		return errors.New("header carries x5c; keys come from the configured key set only")
	}
	return nil
}

// SignatureError marks a token whose signature, key or header failed,
// as opposed to one whose claims failed after a good signature.
type SignatureError struct{ Err error }

func (e *SignatureError) Error() string { return e.Err.Error() }
func (e *SignatureError) Unwrap() error { return e.Err }

// VerifySigned verifies raw as a compact JWS of type typ signed by a key
// from keys, and returns its payload. It checks, in order: shape, allowed
// algorithm, typ, the absence of embedded keys, the key for kid and alg,
// and the signature. Nothing in the payload is read before the signature
// holds. Every failure is a *SignatureError.
func VerifySigned(raw string, keys *KeySet, typ string) ([]byte, error) {
	jws, h, err := parseCompact(raw)
	if err != nil {
		return nil, &SignatureError{err}
	}
	if got := headerType(h); got != typ {
		return nil, &SignatureError{fmt.Errorf("typ is %q, want %q", got, typ)}
	}
	if err := rejectEmbeddedKeys(h); err != nil {
		return nil, &SignatureError{err}
	}
	key, err := keys.lookup(h.KeyID, h.Algorithm)
	if err != nil {
		return nil, &SignatureError{err}
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, &SignatureError{fmt.Errorf("signature verification failed: %w", err)}
	}
	return payload, nil
}
