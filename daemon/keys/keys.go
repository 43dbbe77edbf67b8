// Package keys defines the Signer that every key backend implements and
// opens backends by URI.
//
// A key is named by a URI whose scheme selects the backend: file:// here,
// and TPM, KMS and PKCS#11 backends registered by their own packages. A
// Signer signs whole messages and hashes them as its algorithm requires, so
// callers never pick a hash. ECDSA signatures are ASN.1 DER, the form DSSE
// verifiers expect. Backends must be safe for concurrent use.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Algorithm is a signature algorithm with its hash.
type Algorithm string

// Algorithms a Signer may use.
const (
	ECDSAP256SHA256 Algorithm = "ecdsa-p256-sha256"
	Ed25519         Algorithm = "ed25519"
)

// ParseAlgorithm accepts the algorithm names used in the config.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToLower(s) {
	case "", "ecdsa-p256", "ecdsa-p256-sha256", "p256":
		return ECDSAP256SHA256, nil
	case "ed25519":
		return Ed25519, nil
	}
	return "", fmt.Errorf("unknown key algorithm %q; use ecdsa-p256 or ed25519", s)
}

// Signer is a signing key held by a backend.
type Signer interface {
	// Public returns the public key.
	Public() crypto.PublicKey

	// Algorithm returns the signature algorithm.
	Algorithm() Algorithm

	// SignMessage signs message. The backend hashes it when the algorithm
	// has a hash (SHA-256 for ECDSA P-256).
	SignMessage(ctx context.Context, message []byte) ([]byte, error)

	// URI names the key without any secret, for logs and /v1/keys.
	URI() string

	// Close releases the backend's resources.
	Close() error
}

// Options tune how a backend opens a key.
type Options struct {
	// Create asks the backend to create the key when it does not exist.
	// Backends that cannot create keys ignore it.
	Create bool

	// Algorithm is the algorithm of a created key.
	Algorithm Algorithm
}

// OpenFunc opens the key that u names.
type OpenFunc func(ctx context.Context, u *url.URL, opts Options) (Signer, error)

var (
	backendsMu sync.RWMutex
	backends   = map[string]OpenFunc{"file": openFile}
)

// Register makes a backend available under a URI scheme. It panics when
// the scheme is taken, because two backends for one scheme is a build error.
func Register(scheme string, open OpenFunc) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if _, dup := backends[scheme]; dup {
		panic("keys: backend registered twice for scheme " + scheme)
	}
	backends[scheme] = open
}

// Schemes returns the registered URI schemes, sorted.
func Schemes() []string {
	backendsMu.RLock()
	defer backendsMu.RUnlock()
	out := make([]string, 0, len(backends))
	for s := range backends {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Open opens the key that uri names.
func Open(ctx context.Context, uri string, opts Options) (Signer, error) {
	u, err := url.Parse(uri)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("invalid key URI %q: %w", Redact(uri), err)
	}

	backendsMu.RLock()
	open, ok := backends[u.Scheme]
	backendsMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("key URI %q has unknown scheme %q; supported: %s",
			Redact(uri), u.Scheme, strings.Join(Schemes(), ", "))
	}
	return open(ctx, u, opts)
}

// Verify checks sig over message with pub under alg.
func Verify(pub crypto.PublicKey, alg Algorithm, message, sig []byte) error {
	switch alg {
	case ECDSAP256SHA256:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("algorithm %s needs an ECDSA key, got %T", alg, pub)
		}
		sum := sha256.Sum256(message)
		if !ecdsa.VerifyASN1(k, sum[:], sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	case Ed25519:
		k, ok := pub.(ed25519.PublicKey)
		if !ok {
			return fmt.Errorf("algorithm %s needs an Ed25519 key, got %T", alg, pub)
		}
		if !ed25519.Verify(k, message, sig) {
			return errors.New("Ed25519 signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("unknown algorithm %q", alg)
}

// SelfTest signs a random message with s and verifies the signature with
// its public key. The daemon runs it once at start, so a backend that
// returns malformed signatures fails there rather than in a caller's hands.
func SelfTest(ctx context.Context, s Signer) error {
	msg := make([]byte, 32)
	if _, err := rand.Read(msg); err != nil {
		return err
	}
	sig, err := s.SignMessage(ctx, msg)
	if err != nil {
		return fmt.Errorf("self-test: sign with %s: %w", s.URI(), err)
	}
	if err := Verify(s.Public(), s.Algorithm(), msg, sig); err != nil {
		return fmt.Errorf("self-test: key %s: %w", s.URI(), err)
	}
	return nil
}

// AlgorithmOf returns the algorithm that fits a public key.
func AlgorithmOf(pub crypto.PublicKey) (Algorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve.Params().Name != "P-256" {
			return "", fmt.Errorf("ECDSA curve %s is not supported; use P-256", k.Curve.Params().Name)
		}
		return ECDSAP256SHA256, nil
	case ed25519.PublicKey:
		return Ed25519, nil
	}
	return "", fmt.Errorf("public key type %T is not supported", pub)
}

// Redact returns uri with the value of any pin-value attribute replaced,
// for error messages and logs. PKCS#11 URIs (RFC 7512) may carry the
// token's PIN that way.
func Redact(uri string) string {
	const attr = "pin-value="
	out := uri
	for i := 0; ; {
		j := strings.Index(out[i:], attr)
		if j < 0 {
			return out
		}
		start := i + j + len(attr)
		end := strings.IndexAny(out[start:], "&;#")
		if end < 0 {
			end = len(out) - start
		}
		out = out[:start] + "REDACTED" + out[start+end:]
		i = start + len("REDACTED")
	}
}
