package verify

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/bundle"
)

// The checks in this file run before sigstore-go on the bundle's unverified
// content. They only reject, never accept, so they cannot weaken the
// verification. They exist to name the values that differ, which
// sigstore-go's errors do not.

// ErrNotBundle is returned, wrapped, for input that does not parse as a
// Sigstore bundle.
var ErrNotBundle = errors.New("not a Sigstore bundle")

// KeyHintMismatchError is returned when the bundle names another signing
// key than the trusted one. A hint is the standard base64 of the SHA-256
// of the DER (PKIX) public key, as cosign writes it.
type KeyHintMismatchError struct {
	BundleHint string
	KeyHint    string
}

func (e *KeyHintMismatchError) Error() string {
	return fmt.Sprintf("bundle was signed by the key with hint %s, but the trusted key has hint %s", e.BundleHint, e.KeyHint)
}

// DigestMismatchError is returned when no subject of the bundle's Statement
// has the artifact's digest.
type DigestMismatchError struct {
	// Artifact is the artifact's digest as ALG:HEX.
	Artifact string

	// Subjects are the Statement's subjects as NAME ALG:HEX, one entry
	// per digest.
	Subjects []string
}

func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("artifact digest %s matches no subject of the bundle's Statement, which names %s",
		e.Artifact, strings.Join(e.Subjects, ", "))
}

// KeyHint returns the hint of a public key: the standard base64 of the
// SHA-256 of its DER (PKIX) encoding.
func KeyHint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// checkKeyHint compares the bundle's key hint with pub's. A bundle without
// a hint is left to sigstore-go.
func checkKeyHint(b *bundle.Bundle, pub crypto.PublicKey) error {
	bundleHint := b.GetVerificationMaterial().GetPublicKey().GetHint()
	if bundleHint == "" {
		return nil
	}
	keyHint, err := KeyHint(pub)
	if err != nil {
		return err
	}
	if bundleHint != keyHint {
		return &KeyHintMismatchError{BundleHint: bundleHint, KeyHint: keyHint}
	}
	return nil
}

// checkKeySigned rejects a bundle signed with a certificate (keyless
// signing), which sigstore-go would reject with a terser message.
func checkKeySigned(b *bundle.Bundle) error {
	material := b.GetVerificationMaterial()
	if material.GetCertificate() != nil || material.GetX509CertificateChain() != nil {
		return errors.New("the bundle is signed with a certificate (keyless signing), not with a key; this verifier checks key-signed bundles such as signerd's, so verify it with cosign and the signer's identity")
	}
	return nil
}

// checkSubjectDigest looks for the artifact digest among the subjects of
// the DSSE payload. A payload that is not an in-toto Statement is left to
// sigstore-go.
func checkSubjectDigest(b *bundle.Bundle, alg string, digest []byte) error {
	env := b.GetDsseEnvelope()
	if env == nil {
		return nil
	}
	var statement struct {
		Subject []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
	}
	if err := json.Unmarshal(env.GetPayload(), &statement); err != nil || len(statement.Subject) == 0 {
		return nil
	}

	want := hex.EncodeToString(digest)
	var names []string
	for _, s := range statement.Subject {
		if strings.EqualFold(s.Digest[alg], want) {
			return nil
		}
		for subjectAlg, value := range s.Digest {
			names = append(names, fmt.Sprintf("%s %s:%s", s.Name, subjectAlg, value))
		}
	}
	sort.Strings(names)
	return &DigestMismatchError{Artifact: alg + ":" + want, Subjects: names}
}
