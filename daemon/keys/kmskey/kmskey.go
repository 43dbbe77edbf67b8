// Package kmskey is the cloud KMS key backend. It signs through
// sigstore/sigstore's KMS providers and registers their URI schemes:
// awskms, gcpkms, azurekms and hashivault, for example
//
//	awskms:///alias/signerd              (endpoint, region and credentials from the AWS environment)
//	awskms://kms.example:443/alias/NAME  (an explicit endpoint, always https)
//	gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]
//	azurekms://VAULT.vault.azure.net/KEY
//	hashivault://KEY                     (VAULT_ADDR and VAULT_TOKEN from the environment)
//
// Each provider reads credentials the way its SDK does (environment,
// instance metadata, config files). signerd never reads or logs them.
//
// Security model: the key never leaves the KMS. The host hashes the message
// with SHA-256 and sends only the digest. A KMS that is down or slow makes
// SignMessage fail with the provider's error once the caller's context
// ends, so the daemon answers "unavailable" instead of hanging.
package kmskey

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"fmt"
	"math/big"
	"net/url"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/options"

	// Providers register themselves with sigstore's kms package.
	_ "github.com/sigstore/sigstore/pkg/signature/kms/aws"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/azure"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/gcp"
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"

	"github.com/signerd/signerd/daemon/keys"
)

// Schemes are the URI schemes this backend registers.
var Schemes = []string{"awskms", "gcpkms", "azurekms", "hashivault"}

func init() {
	for _, s := range Schemes {
		keys.Register(s, open)
	}
}

// Signer signs with a KMS key.
type Signer struct {
	uri string
	sv  kms.SignerVerifier
	pub *ecdsa.PublicKey
}

func open(ctx context.Context, u *url.URL, opts keys.Options) (keys.Signer, error) {
	if opts.Create && opts.Algorithm != "" && opts.Algorithm != keys.ECDSAP256SHA256 {
		return nil, fmt.Errorf("KMS keys are ECDSA P-256; set key.algorithm to ecdsa-p256, not %s", opts.Algorithm)
	}
	return Open(ctx, u.String(), opts.Create)
}

// Open connects to the KMS and fetches the key's public key. With create
// it creates a missing key with the provider's default algorithm, which
// is ECDSA P-256 for all four providers.
func Open(ctx context.Context, uri string, create bool) (*Signer, error) {
	if strings.ContainsAny(uri, "?#") {
		return nil, fmt.Errorf("KMS key URI %q has a query or fragment; sigstore's providers take none", uri)
	}
	sv, err := kms.Get(ctx, uri, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("open KMS key %s: %w", uri, err)
	}

	var pub crypto.PublicKey
	if create {
		pub, err = sv.CreateKey(ctx, sv.DefaultAlgorithm())
	} else {
		pub, err = sv.PublicKey(options.WithContext(ctx))
	}
	if err != nil {
		return nil, fmt.Errorf("KMS key %s: get public key: %w", uri, err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("KMS key %s is a %T; signerd needs an ECDSA P-256 key", uri, pub)
	}
	return &Signer{uri: uri, sv: sv, pub: ec}, nil
}

// Public returns the public key fetched at Open.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Algorithm returns ECDSA P-256 with SHA-256.
func (s *Signer) Algorithm() keys.Algorithm { return keys.ECDSAP256SHA256 }

// URI returns the key URI.
func (s *Signer) URI() string { return s.uri }

// Close does nothing: the providers hold no resources that need release.
func (s *Signer) Close() error { return nil }

// SignMessage hashes message and has the KMS sign the digest.
func (s *Signer) SignMessage(ctx context.Context, message []byte) ([]byte, error) {
	digest := sha256.Sum256(message)
	sig, err := s.sv.SignMessage(bytes.NewReader(nil),
		options.WithContext(ctx),
		options.WithDigest(digest[:]),
		options.WithCryptoSignerOpts(crypto.SHA256))
	if err != nil {
		return nil, fmt.Errorf("KMS sign with %s: %w", s.uri, err)
	}
	return toDER(sig), nil
}

// toDER returns sig as ASN.1 DER. Every provider returns DER today, but a
// 64-byte r||s (the raw form some KMS APIs use) is converted, not passed on.
func toDER(sig []byte) []byte {
	var parsed struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &parsed); err == nil && len(rest) == 0 {
		return sig
	}
	if len(sig) != 64 {
		return sig
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{
		new(big.Int).SetBytes(sig[:32]),
		new(big.Int).SetBytes(sig[32:]),
	})
	if err != nil {
		return sig
	}
	return der
}
