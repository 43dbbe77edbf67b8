package guest

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// requestSeeds are inputs the parity tests start from: what the daemon
// sends, and the corners of encoding/json's behaviour.
var requestSeeds = []string{
	`{"abiVersion":1,"tenant":"bench","caller":{"pid":1234,"uid":0,"gid":0,"groups":[4,27],"executable":"/usr/bin/trivy","executableSha256":"ab","cgroup":"/x","systemdUnit":"t.service","containerId":"c1","pidfd":false},"predicateType":"https://cyclonedx.org/bom","subjects":[{"name":"ghcr.io/acme/app:1.0","digest":{"sha256":"4d7a"}}],"predicateSha256":"2823","predicate":{"bomFormat":"CycloneDX","components":[]},"scanner":{"name":"trivy","version":"0.58.1","image":"i"},"poe":{"iss":"i","sub":"s","tenant":"t","plan":"p","exp":"2026-12-04T20:00:00Z","scannerVersions":">=0.50.0"},"requestTime":"2026-12-04T22:17:57.628Z","config":{"versions":"\u003e=0.50.0"}}`,
	`{"abiVersion":1,"predicate":null,"predicateOmitted":true,"poe":null,"scanner":null,"config":null}`,
	`null`,
	` {} `,
	`[]`,
	`"x"`,
	`7`,
	`{"abiVersion":1.0}`,
	`{"abiVersion":1e2}`,
	`{"abiVersion":-0}`,
	`{"abiVersion":99999999999999999999}`,
	`{"caller":{"pid":2147483648}}`,
	`{"caller":{"uid":-1}}`,
	`{"caller":{"uid":"1"}}`,
	`{"caller":{"groups":null}}`,
	`{"caller":{"groups":[]}}`,
	`{"caller":{"groups":[1,null,3]}}`,
	`{"caller":null,"tenant":null,"predicateOmitted":null,"abiVersion":null}`,
	`{"caller":[]}`,
	`{"TENANT":"a","Tenant":"b"}`,
	`{"tenant":"a","tenant":"b"}`,
	"{\"\u212aey\":1,\"predicate\u017fha256\":\"x\",\"PREDICATESHA256\":\"y\"}",
	"{\"tenant\":\"\\ud83d\\ude00 \\ud800 \\udc00x \\u00e9 \\\\u0041 \\/ \\b\\f\\n\\r\\t \xff\xfe\"}",
	`{"tenant":"\ud800\u0041"}`,
	`{"subjects":[{"name":"a","digest":{"sha256":"1"}},{"name":"b"}],"subjects":[{"digest":{"sha512":"2"}}]}`,
	`{"subjects":[{"name":"a"},{"name":"b"},{"name":"c"}],"subjects":[{"name":"x"}],"subjects":[{},{}]}`,
	`{"subjects":[null,{"digest":null},{"digest":{"a":null}}]}`,
	`{"subjects":{}}`,
	`{"subjects":[{"digest":{"a":1}}]}`,
	`{"scanner":{"name":"a"},"scanner":{"version":"b"}}`,
	`{"poe":{"exp":"2026-12-04T20:00:00Z"},"poe":{"exp":null}}`,
	`{"poe":{"exp":"yesterday"}}`,
	`{"poe":{"exp":{}}}`,
	`{"requestTime":null}`,
	`{"requestTime":"2026-12-04T22:17:57.628+01:00"}`,
	`{"requestTime":"2026-12-04 22:17:57"}`,
	`{"requestTime":17}`,
	`{"predicate":  {"a" : [1, 2.5e-3, true, false, null, "x"]}  , "config":[]}`,
	`{"predicateOmitted":"true"}`,
	`{"unknown":{"deep":[[[{}]]]},"abiVersion":1}`,
	`{"a":01}`,
	`{"a":1.}`,
	`{"a":-}`,
	`{"a":.5}`,
	`{"a":1e}`,
	`{"a":"\x01"}`,
	`{"a":"\'"}`,
	`{"a":"\u12"}`,
	`{"a":tru}`,
	`{"a":1,}`,
	`{"a" 1}`,
	`{a:1}`,
	`[1,]`,
	`{"a":1}}`,
	`{"a":1} x`,
	``,
	` `,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"x":` + strings.Repeat(`{"x":`, 9998) + `1` + strings.Repeat("}", 9999),
}

// checkParity fails t unless decodeRequest accepts exactly what
// json.Unmarshal accepts and fills the same Request.
func checkParity(t *testing.T, input []byte) {
	t.Helper()
	var want, got Request
	wantErr := json.Unmarshal(input, &want)
	gotErr := decodeRequest(input, &got)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("input %q: encoding/json error %v, decodeRequest error %v", input, wantErr, gotErr)
	}
	if wantErr == nil && !reflect.DeepEqual(want, got) {
		t.Fatalf("input %q:\nencoding/json %#v\ndecodeRequest %#v", input, want, got)
	}
}

func TestDecodeRequestMatchesEncodingJSON(t *testing.T) {
	for _, s := range requestSeeds {
		checkParity(t, []byte(s))
	}
}

// TestDecodeRequestMutations checks parity on random edits of the seeds,
// so that a plain go test run covers more than the fixed cases.
func TestDecodeRequestMutations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("{}[]\":,\\ u0123456789abcdefnulltrue-+.eE\t\n\xff\xe2\x80\xa8K")
	for range 20000 {
		seed := []byte(requestSeeds[rng.IntN(len(requestSeeds))])
		if len(seed) > 4096 {
			continue
		}
		b := append([]byte(nil), seed...)
		for range 1 + rng.IntN(3) {
			pos := 0
			if len(b) > 0 {
				pos = rng.IntN(len(b) + 1)
			}
			c := alphabet[rng.IntN(len(alphabet))]
			switch rng.IntN(3) {
			case 0: // insert
				b = append(b[:pos], append([]byte{c}, b[pos:]...)...)
			case 1: // replace
				if pos < len(b) {
					b[pos] = c
				}
			default: // delete
				if pos < len(b) {
					b = append(b[:pos], b[pos+1:]...)
				}
			}
		}
		checkParity(t, b)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, input []byte) { checkParity(t, input) })
}

var decisionSeeds = []string{"", "plain", `quote " and \ backslash`, "<tag> & co", "ctl \x00\x01\b\f\n\r\t\x1f\x7f",
	"\u2028\u2029 é 😀", "bad \xff\xfe utf-8 \xe2\x80"}

func checkEncodeParity(t *testing.T, d Decision) {
	t.Helper()
	want, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeDecision(d); string(got) != string(want) {
		t.Fatalf("encodeDecision(%#v) = %s, json.Marshal = %s", d, got, want)
	}
}

func TestEncodeDecisionMatchesEncodingJSON(t *testing.T) {
	checkEncodeParity(t, Decision{Allow: true, Reasons: []string{}})
	checkEncodeParity(t, Decision{Allow: false, Reasons: decisionSeeds})
	for _, s := range decisionSeeds {
		checkEncodeParity(t, Decision{Allow: true, Reasons: []string{s}})
	}
	if got := string(encodeDecision(Decision{})); got != `{"allow":false,"reasons":[]}` {
		t.Errorf("nil reasons encode as %s, want []", got)
	}
}

func FuzzEncodeDecision(f *testing.F) {
	for _, s := range decisionSeeds {
		f.Add(true, s, "second")
	}
	f.Fuzz(func(t *testing.T, allow bool, a, b string) {
		checkEncodeParity(t, Decision{Allow: allow, Reasons: []string{a, b}})
	})
}
