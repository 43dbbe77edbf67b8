package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// FileSigner is a key in a PKCS#8 PEM file. It is the development default:
// the key is in the daemon's memory, so production nodes should use a TPM,
// KMS or PKCS#11 backend instead.
type FileSigner struct {
	uri  string
	priv crypto.Signer
	alg  Algorithm
}

// openFile opens file:///path. With opts.Create it creates a missing key
// with mode 0600. It refuses a key file that group or others can read or
// write, as ssh does, because such a key must be taken as disclosed.
func openFile(_ context.Context, u *url.URL, opts Options) (Signer, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("key URI %q names host %q; use file:///ABSOLUTE/PATH", u.String(), u.Host)
	}
	path := u.Path
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("key URI %q needs an absolute path; use file:///ABSOLUTE/PATH", u.String())
	}

	priv, err := loadKeyFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && opts.Create:
		priv, err = createKeyFile(path, opts.Algorithm)
	case errors.Is(err, fs.ErrNotExist):
		return nil, &missingKeyFileError{path: path, err: err}
	}
	if err != nil {
		return nil, err
	}

	alg, err := AlgorithmOf(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return &FileSigner{uri: "file://" + path, priv: priv, alg: alg}, nil
}

// MissingKeyFileHint returns what to do about a key file at path that does
// not exist while the config's key.create is false.
func MissingKeyFileHint(path string) string {
	return fmt.Sprintf("set key.create: true to create it at start (for development), or create it with signerctl key create --backend file --path %s", path)
}

// missingKeyFileError is a key file that does not exist, with the hint.
type missingKeyFileError struct {
	path string
	err  error
}

func (e *missingKeyFileError) Error() string {
	return fmt.Sprintf("key file %s not found; %s", e.path, MissingKeyFileHint(e.path))
}

func (e *missingKeyFileError) Unwrap() error { return e.err }

func loadKeyFile(path string) (crypto.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("key file %s has mode %04o, which lets group or others access it; run chmod 0600 %s and replace the key if others may have read it",
			path, perm, path)
	}

	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}

	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("key file %s contains no PKCS#8 PEM block (\"-----BEGIN PRIVATE KEY-----\")", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("key file %s: parse PKCS#8: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key file %s contains a %T, which cannot sign", path, key)
	}
	return signer, nil
}

// createKeyFile writes a new key with O_EXCL and mode 0600, so it never
// exists with a wider mode and never overwrites a key another process made.
func createKeyFile(path string, alg Algorithm) (crypto.Signer, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case "", ECDSAP256SHA256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("cannot create a key file with algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}

	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create key file: %w", err)
	}
	if _, err := f.Write(pemBytes); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("sync key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return priv, nil
}

// Public returns the public key.
func (s *FileSigner) Public() crypto.PublicKey { return s.priv.Public() }

// Algorithm returns the key's algorithm.
func (s *FileSigner) Algorithm() Algorithm { return s.alg }

// URI returns file:///path.
func (s *FileSigner) URI() string { return s.uri }

func (s *FileSigner) signsInMemory() {}

// Close does nothing: the key lives in memory until the process exits.
func (s *FileSigner) Close() error { return nil }

// SignMessage signs message: SHA-256 and ASN.1 DER for ECDSA, pure
// Ed25519 otherwise.
func (s *FileSigner) SignMessage(_ context.Context, message []byte) ([]byte, error) {
	switch s.alg {
	case ECDSAP256SHA256:
		sum := sha256.Sum256(message)
		return s.priv.Sign(rand.Reader, sum[:], crypto.SHA256)
	case Ed25519:
		return s.priv.Sign(rand.Reader, message, crypto.Hash(0))
	}
	return nil, fmt.Errorf("unsupported algorithm %q", s.alg)
}
