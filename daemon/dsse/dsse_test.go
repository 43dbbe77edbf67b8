package dsse

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"testing"
)

func TestPAE(t *testing.T) {
	tests := []struct {
		name        string
		payloadType string
		payload     string
		want        string
	}{
		{
			// The example from the DSSE v1 protocol description.
			name:        "spec example",
			payloadType: "http://example.com/HelloWorld",
			payload:     "hello world",
			want:        "DSSEv1 29 http://example.com/HelloWorld 11 hello world",
		},
		{
			name:        "empty payload",
			payloadType: "application/vnd.in-toto+json",
			payload:     "",
			want:        "DSSEv1 28 application/vnd.in-toto+json 0 ",
		},
		{
			name:        "multi-byte characters count as bytes",
			payloadType: "t",
			payload:     "é",
			want:        "DSSEv1 1 t 2 é",
		},
		{
			name:        "payload with spaces and newline",
			payloadType: "a b",
			payload:     "x y\n",
			want:        "DSSEv1 3 a b 4 x y\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(PAE(tt.payloadType, []byte(tt.payload)))
			if got != tt.want {
				t.Errorf("PAE(%q, %q) = %q, want %q", tt.payloadType, tt.payload, got, tt.want)
			}
		})
	}
}

type ed25519Signer ed25519.PrivateKey

func (k ed25519Signer) SignMessage(_ context.Context, msg []byte) ([]byte, error) {
	return ed25519.Sign(ed25519.PrivateKey(k), msg), nil
}

func TestSignCoversPAE(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)

	env, err := Sign(context.Background(), ed25519Signer(priv), "application/vnd.in-toto+json", []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}

	if len(env.Signatures) != 1 {
		t.Fatalf("envelope has %d signatures, want 1", len(env.Signatures))
	}
	if env.Signatures[0].KeyID != "" {
		t.Errorf("keyid = %q, want empty", env.Signatures[0].KeyID)
	}
	payload, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		t.Fatalf("payload is not standard base64: %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	if err != nil {
		t.Fatalf("signature is not standard base64: %v", err)
	}

	pub := priv.Public().(ed25519.PublicKey)
	if !ed25519.Verify(pub, PAE(env.PayloadType, payload), sig) {
		t.Error("signature does not verify over the PAE")
	}
	if ed25519.Verify(pub, payload, sig) {
		t.Error("signature verifies over the bare payload; it must cover the PAE")
	}
}
