package kmskey

import (
	"context"
	"crypto"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/keys"
	"github.com/signerd/signerd/test/testenv"
)

func signAndVerify(t *testing.T, s keys.Signer) {
	t.Helper()
	msg := make([]byte, 300)
	rand.Read(msg)
	sig, err := s.SignMessage(context.Background(), msg)
	if err != nil {
		t.Fatalf("SignMessage: %v", err)
	}
	if err := keys.Verify(s.Public(), s.Algorithm(), msg, sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
}

func TestAWSKMS(t *testing.T) {
	if !testenv.InPrivateNetwork(t) {
		return
	}
	kms := testenv.StartLocalKMS(t)
	const uri = "awskms:///alias/signerd-test"
	ctx := context.Background()

	if _, err := keys.Open(ctx, uri, keys.Options{}); err == nil {
		t.Fatal("Open of a missing alias succeeded")
	}

	s, err := keys.Open(ctx, uri, keys.Options{Create: true})
	if err != nil {
		t.Fatalf("Open with Create: %v", err)
	}
	defer s.Close()
	if s.URI() != uri {
		t.Errorf("URI() = %q, want %q", s.URI(), uri)
	}
	if err := keys.SelfTest(ctx, s); err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, s)

	// The created key is found again by its alias.
	again, err := keys.Open(ctx, uri, keys.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if !again.Public().(interface{ Equal(x crypto.PublicKey) bool }).Equal(s.Public()) {
		t.Error("reopened alias has another public key")
	}

	// With the emulator gone, a signature fails within the caller's
	// deadline and names the key.
	kms.Stop()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = s.SignMessage(sctx, []byte("m"))
	if err == nil {
		t.Fatal("SignMessage succeeded with the emulator stopped")
	}
	if !strings.Contains(err.Error(), uri) {
		t.Errorf("error %q does not name the key", err)
	}

	kms.Start(t)
	signAndVerify(t, s)
}

func TestOpenRejectsQuery(t *testing.T) {
	if _, err := keys.Open(context.Background(), "awskms:///alias/x?region=eu-west-2", keys.Options{}); err == nil || !strings.Contains(err.Error(), "query") {
		t.Fatalf("err = %v, want a query error", err)
	}
}

func TestToDER(t *testing.T) {
	raw := make([]byte, 64)
	raw[31], raw[63] = 1, 2
	der := toDER(raw)
	if len(der) == 64 || der[0] != 0x30 {
		t.Fatalf("toDER(r||s) = %x, want a DER SEQUENCE", der)
	}
	if again := toDER(der); string(again) != string(der) {
		t.Errorf("toDER changed a DER signature: %x -> %x", der, again)
	}
}

func BenchmarkAWSKMSSign(b *testing.B) {
	if !testenv.InPrivateNetwork(b) {
		return
	}
	testenv.StartLocalKMS(b)
	s, err := keys.Open(context.Background(), "awskms:///alias/signerd-bench", keys.Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	msg := make([]byte, 1024)
	for b.Loop() {
		if _, err := s.SignMessage(context.Background(), msg); err != nil {
			b.Fatal(err)
		}
	}
}
