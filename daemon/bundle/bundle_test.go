package bundle_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/bundle"
	"github.com/signerd/signerd/daemon/dsse"
	"github.com/signerd/signerd/daemon/statement"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

type ed25519Signer ed25519.PrivateKey

func (k ed25519Signer) SignMessage(_ context.Context, msg []byte) ([]byte, error) {
	return ed25519.Sign(ed25519.PrivateKey(k), msg), nil
}

// fixedKey returns an Ed25519 key from a fixed seed. Ed25519 signatures are
// deterministic, so the whole bundle is too.
func fixedKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("signerd bundle golden test"))
	return ed25519.NewKeyFromSeed(seed[:])
}

var artifact = []byte("artifact bytes for the golden bundle\n")

func makeBundle(t *testing.T, priv ed25519.PrivateKey) []byte {
	t.Helper()
	sum := sha256.Sum256(artifact)
	st, err := statement.Validate(&api.SignRequest{
		Subjects:      []api.Subject{{Name: "artifact.txt", Digest: map[string]string{"sha256": hexString(sum[:])}}},
		PredicateType: "https://example.com/predicate/v1",
		Predicate:     json.RawMessage(`{"scanner":"test","results":[]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	env, err := dsse.Sign(context.Background(), ed25519Signer(priv), api.MediaTypeInToto, st.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	hint, err := bundle.KeyHint(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	out, err := bundle.New(env, hint).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&0xf])
	}
	return string(out)
}

func TestBundleGolden(t *testing.T) {
	got := makeBundle(t, fixedKey())
	golden := filepath.Join("testdata", "ed25519.sigstore.json")

	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Errorf("bundle differs from %s:\ngot  %s\nwant %s", golden, got, want)
	}

	again := makeBundle(t, fixedKey())
	if !bytes.Equal(got, again) {
		t.Error("two runs with the same key and request gave different bundles")
	}
}

func TestBundleShape(t *testing.T) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(makeBundle(t, fixedKey()), &top); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"mediaType", "verificationMaterial", "dsseEnvelope"} {
		if _, ok := top[key]; !ok {
			t.Errorf("bundle lacks %q", key)
		}
	}
	if len(top) != 3 {
		t.Errorf("bundle has %d top-level fields, want exactly 3", len(top))
	}
}

func TestBundleVerifiesWithSigstoreGo(t *testing.T) {
	priv := fixedKey()
	data := makeBundle(t, priv)

	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		t.Fatalf("sigstore-go cannot parse the bundle: %v", err)
	}
	v, err := signature.LoadVerifier(priv.Public(), crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	trusted := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(v, time.Time{}, time.Time{}), nil
	})
	verifier, err := verify.NewVerifier(trusted, verify.WithNoObserverTimestamps())
	if err != nil {
		t.Fatal(err)
	}

	sum := sha256.Sum256(artifact)
	if _, err := verifier.Verify(&b, verify.NewPolicy(verify.WithArtifactDigest("sha256", sum[:]), verify.WithKey())); err != nil {
		t.Errorf("sigstore-go rejects the bundle: %v", err)
	}

	other := sha256.Sum256([]byte("another artifact"))
	if _, err := verifier.Verify(&b, verify.NewPolicy(verify.WithArtifactDigest("sha256", other[:]), verify.WithKey())); err == nil {
		t.Error("sigstore-go accepts the bundle for another artifact's digest")
	}
}

func TestKeyHint(t *testing.T) {
	// The hint is base64(SHA-256(DER)), computed independently here.
	priv := fixedKey()
	hint, err := bundle.KeyHint(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	if want := base64.StdEncoding.EncodeToString(sum[:]); hint != want {
		t.Errorf("KeyHint() = %q, want %q", hint, want)
	}
}

func BenchmarkBundleEncode(b *testing.B) {
	env := &dsse.Envelope{
		Payload:     string(bytes.Repeat([]byte("A"), 4096)),
		PayloadType: api.MediaTypeInToto,
		Signatures:  []dsse.Signature{{Sig: "MEUCIQ=="}},
	}
	bd := bundle.New(env, "hint")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bd.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMarshalMatchesEncodingJSON checks the hand-written encoder against
// encoding/json, including strings that need escaping and the shapes a
// real bundle never has.
func TestMarshalMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		b    *bundle.Bundle
	}{
		{"typical", bundle.New(&dsse.Envelope{Payload: "eyJhIjoxfQ==", PayloadType: api.MediaTypeInToto,
			Signatures: []dsse.Signature{{Sig: "MEUCIQD+/abc="}}}, "aGludA==")},
		{"no envelope", bundle.New(nil, "aGludA==")},
		{"nil signatures", bundle.New(&dsse.Envelope{Payload: "cA==", PayloadType: "t"}, "h")},
		{"empty signatures", bundle.New(&dsse.Envelope{Payload: "cA==", PayloadType: "t", Signatures: []dsse.Signature{}}, "h")},
		{"two signatures with keyid", bundle.New(&dsse.Envelope{Payload: "cA==", PayloadType: "t",
			Signatures: []dsse.Signature{{KeyID: "k1", Sig: "czE="}, {Sig: "czI="}}}, "h")},
		{"escaped strings", bundle.New(&dsse.Envelope{Payload: "a\"b\\c<d>&e\n\u2028é\xff", PayloadType: "x<y>",
			Signatures: []dsse.Signature{{KeyID: "\t", Sig: "&"}}}, "h\"int")},
		{"empty strings", bundle.New(&dsse.Envelope{Signatures: []dsse.Signature{{}}}, "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.b.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Marshal =\n%s\nencoding/json =\n%s", got, want)
			}
		})
	}
}
