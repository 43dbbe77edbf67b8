package keys

import (
	"context"
	"crypto"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileKeyCreate(t *testing.T) {
	for _, alg := range []Algorithm{ECDSAP256SHA256, Ed25519} {
		t.Run(string(alg), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "signing.key")
			s, err := Open(context.Background(), "file://"+path, Options{Create: true, Algorithm: alg})
			if err != nil {
				t.Fatal(err)
			}

			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if perm := st.Mode().Perm(); perm != 0o600 {
				t.Errorf("created key file has mode %04o, want 0600", perm)
			}
			if s.Algorithm() != alg {
				t.Errorf("Algorithm() = %s, want %s", s.Algorithm(), alg)
			}
			if err := SelfTest(context.Background(), s); err != nil {
				t.Errorf("SelfTest() = %v", err)
			}

			again, err := Open(context.Background(), "file://"+path, Options{})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			if !publicKeysEqual(t, s, again) {
				t.Error("reopening the key file gave another key")
			}
		})
	}
}

func publicKeysEqual(t *testing.T, a, b Signer) bool {
	t.Helper()
	type equaler interface{ Equal(x crypto.PublicKey) bool }
	return a.Public().(equaler).Equal(b.Public())
}

func TestFileKeyRejects(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.key")
	if _, err := Open(context.Background(), "file://"+good, Options{Create: true}); err != nil {
		t.Fatal(err)
	}

	wide := filepath.Join(dir, "wide.key")
	data, _ := os.ReadFile(good)
	os.WriteFile(wide, data, 0o640)
	os.Chmod(wide, 0o640)

	garbage := filepath.Join(dir, "garbage.key")
	os.WriteFile(garbage, []byte("not a key"), 0o600)

	tests := []struct {
		name string
		uri  string
		want string
	}{
		{"group-readable key", "file://" + wide, "mode 0640"},
		{"missing key without create", "file://" + filepath.Join(dir, "missing.key"),
			"key file " + filepath.Join(dir, "missing.key") + " not found; set key.create: true to create it at start (for development), or create it with signerctl key create --backend file --path " + filepath.Join(dir, "missing.key")},
		{"not PEM", "file://" + garbage, "no PKCS#8 PEM block"},
		{"relative path", "file:relative.key", "absolute path"},
		{"host in URI", "file://otherhost/etc/key", "names host"},
		{"unknown scheme", "nosuch:///x", "unknown scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(context.Background(), tt.uri, Options{})
			if err == nil {
				t.Fatalf("Open(%q) succeeded, want an error containing %q", tt.uri, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%q) error = %q, want it to contain %q", tt.uri, err, tt.want)
			}
		})
	}
}

// A missing key file still matches fs.ErrNotExist under its hint.
func TestFileKeyMissingIsNotExist(t *testing.T) {
	_, err := Open(context.Background(), "file://"+filepath.Join(t.TempDir(), "missing.key"), Options{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open() error = %v, want one that matches fs.ErrNotExist", err)
	}
}

func TestVerifyRejectsOtherMessage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	s, err := Open(context.Background(), "file://"+path, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := s.SignMessage(context.Background(), []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(s.Public(), s.Algorithm(), []byte("two"), sig); err == nil {
		t.Error("Verify accepted a signature over another message")
	}
}

func BenchmarkFileSign(b *testing.B) {
	for _, alg := range []Algorithm{ECDSAP256SHA256, Ed25519} {
		b.Run(string(alg), func(b *testing.B) {
			s, err := Open(context.Background(), "file://"+filepath.Join(b.TempDir(), "k"), Options{Create: true, Algorithm: alg})
			if err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, 1024)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.SignMessage(context.Background(), msg); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
