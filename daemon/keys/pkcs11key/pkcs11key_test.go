package pkcs11key

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/keys"
	"github.com/signerd/signerd/test/testenv"
)

func softhsmURI(h *testenv.SoftHSM, extra string) string {
	return "pkcs11:token=" + h.Token + ";object=signing-key?module-path=" + h.Module + "&pin-source=file:" + h.PINFile + extra
}

func signAndVerify(t *testing.T, s keys.Signer) {
	t.Helper()
	msg := make([]byte, 200)
	rand.Read(msg)
	sig, err := s.SignMessage(context.Background(), msg)
	if err != nil {
		t.Fatalf("SignMessage: %v", err)
	}
	if err := keys.Verify(s.Public(), s.Algorithm(), msg, sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
}

func TestCreateSignVerify(t *testing.T) {
	h := testenv.StartSoftHSM(t)
	uri := softhsmURI(h, "")

	if _, err := keys.Open(context.Background(), uri, keys.Options{}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("Open of a missing key: err = %v, want not found", err)
	}

	s, err := keys.Open(context.Background(), uri, keys.Options{Create: true})
	if err != nil {
		t.Fatalf("Open with Create: %v", err)
	}
	created := s.Public()
	if err := keys.SelfTest(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, s)
	if strings.Contains(s.URI(), h.PIN) {
		t.Errorf("URI() %q contains the PIN", s.URI())
	}
	s.Close()

	// The key persists in the token: opening its URI again finds it.
	s, err = keys.Open(context.Background(), s.URI(), keys.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if !s.Public().(*ecdsa.PublicKey).Equal(created) {
		t.Error("reopened key has another public key")
	}
	signAndVerify(t, s)
}

func TestWrongPIN(t *testing.T) {
	h := testenv.StartSoftHSM(t)
	uri := "pkcs11:token=" + h.Token + ";object=k?module-path=" + h.Module + "&pin-value=0000"
	_, err := keys.Open(context.Background(), uri, keys.Options{Create: true})
	if err == nil {
		t.Fatal("Open with a wrong PIN succeeded")
	}
	if strings.Contains(err.Error(), "0000") {
		t.Errorf("error %q contains the PIN", err)
	}
	if !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") {
		t.Errorf("error %q does not say the PIN is incorrect", err)
	}
}

func TestUnknownToken(t *testing.T) {
	h := testenv.StartSoftHSM(t)
	uri := "pkcs11:token=nope;object=k?module-path=" + h.Module + "&pin-value=" + h.PIN
	if _, err := keys.Open(context.Background(), uri, keys.Options{}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("err = %v, want one naming token \"nope\"", err)
	}
}

func TestConcurrentSigning(t *testing.T) {
	h := testenv.StartSoftHSM(t)
	s, err := keys.Open(context.Background(), softhsmURI(h, "&max-sessions=4"), keys.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			msg := make([]byte, 64)
			rand.Read(msg)
			for range 10 {
				sig, err := s.SignMessage(context.Background(), msg)
				if err == nil {
					err = keys.Verify(s.Public(), s.Algorithm(), msg, sig)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSessionPoolExhausted(t *testing.T) {
	h := testenv.StartSoftHSM(t)
	s, err := Open(context.Background(), mustParse(t, softhsmURI(h, "&max-sessions=2&pool-timeout=50ms")), true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Occupy both sessions as two slow signatures would.
	s.tokens <- struct{}{}
	s.tokens <- struct{}{}

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.SignMessage(context.Background(), []byte("m")) })
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrPoolExhausted) {
			t.Fatalf("signature %d: err = %v, want ErrPoolExhausted", i, err)
		}
		for _, want := range []string{"2 sessions", `"signerd"`, "max-sessions"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %s", err, want)
			}
		}
	}

	// A caller's own deadline ends the wait too, with the context's error.
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := s.SignMessage(ctx, []byte("m")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("with an expired context: err = %v, want DeadlineExceeded", err)
	}

	<-s.tokens
	<-s.tokens
	signAndVerify(t, s)
}

func mustParse(t *testing.T, uri string) Location {
	t.Helper()
	loc, err := ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestParseURI(t *testing.T) {
	const mod = "?module-path=/usr/lib/softhsm/libsofthsm2.so"
	tests := []struct {
		uri     string
		check   func(Location) bool
		wantErr string
	}{
		{uri: "pkcs11:token=a%20b;object=k" + mod + "&pin-value=1234", check: func(l Location) bool {
			return l.Token == "a b" && l.Object == "k" && l.PinValue == "1234" && l.MaxSessions == DefaultMaxSessions
		}},
		{uri: "pkcs11:serial=42;id=%01%02" + mod + "&pin-source=file:/etc/pin&max-sessions=3&pool-timeout=5s", check: func(l Location) bool {
			return l.Serial == "42" && string(l.ID) == "\x01\x02" && l.PinSource == "/etc/pin" && l.MaxSessions == 3 && l.PoolTimeout == 5*time.Second
		}},
		{uri: "pkcs11:slot-id=0;object=k" + mod, check: func(l Location) bool { return l.SlotID != nil && *l.SlotID == 0 }},
		{uri: "pkcs11:token=t;object=k", wantErr: "no module-path"},
		{uri: "pkcs11:object=k" + mod, wantErr: "exactly one"},
		{uri: "pkcs11:token=t;serial=1;object=k" + mod, wantErr: "exactly one"},
		{uri: "pkcs11:token=t" + mod, wantErr: "names no key"},
		{uri: "pkcs11:token=t;object=k;type=public" + mod, wantErr: "cannot sign"},
		{uri: "pkcs11:token=t;object=k" + mod + "&pin-value=1&pin-source=/p", wantErr: "both"},
		{uri: "pkcs11:token=t;object=k" + mod + "&max-sessions=0", wantErr: "max-sessions"},
		{uri: "pkcs11:token=t;object=k;object=j" + mod, wantErr: "twice"},
		{uri: "pkcs11:token=t;bogus=1;object=k" + mod, wantErr: "unknown path attribute"},
		{uri: "pkcs11:token=t;object=k?module-path=rel.so", wantErr: "not an absolute path"},
		{uri: "pkcs11:token=t;object=k" + mod + "&pin-value=secret&max-sessions=x", wantErr: "pin-value=REDACTED"},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			got, err := ParseURI(tc.uri)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q contains the PIN", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(got) {
				t.Fatalf("parsed %+v", got)
			}
			round, err := ParseURI(got.URI())
			if err != nil {
				t.Fatalf("URI() = %q does not parse: %v", got.URI(), err)
			}
			if round.URI() != got.URI() || strings.Contains(got.URI(), "pin-value") {
				t.Errorf("URI() = %q, round trip %q", got.URI(), round.URI())
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	h := testenv.StartSoftHSM(b)
	s, err := keys.Open(context.Background(), softhsmURI(h, ""), keys.Options{Create: true})
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

func TestCreateRejectsEd25519(t *testing.T) {
	uri := "pkcs11:token=t;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so"
	_, err := keys.Open(context.Background(), uri, keys.Options{Create: true, Algorithm: keys.Ed25519})
	if err == nil || !strings.Contains(err.Error(), "ECDSA P-256") {
		t.Fatalf("err = %v, want an ECDSA P-256 error", err)
	}
}
