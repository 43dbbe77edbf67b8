// Package bundle encodes a DSSE envelope as a Sigstore bundle v0.3 for a
// key-based signature, the form that cosign v3 writes with a key file and
// no transparency log: mediaType, verificationMaterial.publicKey.hint and
// dsseEnvelope, nothing else.
//
// The encoding is written with encoding/json over fixed structs rather than
// protojson, because protojson deliberately varies its whitespace between
// runs and the daemon promises byte-stable output. Tests parse every bundle
// with sigstore-go to keep the two in step.
package bundle

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/dsse"
)

// Bundle is the JSON shape of a key-based Sigstore bundle v0.3.
type Bundle struct {
	MediaType            string               `json:"mediaType"`
	VerificationMaterial VerificationMaterial `json:"verificationMaterial"`
	DSSEEnvelope         *dsse.Envelope       `json:"dsseEnvelope"`
}

// VerificationMaterial names the public key by its hint.
type VerificationMaterial struct {
	PublicKey PublicKeyIdentifier `json:"publicKey"`
}

// PublicKeyIdentifier holds the key hint.
type PublicKeyIdentifier struct {
	Hint string `json:"hint"`
}

// New returns a bundle that wraps env and names the signing key by hint.
func New(env *dsse.Envelope, hint string) *Bundle {
	return &Bundle{
		MediaType:            api.MediaTypeBundle03,
		VerificationMaterial: VerificationMaterial{PublicKey: PublicKeyIdentifier{Hint: hint}},
		DSSEEnvelope:         env,
	}
}

// Marshal returns the bundle's JSON. Equal bundles give equal bytes.
//
// The bytes are those encoding/json writes for Bundle, written without
// reflection because every sign request encodes one bundle. A bundle
// without an envelope goes through encoding/json itself.
func (b *Bundle) Marshal() ([]byte, error) {
	env := b.DSSEEnvelope
	if env == nil {
		return json.Marshal(b)
	}

	n := 160 + len(b.MediaType) + len(b.VerificationMaterial.PublicKey.Hint) + len(env.Payload) + len(env.PayloadType)
	for _, s := range env.Signatures {
		n += 32 + len(s.KeyID) + len(s.Sig)
	}
	out := make([]byte, 0, n)

	out = append(out, `{"mediaType":`...)
	out = api.AppendJSONString(out, b.MediaType)
	out = append(out, `,"verificationMaterial":{"publicKey":{"hint":`...)
	out = api.AppendJSONString(out, b.VerificationMaterial.PublicKey.Hint)
	out = append(out, `}},"dsseEnvelope":{"payload":`...)
	out = api.AppendJSONString(out, env.Payload)
	out = append(out, `,"payloadType":`...)
	out = api.AppendJSONString(out, env.PayloadType)
	out = append(out, `,"signatures":`...)
	if env.Signatures == nil {
		out = append(out, "null"...)
	} else {
		out = append(out, '[')
		for i, s := range env.Signatures {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, '{')
			if s.KeyID != "" {
				out = append(out, `"keyid":`...)
				out = api.AppendJSONString(out, s.KeyID)
				out = append(out, ',')
			}
			out = append(out, `"sig":`...)
			out = api.AppendJSONString(out, s.Sig)
			out = append(out, '}')
		}
		out = append(out, ']')
	}
	return append(out, "}}"...), nil
}

// KeyHint returns the hint cosign writes for a public key: the standard
// base64 of the SHA-256 of its DER (PKIX) encoding.
func KeyHint(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encode public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}
