package tpmkey

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/signerd/signerd/daemon/keys"
	"github.com/signerd/signerd/test/testenv"
)

func newKeyFile(t *testing.T, tpm *testenv.SWTPM, auth string) Location {
	t.Helper()
	dir := t.TempDir()
	loc := Location{KeyFile: filepath.Join(dir, "key.tpm.pem"), Device: tpm.Socket}
	if auth != "" {
		loc.AuthFile = writeAuth(t, auth)
	}
	if _, err := Create(loc); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return loc
}

func writeAuth(t *testing.T, auth string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "auth")
	if err := os.WriteFile(p, []byte(auth+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func signAndVerify(t *testing.T, s keys.Signer) {
	t.Helper()
	msg := make([]byte, 100)
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
	tpm := testenv.StartSWTPM(t)
	loc := newKeyFile(t, tpm, "")

	st, err := os.Stat(loc.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(loc.KeyFile)
	if !strings.HasPrefix(string(data), "-----BEGIN TSS2 PRIVATE KEY-----") {
		t.Errorf("key file does not start with a TSS2 PRIVATE KEY block:\n%s", data)
	}

	s, err := keys.Open(context.Background(), loc.URI(), keys.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if err := keys.SelfTest(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, s)
}

func TestOpenCreatesMissingKeyFile(t *testing.T) {
	tpm := testenv.StartSWTPM(t)
	loc := Location{KeyFile: filepath.Join(t.TempDir(), "k.pem"), Device: tpm.Socket}

	s, err := keys.Open(context.Background(), loc.URI(), keys.Options{Create: true})
	if err != nil {
		t.Fatalf("Open with Create: %v", err)
	}
	defer s.Close()
	signAndVerify(t, s)
}

func TestKeyFileLoadsAfterRestart(t *testing.T) {
	tpm := testenv.StartSWTPM(t)
	loc := newKeyFile(t, tpm, "")

	s, err := Open(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	before := s.Public()
	signAndVerify(t, s)
	s.Close()

	tpm.Restart(t)

	s, err = Open(context.Background(), loc)
	if err != nil {
		t.Fatalf("Open after restart: %v", err)
	}
	defer s.Close()
	if !s.pub.Equal(before) {
		t.Error("public key changed across a TPM restart")
	}
	signAndVerify(t, s)
}

func TestSignReconnectsAfterRestart(t *testing.T) {
	tpm := testenv.StartSWTPM(t)
	loc := newKeyFile(t, tpm, "")
	s, err := Open(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	tpm.Restart(t)

	signAndVerify(t, s)
}

func TestSignFailsWhileTPMDown(t *testing.T) {
	tpm := testenv.StartSWTPM(t)
	loc := newKeyFile(t, tpm, "")
	s, err := Open(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	tpm.Stop()

	if _, err := s.SignMessage(context.Background(), []byte("m")); err == nil {
		t.Fatal("SignMessage succeeded with the TPM stopped")
	} else if !strings.Contains(err.Error(), tpm.Socket) {
		t.Errorf("error %q does not name the TPM socket %s", err, tpm.Socket)
	}
}

func TestAuthorizationValue(t *testing.T) {
	tpm := testenv.StartSWTPM(t)
	loc := newKeyFile(t, tpm, "correct horse")

	t.Run("right", func(t *testing.T) {
		s, err := Open(context.Background(), loc)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		signAndVerify(t, s)
	})

	t.Run("wrong fails without retry", func(t *testing.T) {
		wrong := loc
		wrong.AuthFile = writeAuth(t, "battery staple")
		s, err := Open(context.Background(), wrong)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()

		sock := s.conn.tpm.(*socketTPM)
		before := len(sock.log)
		_, err = s.SignMessage(context.Background(), []byte("m"))
		if !errors.Is(err, ErrAuthorization) {
			t.Fatalf("SignMessage error = %v, want ErrAuthorization", err)
		}
		if !strings.Contains(err.Error(), "dictionary-attack lockout") {
			t.Errorf("error %q does not explain why it is not retried", err)
		}
		var signs int
		for _, entry := range sock.log[before:] {
			if entry[0] == uint32(tpm2.TPMCCSign) {
				signs++
			}
		}
		if signs != 1 {
			t.Errorf("sent TPM2_Sign %d times, want 1 (no retry); commands and responses: %x", signs, sock.log[before:])
		}
	})
}

func TestSessionReusedAcrossSignatures(t *testing.T) {
	tpm := testenv.StartSWTPM(t)
	loc := newKeyFile(t, tpm, "")
	s, err := Open(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	sock := s.conn.tpm.(*socketTPM)
	if n := sock.sent[uint32(tpm2.TPMCCStartAuthSession)]; n != 1 {
		t.Fatalf("Open started %d sessions, want 1", n)
	}
	for range 5 {
		signAndVerify(t, s)
	}
	checks := []struct {
		cc   tpm2.TPMCC
		want int
	}{
		{tpm2.TPMCCStartAuthSession, 1},
		{tpm2.TPMCCCreatePrimary, 1},
		{tpm2.TPMCCLoad, 1},
	}
	for _, c := range checks {
		if got := sock.sent[uint32(c.cc)]; got != c.want {
			t.Errorf("command %v sent %d times, want %d", c.cc, got, c.want)
		}
	}

	// Each signature costs one TPM2_Sign, plus one more for each
	// TPM_RC_RETRY (a fresh swtpm returns it for the first one).
	var signs, retries int
	for _, entry := range sock.log {
		if entry[0] == uint32(tpm2.TPMCCSign) {
			signs++
			if entry[1] == uint32(tpm2.TPMRCRetry) {
				retries++
			}
		}
	}
	if signs-retries != 5 {
		t.Errorf("sent %d TPM2_Sign with %d retries for 5 signatures; log: %x", signs, retries, sock.log)
	}
}

func TestTransientHandlesFlushed(t *testing.T) {
	tpm := testenv.StartSWTPM(t)
	loc := newKeyFile(t, tpm, "")

	// swtpm has three object slots: leaking one handle per Open would
	// fail with TPM_RC_OBJECT_MEMORY by the fourth round.
	for i := range 6 {
		s, err := Open(context.Background(), loc)
		if err != nil {
			t.Fatalf("Open round %d: %v", i, err)
		}
		signAndVerify(t, s)
		if err := s.Close(); err != nil {
			t.Fatalf("Close round %d: %v", i, err)
		}
		if _, err := s.SignMessage(context.Background(), []byte("m")); err == nil {
			t.Fatalf("SignMessage after Close succeeded in round %d", i)
		}
	}

	dev, err := openDevice(tpm.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	for _, ht := range []tpm2.TPMHandle{tpm2.TPMHandle(tpm2.TPMHTTransient) << 24, tpm2.TPMHandle(tpm2.TPMHTHMACSession) << 24} {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: uint32(ht), PropertyCount: 16}.Execute(dev)
		if err != nil {
			t.Fatal(err)
		}
		handles, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			t.Fatal(err)
		}
		if len(handles.Handle) != 0 {
			t.Errorf("handles of type 0x%x left after Close: %v", uint32(ht)>>24, handles.Handle)
		}
	}
}

func TestPersistentHandle(t *testing.T) {
	tpm := testenv.StartSWTPM(t)
	loc := Location{Handle: 0x81000010, Device: tpm.Socket}
	if _, err := Create(loc); err != nil {
		t.Fatalf("Create persistent: %v", err)
	}
	if _, err := Create(loc); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Create at the same handle: err = %v, want an in-use error", err)
	}

	s, err := keys.Open(context.Background(), loc.URI(), keys.Options{})
	if err != nil {
		t.Fatalf("Open %s: %v", loc.URI(), err)
	}
	defer s.Close()
	signAndVerify(t, s)
}

func TestRestrictedKeyRejected(t *testing.T) {
	restricted := signingKeyTemplate
	restricted.ObjectAttributes.Restricted = true
	if _, err := checkSigningKey(&restricted); err == nil || !strings.Contains(err.Error(), "restricted") {
		t.Errorf("restricted key: err = %v, want a restricted-key error", err)
	}

	decryptOnly := signingKeyTemplate
	decryptOnly.ObjectAttributes.SignEncrypt = false
	decryptOnly.ObjectAttributes.Decrypt = true
	if _, err := checkSigningKey(&decryptOnly); err == nil || !strings.Contains(err.Error(), "not a signing key") {
		t.Errorf("decrypt key: err = %v, want a not-a-signing-key error", err)
	}
}

func TestParseURI(t *testing.T) {
	tests := []struct {
		uri     string
		want    Location
		wantErr string
	}{
		{uri: "tpm:///var/lib/signerd/k.pem", want: Location{KeyFile: "/var/lib/signerd/k.pem", Device: DefaultDevice}},
		{uri: "tpm:///k.pem?device=/run/tpm.sock&auth-file=/etc/signerd/auth", want: Location{KeyFile: "/k.pem", Device: "/run/tpm.sock", AuthFile: "/etc/signerd/auth"}},
		{uri: "tpm:///k.pem?owner-auth-file=/etc/signerd/owner", want: Location{KeyFile: "/k.pem", Device: DefaultDevice, OwnerAuthFile: "/etc/signerd/owner"}},
		{uri: "tpm:?handle=0x81000010", want: Location{Handle: 0x81000010, Device: DefaultDevice}},
		{uri: "tpm://host/k.pem", wantErr: "names host"},
		{uri: "tpm:?handle=0x80000001", wantErr: "not a persistent handle"},
		{uri: "tpm:///k.pem?handle=0x81000010", wantErr: "both"},
		{uri: "tpm:", wantErr: "names no key"},
		{uri: "tpm:///k.pem?pin=1", wantErr: "unknown parameter"},
		{uri: "tpm:///k.pem?device=rel", wantErr: "not an absolute path"},
		{uri: "tpm:///a/../k.pem", wantErr: "absolute, clean"},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			u, err := url.Parse(tc.uri)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseURI(u)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			again, err := url.Parse(got.URI())
			if err != nil {
				t.Fatal(err)
			}
			if round, err := ParseURI(again); err != nil || round != got {
				t.Errorf("URI() = %q parses to %+v, %v", got.URI(), round, err)
			}
		})
	}
}

func BenchmarkSign(b *testing.B) {
	tpm := testenv.StartSWTPM(b)
	loc := Location{KeyFile: filepath.Join(b.TempDir(), "k.pem"), Device: tpm.Socket}
	if _, err := Create(loc); err != nil {
		b.Fatal(err)
	}
	s, err := Open(context.Background(), loc)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	msg := make([]byte, 1024)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.SignMessage(context.Background(), msg); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCreateRejectsEd25519(t *testing.T) {
	_, err := keys.Open(context.Background(), "tpm://"+t.TempDir()+"/k.pem", keys.Options{Create: true, Algorithm: keys.Ed25519})
	if err == nil || !strings.Contains(err.Error(), "ECDSA P-256") {
		t.Fatalf("err = %v, want an ECDSA P-256 error", err)
	}
}

func TestOwnerPassword(t *testing.T) {
	tpm := testenv.StartSWTPM(t)
	dev, err := openDevice(tpm.Socket)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpm2.HierarchyChangeAuth{
		AuthHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: tpm2.PasswordAuth(nil)},
		NewAuth:    tpm2.TPM2BAuth{Buffer: []byte("owner secret")},
	}.Execute(dev)
	dev.Close()
	if err != nil {
		t.Fatalf("set the owner password: %v", err)
	}

	loc := Location{KeyFile: filepath.Join(t.TempDir(), "k.pem"), Device: tpm.Socket}
	if _, err := Create(loc); err == nil || !strings.Contains(err.Error(), "owner-auth-file") {
		t.Fatalf("Create without the owner password: err = %v, want one naming owner-auth-file", err)
	}
	if _, err := os.Stat(loc.KeyFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed Create left %s behind: %v", loc.KeyFile, err)
	}

	loc.OwnerAuthFile = writeAuth(t, "owner secret")
	if _, err := Create(loc); err != nil {
		t.Fatalf("Create with the owner password: %v", err)
	}
	s, err := keys.Open(context.Background(), loc.URI(), keys.Options{})
	if err != nil {
		t.Fatalf("Open %s: %v", loc.URI(), err)
	}
	defer s.Close()
	signAndVerify(t, s)
}
