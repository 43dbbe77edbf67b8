package dsse

import (
	"context"
	"crypto/ed25519"
	"testing"
)

// BenchmarkPAE encodes a 4 KiB Statement for signing.
func BenchmarkPAE(b *testing.B) {
	payload := make([]byte, 4096)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		PAE("application/vnd.in-toto+json", payload)
	}
}

// BenchmarkSign builds an envelope around a 4 KiB Statement with an
// Ed25519 key, so the envelope's own work shows beside one signature.
func BenchmarkSign(b *testing.B) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	s := ed25519Signer(priv)
	payload := make([]byte, 4096)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sign(context.Background(), s, "application/vnd.in-toto+json", payload); err != nil {
			b.Fatal(err)
		}
	}
}
