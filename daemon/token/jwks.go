package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	jose "github.com/go-jose/go-jose/v4"
)

// maxJWKSBytes bounds a key set file.
const maxJWKSBytes = 1 << 20

// KeySet is a verified set of public signing keys, each bound to one
// algorithm.
type KeySet struct {
	keys []jose.JSONWebKey
}

// LoadKeySet reads a JWKS file. Every key must be a public ES256 (P-256)
// or EdDSA (Ed25519) key with a kid. A key whose alg is set must agree
// with its type, and "use", when set, must be "sig". A file that breaks
// any rule is rejected whole, so a typo never silently drops a key.
func LoadKeySet(path string) (*KeySet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key set: %w", err)
	}
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("key set %s is %d bytes, over the limit of %d", path, len(data), maxJWKSBytes)
	}
	return ParseKeySet(data)
}

// ParseKeySet parses and checks a JWKS document as LoadKeySet does.
func ParseKeySet(data []byte) (*KeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("key set is not a valid JWKS: %w", err)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("key set contains no keys; add the issuer's public keys")
	}

	ks := &KeySet{}
	for i, k := range set.Keys {
		if k.KeyID == "" {
			return nil, fmt.Errorf("key %d has no kid", i)
		}
		if !k.IsPublic() {
			return nil, fmt.Errorf("key %q contains a private key; publish public keys only", k.KeyID)
		}
		if k.Use != "" && k.Use != "sig" {
			return nil, fmt.Errorf("key %q has use %q, want sig", k.KeyID, k.Use)
		}
		alg, err := keyAlgorithm(k.Key)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.KeyID, err)
		}
		if k.Algorithm != "" && k.Algorithm != string(alg) {
			return nil, fmt.Errorf("key %q has alg %q but is a %s key", k.KeyID, k.Algorithm, alg)
		}
		k.Algorithm = string(alg)
		ks.keys = append(ks.keys, k)
	}
	return ks, nil
}

// keyAlgorithm returns the one algorithm a public key may verify.
func keyAlgorithm(key any) (jose.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("EC curve %s is not accepted; use P-256", k.Curve.Params().Name)
		}
		return jose.ES256, nil
	case ed25519.PublicKey:
		return jose.EdDSA, nil
	}
	return "", fmt.Errorf("key type %T is not accepted; use an EC P-256 or Ed25519 key", key)
}

// lookup returns the key with kid whose algorithm is alg. Unlike
// JSONWebKeySet.Key, it never returns a key of another algorithm that
// happens to share the kid.
func (ks *KeySet) lookup(kid, alg string) (any, error) {
	if kid == "" {
		return nil, errors.New("header has no kid")
	}
	found := false
	for _, k := range ks.keys {
		if k.KeyID != kid {
			continue
		}
		found = true
		if k.Algorithm == alg {
			return k.Key, nil
		}
	}
	if found {
		return nil, fmt.Errorf("key %q does not verify alg %s", kid, alg)
	}
	return nil, fmt.Errorf("no key with kid %q in the key set", kid)
}

// Len returns the number of keys.
func (ks *KeySet) Len() int { return len(ks.keys) }
