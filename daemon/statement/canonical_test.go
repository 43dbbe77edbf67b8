package statement

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/signerd/signerd/test/testenv"
)

func TestCanonicalize(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{`{}`, `{}`},
		{` { "b" : 1 , "a" : [ ] } `, `{"a":[],"b":1}`},
		{`{"a":"\u0041\/\"\\\b\f\n\r\t"}`, `{"a":"A/\"\\\u0008\u000c\n\r\t"}`},
		{`{"k":"\ud83d\ude00"}`, `{"k":"😀"}`},
		{`{"k":"\ud800"}`, `{"k":"` + "\uFFFD" + `"}`},
		{`{"n":[-0,0.5,1E+10,-2.5e-3,10]}`, `{"n":[-0,0.5,1E+10,-2.5e-3,10]}`},
		{`{"x":[true,false,null]}`, `{"x":[true,false,null]}`},
		{`{"é":1,"e":2,"z":3,"Z":4}`, `{"Z":4,"e":2,"z":3,"é":1}`},
		{`{"s":"<&>` + "\u2028" + `"}`, `{"s":"<&>\u2028"}`},
		{`{"\u0062":1,"a":2}`, `{"a":2,"b":1}`},
	}
	for _, tt := range tests {
		got, err := Canonicalize([]byte(tt.in))
		if err != nil {
			t.Errorf("Canonicalize(%s) error: %v", tt.in, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Canonicalize(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestCanonicalizeRejects(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{`{"a":1,"a":2}`, `duplicate object key "a"`},
		{`{"a":1,"\u0061":2}`, `duplicate object key "a"`},
		{`{"a":01}`, "expected ',' or '}'"},
		{`{"a":1.}`, "no digits after the decimal point"},
		{`{"a":1e}`, "no digits in the exponent"},
		{`{"a":+1}`, "unexpected character"},
		{`{"a":"\x"}`, `invalid escape`},
		{`{"a":"\u12"}`, `invalid \u escape`},
		{"{\"a\":\"\x01\"}", "control character 0x01"},
		{"{\"a\":\"\xff\"}", "not valid UTF-8"},
		{`{"a":tru}`, "expected true"},
		{`{"a":1,}`, "expected a string key"},
		{`{"a" 1}`, "expected ':'"},
		{`{"a":[1 2]}`, "expected ',' or ']'"},
		{`{"a":"open`, "unterminated string"},
		{`{"a":1} x`, "data after the end"},
		{`{"a":`, "unexpected end of input"},
	}
	for _, tt := range tests {
		_, err := Canonicalize([]byte(tt.in))
		if err == nil {
			t.Errorf("Canonicalize(%q) succeeded, want error containing %q", tt.in, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Canonicalize(%q) error = %q, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

// decodeNumbers decodes JSON keeping numbers as written.
func decodeNumbers(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func TestCanonicalizeRealDocuments(t *testing.T) {
	dir := testenv.RealWorld(t, "")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	if len(files) == 0 {
		t.Fatalf("no JSON files under %s", dir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Canonicalize(data)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		checkSameValue(t, data, got)
	}
}

func checkSameValue(t *testing.T, in, out []byte) {
	t.Helper()
	want, err := decodeNumbers(in)
	if err != nil {
		t.Fatalf("encoding/json rejects the input that Canonicalize accepted: %v", err)
	}
	got, err := decodeNumbers(out)
	if err != nil {
		t.Fatalf("canonical output is not valid JSON: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("canonical form changes the value:\nin  %s\nout %s", in, out)
	}
	again, err := Canonicalize(out)
	if err != nil || !bytes.Equal(again, out) {
		t.Errorf("canonical form is not a fixed point: %v\n%s\n%s", err, out, again)
	}
}

func FuzzCanonicalize(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"a":[1,2,{"b":null}]}`, `{"k":"\ud83d\ude00\n"}`, `[1]`, `"s"`, `-0.5e+3`,
		`{"a":1,"a":2}`, `{"x":"\u00e9\u2028<&>"}`, `{"deep":[[[[[]]]]]}`, " {\t\"a\" :\r\n true } ",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Canonicalize(in)
		if err != nil {
			return
		}
		if !json.Valid(in) {
			t.Fatalf("Canonicalize accepted input that encoding/json rejects: %q", in)
		}
		checkSameValue(t, in, out)
	})
}

func BenchmarkCanonicalizeLargeSBOM(b *testing.B) {
	data, err := os.ReadFile(testenv.RealWorld(b, "cyclonedx/bom-examples_laravel-7.12.0_bom.1.4.cdx.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Canonicalize(data); err != nil {
			b.Fatal(err)
		}
	}
}
