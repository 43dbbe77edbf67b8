// Package verify checks a signerd bundle offline with sigstore-go: the
// DSSE signature against a trusted public key, the subject digest against
// the artifact, and optionally the predicate type.
//
// It needs no network and no transparency log, because signerd signs with
// a long-lived key and writes no tlog entries. Callers must get the public
// key from a trusted place (the node administrator, or GET /v1/keys over
// the root-owned socket), never from the bundle.
package verify

import (
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Options are what the bundle must prove.
type Options struct {
	// PublicKeyPEM is the trusted PKIX public key in PEM form.
	PublicKeyPEM []byte

	// DigestAlgorithm and Digest name the artifact, for example "sha256"
	// and its 32 bytes. Digest must be set unless WithoutArtifact is.
	DigestAlgorithm string
	Digest          []byte

	// WithoutArtifact verifies the signature, the key and the predicate
	// type but matches the subjects against no artifact. The Result then
	// lists subjects the caller must check itself: a bundle for any
	// artifact passes.
	WithoutArtifact bool

	// PredicateType, when set, must equal the Statement's predicate type.
	PredicateType string
}

// Result is a verified bundle's content.
type Result struct {
	PredicateType string

	// Subjects are the subjects' names, and SubjectDigests their sha256
	// digests as sha256:HEX, in the same order.
	Subjects       []string
	SubjectDigests []string
}

// Bundle verifies a Sigstore bundle's JSON against opts.
func Bundle(bundleJSON []byte, opts Options) (*Result, error) {
	pub, err := ParsePublicKey(opts.PublicKeyPEM)
	if err != nil {
		return nil, err
	}
	if len(opts.Digest) == 0 && !opts.WithoutArtifact {
		return nil, errors.New("no artifact digest to check the bundle against; set Digest, or WithoutArtifact to check the subjects yourself")
	}
	if len(opts.Digest) > 0 && opts.WithoutArtifact {
		return nil, errors.New("both an artifact digest and WithoutArtifact are set; set one")
	}

	var b bundle.Bundle
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotBundle, err)
	}
	if err := checkKeySigned(&b); err != nil {
		return nil, err
	}
	if err := checkKeyHint(&b, pub); err != nil {
		return nil, err
	}
	artifact := sgverify.WithoutArtifactUnsafe()
	if !opts.WithoutArtifact {
		if err := checkSubjectDigest(&b, opts.DigestAlgorithm, opts.Digest); err != nil {
			return nil, err
		}
		artifact = sgverify.WithArtifactDigest(opts.DigestAlgorithm, opts.Digest)
	}

	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("load public key: %w", err)
	}
	trusted := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(v, time.Time{}, time.Time{}), nil
	})

	verifier, err := sgverify.NewVerifier(trusted, sgverify.WithNoObserverTimestamps())
	if err != nil {
		return nil, err
	}
	res, err := verifier.Verify(&b, sgverify.NewPolicy(artifact, sgverify.WithKey()))
	if err != nil {
		return nil, err
	}
	if res.Statement == nil {
		return nil, errors.New("bundle contains no in-toto Statement")
	}

	out := &Result{PredicateType: res.Statement.GetPredicateType()}
	for _, s := range res.Statement.GetSubject() {
		out.Subjects = append(out.Subjects, s.GetName())
		out.SubjectDigests = append(out.SubjectDigests, "sha256:"+s.GetDigest()["sha256"])
	}
	if opts.PredicateType != "" && out.PredicateType != opts.PredicateType {
		return nil, fmt.Errorf("predicate type is %q, expected %q", out.PredicateType, opts.PredicateType)
	}
	return out, nil
}

// ParsePublicKey parses a PEM "PUBLIC KEY" block.
func ParsePublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("no PEM \"PUBLIC KEY\" block found")
	}
	return x509.ParsePKIXPublicKey(block.Bytes)
}

// ParseDigest parses "sha256:HEX" into its algorithm and bytes.
func ParseDigest(s string) (string, []byte, error) {
	alg, hexPart, ok := strings.Cut(s, ":")
	if !ok {
		return "", nil, fmt.Errorf("digest %q has no algorithm; write sha256:HEX", s)
	}
	want := map[string]int{"sha256": 32, "sha512": 64}[alg]
	if want == 0 {
		return "", nil, fmt.Errorf("digest algorithm %q is not supported; use sha256 or sha512", alg)
	}
	raw, err := hex.DecodeString(hexPart)
	if err != nil || len(raw) != want {
		return "", nil, fmt.Errorf("digest %q is not %d bytes of hex", s, want)
	}
	return alg, raw, nil
}
