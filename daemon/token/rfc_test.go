package token

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Example values from RFC 9449 (DPoP) sections 4.1, 6.1 and 7.1, and from
// RFC 7638 (JWK Thumbprint) section 3.1.
const (
	rfc9449X   = "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs"
	rfc9449Y   = "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"
	rfc9449JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"

	rfc9449Header = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19"

	// rfc9449TokenProof is the proof of the token request in section 4.1.
	rfc9449TokenProof = rfc9449Header +
		".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ" +
		".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"

	// rfc9449ResourceProof is the proof of the resource request in
	// section 7.1, which carries ath for rfc9449AccessToken.
	rfc9449ResourceProof = rfc9449Header +
		".eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9" +
		".2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"

	rfc9449AccessToken = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
	rfc9449ATH         = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"

	rfc7638N   = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	rfc7638JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
)

func thumbprintOf(t *testing.T, jwkJSON string) string {
	t.Helper()
	var k jose.JSONWebKey
	if err := json.Unmarshal([]byte(jwkJSON), &k); err != nil {
		t.Fatalf("parse JWK: %v", err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatalf("thumbprint: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

func TestThumbprintRFCVectors(t *testing.T) {
	tests := []struct {
		name string
		jwk  string
		want string
	}{
		{"RFC 9449 EC key", `{"kty":"EC","x":"` + rfc9449X + `","y":"` + rfc9449Y + `","crv":"P-256"}`, rfc9449JKT},
		{"RFC 7638 RSA key", `{"kty":"RSA","n":"` + rfc7638N + `","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`, rfc7638JKT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := thumbprintOf(t, tc.jwk); got != tc.want {
				t.Errorf("thumbprint = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestAccessTokenHashRFCVector(t *testing.T) {
	if got := AccessTokenHash(rfc9449AccessToken); got != rfc9449ATH {
		t.Errorf("ath = %s, want %s", got, rfc9449ATH)
	}
}

func TestVerifyProofRFCExamples(t *testing.T) {
	tests := []struct {
		name  string
		proof string
		check ProofCheck
		jti   string
	}{
		{
			name:  "token request",
			proof: rfc9449TokenProof,
			check: ProofCheck{Method: "POST", URL: "https://server.example.com/token", Now: time.Unix(1562262616, 0)},
			jti:   "-BwC3ESc6acc2lTc",
		},
		{
			name:  "resource request with ath and jkt",
			proof: rfc9449ResourceProof,
			check: ProofCheck{
				Method: "GET", URL: "https://resource.example.org/protectedresource",
				AccessToken: rfc9449AccessToken, JKT: rfc9449JKT, Now: time.Unix(1562262618, 0),
			},
			jti: "e1j3V_bKic8-LAEB",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check.MaxAge = time.Minute
			tc.check.Replay = NewReplayCache(10)
			claims, e := VerifyProof(tc.proof, &tc.check)
			if e != nil {
				t.Fatalf("VerifyProof: %v", e)
			}
			if claims.ID != tc.jti {
				t.Errorf("jti = %q, want %q", claims.ID, tc.jti)
			}
			if claims.Thumbprint != rfc9449JKT {
				t.Errorf("thumbprint = %q, want %q", claims.Thumbprint, rfc9449JKT)
			}

			_, e = VerifyProof(tc.proof, &tc.check)
			if e == nil || e.Code != "dpop_replay" {
				t.Errorf("second use: got %v, want dpop_replay", e)
			}
		})
	}
}

func TestVerifyProofRFCExampleWrongToken(t *testing.T) {
	_, e := VerifyProof(rfc9449ResourceProof, &ProofCheck{
		Method: "GET", URL: "https://resource.example.org/protectedresource",
		AccessToken: "another-token", Now: time.Unix(1562262618, 0), MaxAge: time.Minute,
	})
	if e == nil || e.Code != "dpop_invalid" {
		t.Fatalf("got %v, want dpop_invalid for a proof of another token", e)
	}
}

func TestNormalizeHTU(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"http://signer.localhost/v1/sign/dsse", "http://signer.localhost/v1/sign/dsse", true},
		{"HTTP://Signer.LocalHost:80/v1/sign/dsse", "http://signer.localhost/v1/sign/dsse", true},
		{"https://signer.localhost:443/x", "https://signer.localhost/x", true},
		{"http://signer.localhost:8080/x", "http://signer.localhost:8080/x", true},
		{"http://signer.localhost/v1/sign/dsse?a=b", "", false},
		{"http://signer.localhost/v1/sign/dsse?", "", false},
		{"http://signer.localhost/v1/sign/dsse#frag", "", false},
		{"http://user@signer.localhost/v1/sign/dsse", "", false},
		{"/v1/sign/dsse", "", false},
		{"ftp://signer.localhost/x", "", false},
	}
	for _, tc := range tests {
		got, err := NormalizeHTU(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("NormalizeHTU(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if !tc.ok && err == nil {
			t.Errorf("NormalizeHTU(%q) = %q, want an error", tc.in, got)
		}
	}
}
