// Package dsse implements the Dead Simple Signing Envelope (DSSE v1): the
// pre-authentication encoding (PAE) that is signed, and the envelope that
// carries the payload and its signature.
//
// The signature covers PAE(payloadType, payload), never the bare payload, so
// a signature cannot be replayed under another payload type. Envelopes made
// here hold exactly one signature with an empty keyid: cosign v3 and
// sigstore-go reject a bundle whose DSSE signature carries any other keyid.
package dsse

import (
	"context"
	"encoding/base64"
	"strconv"
)

// PAE returns the DSSE v1 pre-authentication encoding:
//
//	"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//
// where LEN is the decimal byte length without leading zeros.
func PAE(payloadType string, payload []byte) []byte {
	n := len("DSSEv1 ") + 20 + 1 + len(payloadType) + 1 + 20 + 1 + len(payload)
	b := make([]byte, 0, n)
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, ' ')
	b = append(b, payload...)
	return b
}

// Signature is one signature of an envelope.
type Signature struct {
	// KeyID is always empty in envelopes made here; see the package doc.
	KeyID string `json:"keyid,omitempty"`

	// Sig is the signature over the PAE, standard base64. ECDSA signatures
	// are ASN.1 DER.
	Sig string `json:"sig"`
}

// Envelope is a DSSE envelope as JSON.
type Envelope struct {
	// Payload is the standard base64 of the payload bytes.
	Payload     string      `json:"payload"`
	PayloadType string      `json:"payloadType"`
	Signatures  []Signature `json:"signatures"`
}

// MessageSigner signs a message; implementations hash it as their
// algorithm requires.
type MessageSigner interface {
	SignMessage(ctx context.Context, message []byte) ([]byte, error)
}

// Sign returns an envelope over payload signed by s.
func Sign(ctx context.Context, s MessageSigner, payloadType string, payload []byte) (*Envelope, error) {
	sig, err := s.SignMessage(ctx, PAE(payloadType, payload))
	if err != nil {
		return nil, err
	}
	return &Envelope{
		Payload:     base64.StdEncoding.EncodeToString(payload),
		PayloadType: payloadType,
		Signatures:  []Signature{{Sig: base64.StdEncoding.EncodeToString(sig)}},
	}, nil
}
