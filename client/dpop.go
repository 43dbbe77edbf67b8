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
	"strings"
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
	alg, err := dpopAlgorithm(key)
	if err != nil {
		return "", err
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType(api.TypeDPoP)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return "", fmt.Errorf("DPoP signer: %w", err)
	}

	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	claims := map[string]any{
		"jti": base64.RawURLEncoding.EncodeToString(jti[:]),
		"htm": method,
		"htu": htu,
		"iat": now.Unix(),
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign DPoP proof: %w", err)
	}
	return jws.CompactSerialize()
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
