package client

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/token"
)

// TestDPoPProofPassesDaemonCheck checks proofs with the daemon's own
// verifier, for both key types and with and without a nonce.
func TestDPoPProofPassesDaemonCheck(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nonces := token.NewNonceSource(time.Minute)
	now := time.Now()
	const accessToken = "header.payload.signature"
	htu := api.DPoPBaseURL + api.PathSignDSSE

	tests := []struct {
		name  string
		key   crypto.Signer
		nonce string
	}{
		{"ES256", ecKey, ""},
		{"ES256 with nonce", ecKey, nonces.Current(now)},
		{"EdDSA", edKey, ""},
		{"EdDSA with nonce", edKey, nonces.Current(now)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jkt, err := DPoPThumbprint(tt.key.Public())
			if err != nil {
				t.Fatal(err)
			}
			proof, err := NewDPoPProof(tt.key, "POST", htu, accessToken, tt.nonce, now)
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(proof, "."); n != 2 {
				t.Fatalf("proof %q has %d dots, want a compact JWS", proof, n)
			}

			check := &token.ProofCheck{
				Method: "POST", URL: htu, AccessToken: accessToken, JKT: jkt,
				Now: now, MaxAge: time.Minute, Leeway: 5 * time.Second,
				Replay: token.NewReplayCache(100),
			}
			if tt.nonce != "" {
				check.Nonces = nonces
			}
			claims, apiErr := token.VerifyProof(proof, check)
			if apiErr != nil {
				t.Fatalf("daemon rejected the proof: %v", apiErr)
			}
			if claims.Nonce != tt.nonce {
				t.Errorf("nonce %q, want %q", claims.Nonce, tt.nonce)
			}
			if claims.IssuedAt.Time().Unix() != now.Unix() {
				t.Errorf("iat %v, want %v", claims.IssuedAt.Time(), now)
			}

			// The same proof a second time is a replay.
			if _, apiErr := token.VerifyProof(proof, check); apiErr == nil || apiErr.Code != api.CodeDPoPReplay {
				t.Errorf("second use: %v, want %s", apiErr, api.CodeDPoPReplay)
			}
		})
	}
}

func TestDPoPProofsDiffer(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProofSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a, err := p.sign("POST", "http://signer.localhost/v1/sign/dsse", "tok", "", now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.sign("POST", "http://signer.localhost/v1/sign/dsse", "tok", "", now)
	if err != nil {
		t.Fatal(err)
	}
	headerA, _, _ := strings.Cut(a, ".")
	headerB, _, _ := strings.Cut(b, ".")
	if headerA != headerB {
		t.Error("two proofs by one key have different protected headers")
	}
	if a == b {
		t.Error("two proofs are identical; each needs a fresh jti")
	}
}

func TestDPoPProofRejectsOtherCurves(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewDPoPProof(key, "POST", "http://signer.localhost/v1/sign/dsse", "tok", "", time.Now())
	if err == nil || !strings.Contains(err.Error(), "P-384; use P-256") {
		t.Fatalf("error %v, want a curve error", err)
	}
}

func TestAppendJSONString(t *testing.T) {
	tests := []string{
		"",
		"POST",
		"http://signer.localhost/v1/sign/dsse",
		`quote " and backslash \`,
		"line\nbreak and tab\t",
		"non-ASCII é and invalid \xff byte",
		"delete \x7f",
	}
	for _, in := range tests {
		t.Run(in, func(t *testing.T) {
			out := appendJSONString([]byte("x"), in)
			if out[0] != 'x' {
				t.Fatal("the prefix was overwritten")
			}
			var got string
			if err := json.Unmarshal(out[1:], &got); err != nil {
				t.Fatalf("%s is not a JSON string: %v", out[1:], err)
			}
			want := strings.ToValidUTF8(in, "\uFFFD")
			if got != want {
				t.Errorf("decodes to %q, want %q", got, want)
			}
		})
	}
}

// TestDPoPProofEscapesNonce checks a nonce that needs JSON escaping,
// which a daemon never sends but a proxy or a bug might.
func TestDPoPProofEscapesNonce(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nonce := `a"b\c`
	proof, err := NewDPoPProof(key, "POST", "http://signer.localhost/v1/sign/dsse", "", nonce, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(proof, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("claims %s are not JSON: %v", payload, err)
	}
	if claims["nonce"] != nonce || claims["iat"] != float64(1700000000) || claims["htm"] != "POST" {
		t.Errorf("claims %v", claims)
	}
	if _, ok := claims["ath"]; ok {
		t.Error("a proof without an access token has an ath claim")
	}
}
