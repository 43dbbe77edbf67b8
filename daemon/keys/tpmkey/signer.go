package tpmkey

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"strings"
	"time"

	keyfile "github.com/foxboron/go-tpm-keyfiles"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/signerd/signerd/daemon/keys"
)

func init() { keys.Register("tpm", open) }

// maxRetries bounds how often one signature is retried after TPM_RC_RETRY,
// TPM_RC_YIELDED or TPM_RC_TESTING. A fresh swtpm returns TPM_RC_RETRY for the first TPM2_Sign.
const maxRetries = 5

// ErrAuthorization marks a signature the TPM rejected because the key's
// authorization value is wrong. It is never retried.
var ErrAuthorization = errors.New("TPM rejected the key's authorization value")

// Signer signs with a TPM-resident ECC P-256 key. Commands to the TPM are
// serialized, because the TPM runs one command at a time and the HMAC
// session's nonces must advance in order.
type Signer struct {
	loc       Location
	auth      []byte
	ownerAuth []byte
	key       *keyfile.TPMKey // nil for a persistent handle
	pub       *ecdsa.PublicKey

	// sem holds the right to talk to the TPM. It is a channel so that a
	// waiting request can give up when its context ends.
	sem chan struct{}

	// conn is the open connection, or nil after a transport failure; the
	// next signature opens a new one.
	conn *connection

	closed bool
}

// connection is the TPM state a Signer keeps between signatures.
type connection struct {
	tpm       transport.TPMCloser
	keyHandle tpm2.TPMHandle
	keyName   tpm2.TPM2BName
	flushKey  bool // the key is a transient object this signer loaded

	sess      tpm2.Session
	closeSess func() error
}

func open(ctx context.Context, u *url.URL, opts keys.Options) (keys.Signer, error) {
	loc, err := ParseURI(u)
	if err != nil {
		return nil, err
	}
	if opts.Create && opts.Algorithm != "" && opts.Algorithm != keys.ECDSAP256SHA256 {
		return nil, fmt.Errorf("TPM keys are ECDSA P-256; set key.algorithm to ecdsa-p256, not %s", opts.Algorithm)
	}
	if opts.Create && loc.KeyFile != "" {
		if _, err := os.Stat(loc.KeyFile); errors.Is(err, os.ErrNotExist) {
			if _, err := Create(loc); err != nil {
				return nil, err
			}
		}
	}
	return Open(ctx, loc)
}

// Open loads the key at loc into the TPM and starts the session that all
// its signatures use.
func Open(ctx context.Context, loc Location) (*Signer, error) {
	s := &Signer{loc: loc, sem: make(chan struct{}, 1)}

	var err error
	if s.auth, err = readAuth(loc.AuthFile); err != nil {
		return nil, err
	}
	if s.ownerAuth, err = readAuth(loc.OwnerAuthFile); err != nil {
		return nil, err
	}
	if loc.KeyFile != "" {
		if s.key, err = readKeyFile(loc.KeyFile); err != nil {
			return nil, err
		}
	}

	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.release()
	if err := s.connect(); err != nil {
		return nil, err
	}
	return s, nil
}

func readAuth(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read TPM auth file: %w", err)
	}
	return []byte(strings.TrimRight(string(data), "\r\n")), nil
}

func readKeyFile(path string) (*keyfile.TPMKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read TPM key file: %w", err)
	}
	key, err := keyfile.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("TPM key file %s: %w; expected a \"-----BEGIN TSS2 PRIVATE KEY-----\" PEM block", path, err)
	}
	if !key.Keytype.Equal(keyfile.OIDLoadableKey) {
		return nil, fmt.Errorf("TPM key file %s contains key type %v, not a loadable key (%v)", path, key.Keytype, keyfile.OIDLoadableKey)
	}
	if key.Parent != tpm2.TPMRHOwner {
		return nil, fmt.Errorf("TPM key file %s has parent 0x%08x; signerd loads keys under the owner hierarchy's storage root key (parent 0x%08x)", path, uint32(key.Parent), uint32(tpm2.TPMRHOwner))
	}
	return key, nil
}

// checkSigningKey accepts only unrestricted ECC P-256 signing keys. A
// restricted key signs only digests the TPM computed itself and fails on
// a host digest with TPM_RC_TICKET.
func checkSigningKey(pub *tpm2.TPMTPublic) (*ecdsa.PublicKey, error) {
	if pub.Type != tpm2.TPMAlgECC {
		return nil, fmt.Errorf("TPM key has type %v; signerd needs an ECC P-256 key", pub.Type)
	}
	attrs := pub.ObjectAttributes
	if !attrs.SignEncrypt {
		return nil, errors.New("TPM key is not a signing key (sign attribute clear)")
	}
	if attrs.Restricted {
		return nil, errors.New("TPM key is restricted: it cannot sign digests computed outside the TPM; create an unrestricted signing key with signerctl key create --backend tpm")
	}
	k, err := tpm2.Pub(*pub)
	if err != nil {
		return nil, fmt.Errorf("TPM key public area: %w", err)
	}
	ec, ok := k.(*ecdsa.PublicKey)
	if !ok || ec.Curve.Params().Name != "P-256" {
		return nil, errors.New("TPM key is not on curve P-256")
	}
	return ec, nil
}

