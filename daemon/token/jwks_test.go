package token

import (
	"strings"
	"testing"
)

func TestParseKeySet(t *testing.T) {
	const ec = `"kty":"EC","crv":"P-256","x":"` + rfc9449X + `","y":"` + rfc9449Y + `"`
	tests := []struct {
		name    string
		jwks    string
		wantErr string
	}{
		{"EC key", `{"keys":[{` + ec + `,"kid":"a"}]}`, ""},
		{"EC key with alg", `{"keys":[{` + ec + `,"kid":"a","alg":"ES256","use":"sig"}]}`, ""},
		{"no keys", `{"keys":[]}`, "no keys"},
		{"no kid", `{"keys":[{` + ec + `}]}`, "no kid"},
		{"alg disagrees with key", `{"keys":[{` + ec + `,"kid":"a","alg":"EdDSA"}]}`, "has alg"},
		{"use enc", `{"keys":[{` + ec + `,"kid":"a","use":"enc"}]}`, "use"},
		{"RSA key", `{"keys":[{"kty":"RSA","n":"` + rfc7638N + `","e":"AQAB","kid":"r"}]}`, "not accepted"},
		{"not JSON", `keys`, "not a valid JWKS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := ParseKeySet([]byte(tc.jwks))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseKeySet: %v", err)
				}
				if ks.Len() != 1 {
					t.Errorf("Len = %d, want 1", ks.Len())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestKeySetLookupSharedKid(t *testing.T) {
	const ec = `"kty":"EC","crv":"P-256","x":"` + rfc9449X + `","y":"` + rfc9449Y + `"`
	const ed = `"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"`
	ks, err := ParseKeySet([]byte(`{"keys":[{` + ed + `,"kid":"k"},{` + ec + `,"kid":"k"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"ES256", "EdDSA"} {
		key, err := ks.lookup("k", alg)
		if err != nil {
			t.Fatalf("lookup %s: %v", alg, err)
		}
		got, _ := keyAlgorithm(key)
		if string(got) != alg {
			t.Errorf("lookup(k, %s) returned a %s key", alg, got)
		}
	}
	if _, err := ks.lookup("k", "RS256"); err == nil {
		t.Errorf("lookup(k, RS256) found a key")
	}
}
