package pkcs11key

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/ThalesGroup/crypto11"

	"github.com/signerd/signerd/daemon/keys"
)

func init() { keys.Register("pkcs11", open) }

// ErrPoolExhausted marks a signature that found every PKCS#11 session busy
// for the whole pool-timeout.
var ErrPoolExhausted = errors.New("all PKCS#11 sessions are busy")

// Signer signs with an ECDSA P-256 key in a PKCS#11 token.
type Signer struct {
	loc    Location
	ctx    *crypto11.Context
	key    crypto11.Signer
	pub    *ecdsa.PublicKey
	tokens chan struct{} // one per session the signer may use at once
}

func open(ctx context.Context, u *url.URL, opts keys.Options) (keys.Signer, error) {
	loc, err := ParseURI(u.String())
	if err != nil {
		return nil, err
	}
	if opts.Create && opts.Algorithm != "" && opts.Algorithm != keys.ECDSAP256SHA256 {
		return nil, fmt.Errorf("PKCS#11 keys are ECDSA P-256; set key.algorithm to ecdsa-p256, not %s", opts.Algorithm)
	}
	return Open(ctx, loc, opts.Create)
}

// Open logs in to the token and finds the key. With create it generates a
// missing ECDSA P-256 pair with the URI's object label and id. When the
// URI has no id, the new key gets a random 16-digit hex id.
func Open(_ context.Context, loc Location, create bool) (*Signer, error) {
	pin, err := readPIN(loc)
	if err != nil {
		return nil, err
	}

	// crypto11 takes one more session than signatures can use, for the
	// login and the key lookups.
	c11, err := crypto11.Configure(&crypto11.Config{
		Path:            loc.Module,
		TokenLabel:      loc.Token,
		TokenSerial:     loc.Serial,
		SlotNumber:      loc.SlotID,
		Pin:             pin,
		MaxSessions:     loc.MaxSessions + 1,
		PoolWaitTimeout: loc.PoolTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("open PKCS#11 token %s with module %s: %w", loc.tokenName(), loc.Module, err)
	}

	key, err := findOrCreate(c11, &loc, create)
	if err != nil {
		c11.Close()
		return nil, err
	}

	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		c11.Close()
		return nil, fmt.Errorf("PKCS#11 key %s is a %T, not an ECDSA P-256 key", loc.URI(), key.Public())
	}

	return &Signer{
		loc:    loc,
		ctx:    c11,
		key:    key,
		pub:    pub,
		tokens: make(chan struct{}, loc.MaxSessions),
	}, nil
}

func findOrCreate(c11 *crypto11.Context, loc *Location, create bool) (crypto11.Signer, error) {
	var label []byte
	if loc.Object != "" {
		label = []byte(loc.Object)
	}
	found, err := c11.FindKeyPairs(loc.ID, label)
	if err != nil {
		return nil, fmt.Errorf("find PKCS#11 key %s: %w", loc.URI(), err)
	}
	switch len(found) {
	case 0:
	case 1:
		return found[0], nil
	default:
		return nil, fmt.Errorf("PKCS#11 URI %s matches %d keys in token %s; add id= or a unique object= to pick one", loc.URI(), len(found), loc.tokenName())
	}
	if !create {
		return nil, fmt.Errorf("PKCS#11 key %s not found in token %s; create it with signerctl key create --backend pkcs11", loc.URI(), loc.tokenName())
	}

	if len(loc.ID) == 0 {
		id := make([]byte, 8)
		if _, err := rand.Read(id); err != nil {
			return nil, err
		}
		loc.ID = []byte(fmt.Sprintf("%x", id))
	}
	key, err := c11.GenerateECDSAKeyPairWithLabel(loc.ID, label, elliptic.P256())
	if err != nil {
		return nil, fmt.Errorf("generate PKCS#11 key %s: %w", loc.URI(), err)
	}
	return key, nil
}

func readPIN(loc Location) (string, error) {
	if loc.PinSource == "" {
		return loc.PinValue, nil
	}
	data, err := os.ReadFile(loc.PinSource)
	if err != nil {
		return "", fmt.Errorf("read PKCS#11 pin-source: %w", err)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

func (l Location) tokenName() string {
	switch {
	case l.Token != "":
		return fmt.Sprintf("%q", l.Token)
	case l.Serial != "":
		return "with serial " + l.Serial
	}
	return fmt.Sprintf("in slot %d", *l.SlotID)
}

// Public returns the public key.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Algorithm returns ECDSA P-256 with SHA-256.
func (s *Signer) Algorithm() keys.Algorithm { return keys.ECDSAP256SHA256 }

// URI returns the key's pkcs11: URI without any PIN value.
func (s *Signer) URI() string { return s.loc.URI() }

// SignMessage hashes message with SHA-256 and has the token sign the
// digest with CKM_ECDSA. crypto11 turns the token's r||s into ASN.1 DER.
func (s *Signer) SignMessage(ctx context.Context, message []byte) ([]byte, error) {
	digest := sha256.Sum256(message)

	wait, cancel := context.WithTimeout(ctx, s.loc.PoolTimeout)
	defer cancel()
	select {
	case s.tokens <- struct{}{}:
	case <-wait.Done():
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wait for a PKCS#11 session: %w", ctx.Err())
		}
		return nil, fmt.Errorf("%w: %d sessions to token %s stayed in use for %s; raise max-sessions in the key URI or lower the signing load",
			ErrPoolExhausted, s.loc.MaxSessions, s.loc.tokenName(), s.loc.PoolTimeout)
	}
	defer func() { <-s.tokens }()

	sig, err := s.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("PKCS#11 sign with %s: %w", s.loc.URI(), err)
	}
	return sig, nil
}

// Close logs out and closes the module's sessions.
func (s *Signer) Close() error { return s.ctx.Close() }