func (s *Signer) acquire(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for TPM %s: %w", s.loc.Device, ctx.Err())
	}
}

func (s *Signer) release() { <-s.sem }

// connect opens the TPM, loads the key and starts the salted session. It
// flushes the storage root key before it returns, so a signer occupies one
// object slot (swtpm has three, and without a resource manager a leaked
// handle stays there after the client is gone).
func (s *Signer) connect() (err error) {
	tpm, err := openDevice(s.loc.Device)
	if err != nil {
		return err
	}
	c := &connection{tpm: tpm}
	defer func() {
		if err != nil {
			c.close()
		}
	}()

	srk, srkPub, err := createSRK(tpm, s.ownerAuth)
	if err != nil {
		return err
	}
	defer flush(tpm, srk.Handle)

	var keyPub *tpm2.TPMTPublic
	if s.key != nil {
		rsp, err := withRetry(func() (*tpm2.LoadResponse, error) {
			return tpm2.Load{
				ParentHandle: srk,
				InPrivate:    s.key.Privkey,
				InPublic:     s.key.Pubkey,
			}.Execute(tpm)
		})
		if err != nil {
			return fmt.Errorf("load TPM key %s: %w", s.loc.KeyFile, err)
		}
		c.keyHandle, c.keyName, c.flushKey = rsp.ObjectHandle, rsp.Name, true
		if keyPub, err = s.key.Pubkey.Contents(); err != nil {
			return err
		}
	} else {
		rsp, err := withRetry(func() (*tpm2.ReadPublicResponse, error) {
			return tpm2.ReadPublic{ObjectHandle: tpm2.TPMHandle(s.loc.Handle)}.Execute(tpm)
		})
		if err != nil {
			return fmt.Errorf("read TPM key at handle 0x%08x: %w", s.loc.Handle, err)
		}
		c.keyHandle, c.keyName = tpm2.TPMHandle(s.loc.Handle), rsp.Name
		if keyPub, err = rsp.OutPublic.Contents(); err != nil {
			return err
		}
	}

	pub, err := checkSigningKey(keyPub)
	if err != nil {
		return fmt.Errorf("%s: %w", s.URI(), err)
	}
	if s.pub != nil && !s.pub.Equal(pub) {
		return fmt.Errorf("%s: the key's public key changed since it was opened", s.URI())
	}
	s.pub = pub

	// The session encrypts the command direction only: TPM2_Sign has no
	// encryptable response parameter, and asking for both fails with
	// TPM_RC_ATTRIBUTES.
	c.sess, c.closeSess, err = tpm2.HMACSession(tpm, tpm2.TPMAlgSHA256, 16,
		tpm2.Auth(s.auth),
		tpm2.Salted(srk.Handle, *srkPub),
		tpm2.AESEncryption(128, tpm2.EncryptIn))
	if err != nil {
		return fmt.Errorf("start TPM session: %w", err)
	}

	s.conn = c
	return nil
}

// createSRK creates the owner hierarchy's storage root key from the ECC
// P-256 template that the OpenSSL tpm2 provider and ssh-tpm-agent use, so
// key files move between those tools and signerd.
func createSRK(tpm transport.TPM, ownerAuth []byte) (tpm2.AuthHandle, *tpm2.TPMTPublic, error) {
	rsp, err := withRetry(func() (*tpm2.CreatePrimaryResponse, error) {
		return tpm2.CreatePrimary{
			PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(ownerAuth)},
			InPublic:      tpm2.New2B(keyfile.ECCSRK_H2_Template),
		}.Execute(tpm)
	})
	if err != nil {
		if errors.Is(err, tpm2.TPMRCAuthFail) || errors.Is(err, tpm2.TPMRCBadAuth) {
			return tpm2.AuthHandle{}, nil, fmt.Errorf("create TPM storage root key: the TPM rejected the owner hierarchy password (%w); set owner-auth-file in the key URI to a file with the right one", err)
		}
		return tpm2.AuthHandle{}, nil, fmt.Errorf("create TPM storage root key: %w", describe(err))
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		flush(tpm, rsp.ObjectHandle)
		return tpm2.AuthHandle{}, nil, err
	}
	return tpm2.AuthHandle{Handle: rsp.ObjectHandle, Name: rsp.Name, Auth: tpm2.PasswordAuth(nil)}, pub, nil
}

func flush(tpm transport.TPM, h tpm2.TPMHandle) {
	_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(tpm)
}

