package client

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/signerd/signerd/daemon/api"
)

// LoadDPoPKey reads a DPoP private key: a JWK (JSON) or a PKCS #8 PEM
// file holding an EC P-256 or Ed25519 key.
func LoadDPoPKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read DPoP key: %w", err)
	}
	var key any
	if block, _ := pem.Decode(data); block != nil {
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("DPoP key %s: %w", path, err)
		}
	} else {
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(data, &jwk); err != nil {
			return nil, fmt.Errorf("DPoP key %s is neither PEM nor a JWK: %w", path, err)
		}
		key = jwk.Key
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("DPoP key %s is on curve %s; use P-256", path, k.Curve.Params().Name)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("DPoP key %s is not a private EC P-256 or Ed25519 key", path)
}

// dpopAlgorithm returns the JWS algorithm for a DPoP key.
func dpopAlgorithm(key crypto.Signer) (jose.SignatureAlgorithm, error) {
	switch key.(type) {
	case *ecdsa.PrivateKey:
		return jose.ES256, nil
	case ed25519.PrivateKey:
		return jose.EdDSA, nil
	}
	return "", errors.New("DPoP key must be EC P-256 or Ed25519")
}

// NewDPoPProof builds a DPoP proof (RFC 9449 section 4.2) for one request:
// a fresh jti, the method, the target URI htu (no query or fragment), the
// hash of accessToken when it is set, and nonce when it is set.
func NewDPoPProof(key crypto.Signer, method, htu, accessToken, nonce string, now time.Time) (string, error) {
	p, err := newProofSigner(key)
	if err != nil {
		return "", err
	}
	return p.sign(method, htu, accessToken, nonce, now)
}

// proofSigner signs DPoP proofs with one key. A proof's protected header
// (alg, typ and the public key as a JWK) is the same for every proof by
// that key, so it is encoded once, and each proof costs one claims
// encoding and one signature.
type proofSigner struct {
	// key is an *ecdsa.PrivateKey on P-256 or an ed25519.PrivateKey.
	key crypto.Signer

	// header is the base64url protected header followed by ".".
	header string

	// lastHash is the ath of the last access token, which is the same
	// token on every call of a Client.
	lastHash atomic.Pointer[tokenHash]
}

// tokenHash is an access token and its ath claim.
type tokenHash struct{ token, ath string }

// tokenHash returns the ath claim of accessToken: the base64url SHA-256
// of the token (RFC 9449 section 4.2).
func (p *proofSigner) tokenHash(accessToken string) string {
	if last := p.lastHash.Load(); last != nil && last.token == accessToken {
		return last.ath
	}
	sum := sha256.Sum256([]byte(accessToken))
	h := &tokenHash{token: accessToken, ath: base64.RawURLEncoding.EncodeToString(sum[:])}
	p.lastHash.Store(h)
	return h.ath
}

// appendJSONString appends s as a JSON string. Printable ASCII without
// quotes or backslashes, as in methods, URLs and nonces, is copied as it
// is. Any other string is encoded by encoding/json.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x7f || b == '"' || b == '\\' {
			quoted, _ := json.Marshal(s) // a string always encodes
			return append(dst, quoted...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func newProofSigner(key crypto.Signer) (*proofSigner, error) {
	alg, err := dpopAlgorithm(key)
	if err != nil {
		return nil, err
	}
	if k, ok := key.(*ecdsa.PrivateKey); ok && k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("DPoP key is on curve %s; use P-256", k.Curve.Params().Name)
	}
	jwk, err := (&jose.JSONWebKey{Key: key.Public()}).MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("DPoP key as JWK: %w", err)
	}
	header, err := json.Marshal(struct {
		Algorithm string          `json:"alg"`
		Type      string          `json:"typ"`
		JWK       json.RawMessage `json:"jwk"`
	}{string(alg), api.TypeDPoP, jwk})
	if err != nil {
		return nil, err
	}
	return &proofSigner{key: key, header: base64.RawURLEncoding.EncodeToString(header) + "."}, nil
}

// sign returns a compact JWS (RFC 7515 section 7.1) over the claims of
// one proof.
func (p *proofSigner) sign(method, htu, accessToken, nonce string, now time.Time) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	payload := make([]byte, 0, 256)
	payload = append(payload, `{"jti":"`...)
	payload = base64.RawURLEncoding.AppendEncode(payload, jti[:])
	payload = append(payload, `","htm":`...)
	payload = appendJSONString(payload, method)
	payload = append(payload, `,"htu":`...)
	payload = appendJSONString(payload, htu)
	payload = append(payload, `,"iat":`...)
	payload = strconv.AppendInt(payload, now.Unix(), 10)
	if accessToken != "" {
		payload = append(payload, `,"ath":"`...)
		payload = append(payload, p.tokenHash(accessToken)...)
		payload = append(payload, '"')
	}
	if nonce != "" {
		payload = append(payload, `,"nonce":`...)
		payload = appendJSONString(payload, nonce)
	}
	payload = append(payload, '}')

	enc := base64.RawURLEncoding
	input := make([]byte, 0, len(p.header)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(64))
	input = append(input, p.header...)
	input = enc.AppendEncode(input, payload)

	var sig []byte
	switch k := p.key.(type) {
	case *ecdsa.PrivateKey:
		// JWS ES256 is the raw r || s, each 32 bytes (RFC 7518 section
		// 3.4), not the ASN.1 form crypto/ecdsa returns.
		digest := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, k, digest[:])
		if err != nil {
			return "", fmt.Errorf("sign DPoP proof: %w", err)
		}
		var raw [64]byte
		r.FillBytes(raw[:32])
		s.FillBytes(raw[32:])
		sig = raw[:]
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, input)
	default:
		return "", errors.New("DPoP key must be EC P-256 or Ed25519")
	}

	input = append(input, '.')
	input = enc.AppendEncode(input, sig)
	return string(input), nil
}

// DPoPThumbprint returns the base64url RFC 7638 SHA-256 thumbprint of a
// public key, the value of cnf.jkt in a token bound to it.
func DPoPThumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// readTokenFile reads a token file, dropping surrounding white space.
func readTokenFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}
