package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/bundle"
	"github.com/signerd/signerd/daemon/dsse"

	"github.com/signerd/signerd/test/testenv"
)

// ecdsaSigner signs a DSSE PAE the way signerd's file backend does:
// ECDSA P-256 over SHA-256, ASN.1 DER.
type ecdsaSigner struct{ key *ecdsa.PrivateKey }

func (s ecdsaSigner) SignMessage(_ context.Context, msg []byte) ([]byte, error) {
	sum := sha256.Sum256(msg)
	return ecdsa.SignASN1(rand.Reader, s.key, sum[:])
}

func newKey(t *testing.T) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// signBundle returns a bundle over a Statement with one subject, named
// "artifact", whose SHA-256 is artifactSum.
func signBundle(t *testing.T, key *ecdsa.PrivateKey, artifactSum []byte) []byte {
	t.Helper()
	statement := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"artifact","digest":{"sha256":"` +
		hex.EncodeToString(artifactSum) + `"}}],"predicateType":"https://example.com/p","predicate":{}}`
	env, err := dsse.Sign(context.Background(), ecdsaSigner{key}, api.MediaTypeInToto, []byte(statement))
	if err != nil {
		t.Fatal(err)
	}
	hint, err := KeyHint(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	data, err := bundle.New(env, hint).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestBundleErrors(t *testing.T) {
	key, keyPEM := newKey(t)
	otherKey, otherPEM := newKey(t)
	artifact := sha256.Sum256([]byte("artifact"))
	other := sha256.Sum256([]byte("other"))
	good := signBundle(t, key, artifact[:])

	keyHint, _ := KeyHint(&key.PublicKey)
	otherHint, _ := KeyHint(&otherKey.PublicKey)

	tests := []struct {
		name       string
		bundle     []byte
		keyPEM     []byte
		digest     []byte
		predicate  string
		noArtifact bool
		wantErr    []string
		wantNotBun bool
	}{
		{name: "verified", bundle: good, keyPEM: keyPEM, digest: artifact[:]},
		{name: "verified without artifact", bundle: good, keyPEM: keyPEM, noArtifact: true},
		{name: "other key without artifact", bundle: good, keyPEM: otherPEM, noArtifact: true,
			wantErr: []string{"but the trusted key has hint " + otherHint}},
		{name: "wrong predicate type without artifact", bundle: good, keyPEM: keyPEM, noArtifact: true, predicate: "https://example.com/q",
			wantErr: []string{`predicate type is "https://example.com/p"`}},
		{name: "neither digest nor WithoutArtifact", bundle: good, keyPEM: keyPEM,
			wantErr: []string{"no artifact digest to check the bundle against"}},
		{name: "digest and WithoutArtifact", bundle: good, keyPEM: keyPEM, digest: artifact[:], noArtifact: true,
			wantErr: []string{"both an artifact digest and WithoutArtifact are set"}},
		{name: "other key", bundle: good, keyPEM: otherPEM, digest: artifact[:],
			wantErr: []string{"bundle was signed by the key with hint " + keyHint + ", but the trusted key has hint " + otherHint}},
		{name: "other artifact", bundle: good, keyPEM: keyPEM, digest: other[:],
			wantErr: []string{"artifact digest sha256:" + hex.EncodeToString(other[:]), "artifact sha256:" + hex.EncodeToString(artifact[:])}},
		{name: "predicate type", bundle: good, keyPEM: keyPEM, digest: artifact[:], predicate: "https://example.com/q",
			wantErr: []string{`predicate type is "https://example.com/p", expected "https://example.com/q"`}},
		{name: "not JSON", bundle: []byte("hello"), keyPEM: keyPEM, digest: artifact[:],
			wantErr: []string{"not a Sigstore bundle: "}, wantNotBun: true},
		{name: "other JSON", bundle: []byte(`{"payload":"e30="}`), keyPEM: keyPEM, digest: artifact[:],
			wantErr: []string{"not a Sigstore bundle: "}, wantNotBun: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Bundle(tt.bundle, Options{PublicKeyPEM: tt.keyPEM, DigestAlgorithm: "sha256", Digest: tt.digest,
				PredicateType: tt.predicate, WithoutArtifact: tt.noArtifact})
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Bundle: %v", err)
				}
				if strings.Join(res.Subjects, ",") != "artifact" {
					t.Errorf("subjects %v, want [artifact]", res.Subjects)
				}
				return
			}
			if err == nil {
				t.Fatal("Bundle succeeded, want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if got := errors.Is(err, ErrNotBundle); got != tt.wantNotBun {
				t.Errorf("errors.Is(err, ErrNotBundle) = %v, want %v", got, tt.wantNotBun)
			}
		})
	}
}

// TestBundleSignatureStillChecked makes sure the hint check does not
// replace the signature check: a bundle whose hint names the trusted key
// but whose signature was made by another key must fail.
func TestBundleSignatureStillChecked(t *testing.T) {
	key, keyPEM := newKey(t)
	otherKey, _ := newKey(t)
	artifact := sha256.Sum256([]byte("artifact"))

	forged := signBundle(t, otherKey, artifact[:])
	otherHint, _ := KeyHint(&otherKey.PublicKey)
	keyHint, _ := KeyHint(&key.PublicKey)
	forged = []byte(strings.Replace(string(forged), otherHint, keyHint, 1))

	if _, err := Bundle(forged, Options{PublicKeyPEM: keyPEM, DigestAlgorithm: "sha256", Digest: artifact[:]}); err == nil {
		t.Fatal("Bundle accepted a signature by another key under the trusted key's hint")
	}
	if _, err := Bundle(forged, Options{PublicKeyPEM: keyPEM, WithoutArtifact: true}); err == nil {
		t.Fatal("Bundle without an artifact accepted a signature by another key under the trusted key's hint")
	}
}

// TestBundleKeyless passes a real keyless bundle, signed with a Fulcio
// certificate, which this verifier must name as such.
func TestBundleKeyless(t *testing.T) {
	data, err := os.ReadFile(testenv.RealWorld(t, "slsa/sigstore-go_sigstore.js-2.0.0-provenance.sigstore.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, keyPEM := newKey(t)

	_, err = Bundle(data, Options{PublicKeyPEM: keyPEM, WithoutArtifact: true})
	if err == nil || !strings.Contains(err.Error(), "signed with a certificate (keyless signing)") {
		t.Fatalf("Bundle() = %v, want an error naming keyless signing", err)
	}
}