// close flushes the session and the loaded key and closes the device.
func (c *connection) close() error {
	if c.closeSess != nil {
		_ = c.closeSess()
	}
	if c.flushKey {
		flush(c.tpm, c.keyHandle)
	}
	return c.tpm.Close()
}

// withRetry runs a TPM command again after a retryable warning, at most
// maxRetries times. Other errors, authorization failures among them,
// return at once.
func withRetry[T any](run func() (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		rsp, err := run()
		if err == nil || attempt == maxRetries || !retryable(err) {
			return rsp, err
		}
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
}

func retryable(err error) bool {
	return errors.Is(err, tpm2.TPMRCRetry) || errors.Is(err, tpm2.TPMRCYielded) || errors.Is(err, tpm2.TPMRCTesting)
}

// isTPMResponse reports whether err is a response code from the TPM, as
// opposed to a failure to reach it.
func isTPMResponse(err error) bool {
	var rc tpm2.TPMRC
	var fmt1 tpm2.TPMFmt1Error
	return errors.As(err, &rc) || errors.As(err, &fmt1)
}

// describe turns the TPM response codes an administrator must act on into
// messages that tell what to do.
func describe(err error) error {
	switch {
	case errors.Is(err, tpm2.TPMRCAuthFail), errors.Is(err, tpm2.TPMRCBadAuth):
		return fmt.Errorf("%w (%w); check the key's auth-file. signerd does not retry, because each failure counts toward the TPM's dictionary-attack lockout", ErrAuthorization, err)
	case errors.Is(err, tpm2.TPMRCLockout):
		return fmt.Errorf("TPM is in dictionary-attack lockout (%w); wait for the lockout to expire or reset it with tpm2_dictionarylockout --clear-lockout", err)
	case errors.Is(err, tpm2.TPMRCObjectMemory):
		return fmt.Errorf("TPM has no free object slot (%w); another client leaked transient handles, flush them with tpm2_flushcontext --transient-object", err)
	}
	return err
}

// Public returns the key's public key.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Algorithm returns ECDSA P-256 with SHA-256.
func (s *Signer) Algorithm() keys.Algorithm { return keys.ECDSAP256SHA256 }

// URI returns the key's tpm: URI.
func (s *Signer) URI() string { return s.loc.URI() }

// SignMessage hashes message with SHA-256 on the host and has the TPM sign
// the digest. The signature is ASN.1 DER.
func (s *Signer) SignMessage(ctx context.Context, message []byte) ([]byte, error) {
	digest := sha256.Sum256(message)

	if err := s.acquire(ctx); err != nil {
		return nil, err
	}
	defer s.release()

	// A connection that worked before may have died with the TPM (a
	// simulator restart, say): reconnect once and sign again.
	reused := s.conn != nil
	sig, err := s.signDigest(digest[:])
	if err != nil && reused && !isTPMResponse(err) && ctx.Err() == nil {
		sig, err = s.signDigest(digest[:])
	}
	return sig, err
}

func (s *Signer) signDigest(digest []byte) ([]byte, error) {
	if s.closed {
		return nil, fmt.Errorf("TPM key %s is closed", s.URI())
	}
	if s.conn == nil {
		if err := s.connect(); err != nil {
			return nil, err
		}
	}
	c := s.conn

	rsp, err := withRetry(func() (*tpm2.SignResponse, error) {
		return tpm2.Sign{
			KeyHandle: tpm2.AuthHandle{Handle: c.keyHandle, Name: c.keyName, Auth: c.sess},
			Digest:    tpm2.TPM2BDigest{Buffer: digest},
			InScheme: tpm2.TPMTSigScheme{
				Scheme:  tpm2.TPMAlgECDSA,
				Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSchemeHash{HashAlg: tpm2.TPMAlgSHA256}),
			},
			Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
		}.Execute(c.tpm)
	})
	if err != nil {
		if !errors.Is(err, tpm2.TPMRCAuthFail) && !errors.Is(err, tpm2.TPMRCBadAuth) {
			// Start over with a fresh connection next time: the handles
			// or the session may be gone.
			c.close()
			s.conn = nil
		}
		return nil, fmt.Errorf("TPM sign with %s: %w", s.URI(), describe(err))
	}

	ecc, err := rsp.Signature.Signature.ECDSA()
	if err != nil {
		return nil, fmt.Errorf("TPM sign with %s: %w", s.URI(), err)
	}
	return asn1.Marshal(struct{ R, S *big.Int }{
		new(big.Int).SetBytes(ecc.SignatureR.Buffer),
		new(big.Int).SetBytes(ecc.SignatureS.Buffer),
	})
}

// Close flushes the key and the session and closes the TPM.
func (s *Signer) Close() error {
	s.sem <- struct{}{}
	defer s.release()
	s.closed = true
	if s.conn == nil {
		return nil
	}
	err := s.conn.close()
	s.conn = nil
	return err
}
