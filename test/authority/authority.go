// Package authority is a small token authority for tests and examples. It
// mints operator tokens (OpToks), Proofs-of-Entitlement (PoEs) and DPoP
// keys from its own keys, which it keeps in one directory.
//
// It is a test tool: its private keys sit in plain files (mode 0600) and
// it signs whatever it is asked to. Never use it to issue real tokens.
package authority

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/signerd/signerd/daemon/api"
)

// Issuers and key ids of the test authority.
const (
	OpTokIssuer = "https://authority.signerd.test"
	PoEIssuer   = "https://licensing.signerd.test"
	OpTokKeyID  = "optok-es256-1"
	PoEKeyID    = "poe-ed25519-1"
)

// Files in the authority's directory.
const (
	OpTokJWKSFile = "optok.jwks.json"
	PoEJWKSFile   = "poe.jwks.json"
	opTokKeyFile  = "optok.key.json"
	poeKeyFile    = "poe.key.json"
)

// Authority holds the signing keys.
type Authority struct {
	Dir      string
	OpTokKey *ecdsa.PrivateKey
	PoEKey   ed25519.PrivateKey
}

// Init creates an authority with new keys in dir, or loads the one there.
func Init(dir string) (*Authority, error) {
	if _, err := os.Stat(filepath.Join(dir, opTokKeyFile)); err == nil {
		return Load(dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	opKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	_, poeKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	a := &Authority{Dir: dir, OpTokKey: opKey, PoEKey: poeKey}

	files := []struct {
		name string
		key  jose.JSONWebKey
		mode os.FileMode
	}{
		{opTokKeyFile, jose.JSONWebKey{Key: opKey, KeyID: OpTokKeyID, Algorithm: string(jose.ES256), Use: "sig"}, 0o600},
		{poeKeyFile, jose.JSONWebKey{Key: poeKey, KeyID: PoEKeyID, Algorithm: string(jose.EdDSA), Use: "sig"}, 0o600},
	}
	for _, f := range files {
		if err := writeJSON(filepath.Join(dir, f.name), f.key, f.mode); err != nil {
			return nil, err
		}
		pub := f.key.Public()
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}}
		name := OpTokJWKSFile
		if f.name == poeKeyFile {
			name = PoEJWKSFile
		}
		if err := writeJSON(filepath.Join(dir, name), set, 0o644); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Load reads the authority in dir.
func Load(dir string) (*Authority, error) {
	a := &Authority{Dir: dir}
	var op, poe jose.JSONWebKey
	if err := readJSON(filepath.Join(dir, opTokKeyFile), &op); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, poeKeyFile), &poe); err != nil {
		return nil, err
	}
	var ok bool
	if a.OpTokKey, ok = op.Key.(*ecdsa.PrivateKey); !ok {
		return nil, errors.New("OpTok key is not an EC private key")
	}
	if a.PoEKey, ok = poe.Key.(ed25519.PrivateKey); !ok {
		return nil, errors.New("PoE key is not an Ed25519 private key")
	}
	return a, nil
}

// OpTokJWKS returns the path of the OpTok public key set.
func (a *Authority) OpTokJWKS() string { return filepath.Join(a.Dir, OpTokJWKSFile) }

// PoEJWKS returns the path of the PoE public key set.
func (a *Authority) PoEJWKS() string { return filepath.Join(a.Dir, PoEJWKSFile) }

// OpTok describes a token to mint.
type OpTok struct {
	Tenant  string
	Subject string

	// Scope defaults to signer.sign.
	Scope string

	// TTL defaults to one hour.
	TTL time.Duration

	// JKT binds the token to a DPoP key when set.
	JKT string

	// Now defaults to time.Now().
	Now time.Time
}

// MintOpTok signs an OpTok.
func (a *Authority) MintOpTok(o OpTok) (string, error) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if o.Scope == "" {
		o.Scope = api.ScopeSign
	}
	if o.TTL == 0 {
		o.TTL = time.Hour
	}
	claims := map[string]any{
		"iss":    OpTokIssuer,
		"sub":    o.Subject,
		"aud":    api.TokenAudience,
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    now.Add(o.TTL).Unix(),
		"jti":    randomID(),
		"scope":  o.Scope,
		"tenant": o.Tenant,
	}
	if o.JKT != "" {
		claims["cnf"] = map[string]string{"jkt": o.JKT}
	}
	return Sign(a.OpTokKey, jose.ES256, OpTokKeyID, api.TypeOpTok, claims, nil)
}

// PoE describes a Proof-of-Entitlement to mint.
type PoE struct {
	Tenant string
	Plan   string

	QPS              float64
	Burst            int
	Concurrency      int
	MaxArtifactBytes int64

	// ScannerVersions is a semver range; empty allows any version.
	ScannerVersions string

	// TTL defaults to 30 days; IssuedAt defaults to Now.
	TTL      time.Duration
	IssuedAt time.Time
	Now      time.Time
}

// MintPoE signs a PoE.
func (a *Authority) MintPoE(p PoE) (string, error) {
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	iat := p.IssuedAt
	if iat.IsZero() {
		iat = now
	}
	if p.TTL == 0 {
		p.TTL = 30 * 24 * time.Hour
	}

	quotas := map[string]any{}
	if p.QPS > 0 {
		quotas["qps"] = p.QPS
	}
	if p.Burst > 0 {
		quotas["burst"] = p.Burst
	}
	if p.Concurrency > 0 {
		quotas["concurrency"] = p.Concurrency
	}
	if p.MaxArtifactBytes > 0 {
		quotas["max_artifact_bytes"] = p.MaxArtifactBytes
	}

	claims := map[string]any{
		"iss":    PoEIssuer,
		"sub":    p.Tenant,
		"aud":    api.TokenAudience,
		"iat":    iat.Unix(),
		"exp":    now.Add(p.TTL).Unix(),
		"jti":    randomID(),
		"tenant": p.Tenant,
		"plan":   p.Plan,
		"quotas": quotas,
	}
	if p.ScannerVersions != "" {
		claims["scanner_versions"] = p.ScannerVersions
	}
	return Sign(a.PoEKey, jose.EdDSA, PoEKeyID, api.TypePoE, claims, nil)
}

// Sign signs claims as a compact JWS with the given header values. Tests
// use it to build tokens the authority would never issue.
func Sign(key crypto.Signer, alg jose.SignatureAlgorithm, kid, typ string, claims any, extra map[jose.HeaderKey]any) (string, error) {
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, opts)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// NewDPoPKey returns a new EC P-256 DPoP key.
func NewDPoPKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// WriteDPoPKey writes key to path as a private JWK, mode 0600.
func WriteDPoPKey(path string, key crypto.Signer) error {
	return writeJSON(path, jose.JSONWebKey{Key: key}, 0o600)
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}

func writeJSON(path string, v any, mode os.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), mode)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
