package statement

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/signerd/signerd/daemon/api"
)

const (
	hex64  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hex128 = hex64 + hex64
)

func validRequest() *api.SignRequest {
	return &api.SignRequest{
		Subjects:      []api.Subject{{Name: "app.tar", Digest: map[string]string{"sha256": hex64}}},
		PredicateType: "https://cyclonedx.org/bom",
		Predicate:     json.RawMessage(`{"bomFormat":"CycloneDX"}`),
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(r *api.SignRequest)
		wantField string
		wantText  string
	}{
		{"empty subject list", func(r *api.SignRequest) { r.Subjects = nil }, "subjects", "empty"},
		{"duplicate subjects", func(r *api.SignRequest) { r.Subjects = append(r.Subjects, r.Subjects[0]) }, "subjects[1]", "duplicates subjects[0]"},
		{"empty subject name", func(r *api.SignRequest) { r.Subjects[0].Name = "" }, "subjects[0].name", "empty"},
		{"missing sha256", func(r *api.SignRequest) { r.Subjects[0].Digest = map[string]string{"sha512": hex128} }, "subjects[0].digest", "sha256"},
		{"short hex", func(r *api.SignRequest) { r.Subjects[0].Digest["sha256"] = hex64[:63] }, "subjects[0].digest.sha256", "63 hex characters"},
		{"long hex", func(r *api.SignRequest) { r.Subjects[0].Digest["sha256"] = hex64 + "0" }, "subjects[0].digest.sha256", "65 hex characters"},
		{"upper-case hex", func(r *api.SignRequest) { r.Subjects[0].Digest["sha256"] = strings.ToUpper(hex64) }, "subjects[0].digest.sha256", `has "A" at position 11, which is not a lower-case hex digit`},
		{"trailing space", func(r *api.SignRequest) { r.Subjects[0].Digest["sha256"] = hex64 + " " }, "subjects[0].digest.sha256", `has " " at position 65`},
		{"non-hex characters", func(r *api.SignRequest) { r.Subjects[0].Digest["sha256"] = strings.Repeat("g", 64) }, "subjects[0].digest.sha256", "not a lower-case hex digit"},
		{"wrong sha512 length", func(r *api.SignRequest) { r.Subjects[0].Digest["sha512"] = hex64 }, "subjects[0].digest.sha512", "expected 128"},
		{"unknown digest algorithm", func(r *api.SignRequest) { r.Subjects[0].Digest["md5"] = hex64[:32] }, "subjects[0].digest.md5", "unknown digest algorithm"},
		{"empty predicate type", func(r *api.SignRequest) { r.PredicateType = "" }, "predicateType", "empty"},
		{"relative predicate type", func(r *api.SignRequest) { r.PredicateType = "cyclonedx/bom" }, "predicateType", "not an absolute URI"},
		{"predicate type without host", func(r *api.SignRequest) { r.PredicateType = "https:///bom" }, "predicateType", "not an absolute URI"},
		{"predicate type with space", func(r *api.SignRequest) { r.PredicateType = "https://x.example/a b" }, "predicateType", "not an absolute URI"},
		{"missing predicate", func(r *api.SignRequest) { r.Predicate = nil }, "predicate", "missing"},
		{"null predicate", func(r *api.SignRequest) { r.Predicate = json.RawMessage(`null`) }, "predicate", "missing"},
		{"array predicate", func(r *api.SignRequest) { r.Predicate = json.RawMessage(`[1,2]`) }, "predicate", "JSON array, not an object"},
		{"string predicate", func(r *api.SignRequest) { r.Predicate = json.RawMessage(`"sbom"`) }, "predicate", "JSON string, not an object"},
		{"number predicate", func(r *api.SignRequest) { r.Predicate = json.RawMessage(`42`) }, "predicate", "JSON number, not an object"},
		{"duplicate predicate key", func(r *api.SignRequest) { r.Predicate = json.RawMessage(`{"a":1,"a":2}`) }, "predicate", `duplicate object key "a"`},
		{"nested duplicate key", func(r *api.SignRequest) { r.Predicate = json.RawMessage(`{"x":{"b":1,"b":1}}`) }, "predicate", `duplicate object key "b"`},
		{"whole Statement v1 as predicate", func(r *api.SignRequest) {
			r.Predicate = json.RawMessage(`{"Zed":1,"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`)
		}, "predicate._type", `whole in-toto Statement (_type "https://in-toto.io/Statement/v1")`},
		{"whole Statement v0.1 as predicate", func(r *api.SignRequest) {
			r.Predicate = json.RawMessage(`{"_type":"https://in-toto.io/Statement/v0.1","predicate":{}}`)
		}, "predicate._type", "signerctl sign --statement"},
		{"too deep predicate", func(r *api.SignRequest) {
			r.Predicate = json.RawMessage(strings.Repeat(`{"a":`, MaxPredicateDepth+2) + "1" + strings.Repeat("}", MaxPredicateDepth+2))
		}, "predicate", "maximum depth"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := validRequest()
			tt.mutate(req)

			_, err := Validate(req)
			var apiErr *api.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("Validate() error = %v, want an *api.Error", err)
			}
			if apiErr.Code != api.CodeInvalidRequest {
				t.Errorf("code = %q, want %q", apiErr.Code, api.CodeInvalidRequest)
			}
			if apiErr.Field != tt.wantField {
				t.Errorf("field = %q, want %q", apiErr.Field, tt.wantField)
			}
			if !strings.Contains(apiErr.Message, tt.wantText) {
				t.Errorf("message %q does not contain %q", apiErr.Message, tt.wantText)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	req := validRequest()
	req.Subjects[0].Digest["sha512"] = hex128
	req.Subjects = append(req.Subjects, api.Subject{Name: "app.tar", Digest: map[string]string{"sha256": strings.Repeat("f", 64)}})

	if _, err := Validate(req); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
}

// A predicate may name the Statement type anywhere but in its own _type.
func TestValidateAcceptsStatementTypeBelowTop(t *testing.T) {
	for _, predicate := range []string{
		`{"materials":[{"_type":"https://in-toto.io/Statement/v1"}]}`,
		`{"_type":"https://example.com/report","note":"https://in-toto.io/Statement/v1"}`,
	} {
		req := validRequest()
		req.Predicate = json.RawMessage(predicate)
		if _, err := Validate(req); err != nil {
			t.Errorf("Validate(%s) = %v, want nil", predicate, err)
		}
	}
}

func TestMarshalDeterministic(t *testing.T) {
	a := validRequest()
	a.Predicate = json.RawMessage(`{"z": [1, 2.50, {"y": true, "x": null}], "a": "<&>", "n": 1e3}`)
	b := validRequest()
	b.Predicate = json.RawMessage("{\n  \"n\": 1e3,\n  \"a\": \"<&>\",\n  \"z\": [1, 2.50, {\"x\": null, \"y\": true}]\n}")

	sa, err := Validate(a)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Validate(b)
	if err != nil {
		t.Fatal(err)
	}

	got := string(sa.Marshal())
	if other := string(sb.Marshal()); got != other {
		t.Errorf("equal requests gave different bytes:\n%s\n%s", got, other)
	}
	want := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"app.tar","digest":{"sha256":"` + hex64 +
		`"}}],"predicateType":"https://cyclonedx.org/bom","predicate":{"a":"<&>","n":1e3,"z":[1,2.50,{"x":null,"y":true}]}}`
	if got != want {
		t.Errorf("Marshal() =\n%s\nwant\n%s", got, want)
	}
}

func TestMarshalIsValidJSON(t *testing.T) {
	req := validRequest()
	req.Subjects[0].Name = "quote\" back\\slash \x01 tab\t line\u2028 é"
	req.Predicate = json.RawMessage(`{"k\"ey":"v\u0000al\n"}`)

	st, err := Validate(req)
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Type    string `json:"_type"`
		Subject []struct {
			Name string `json:"name"`
		} `json:"subject"`
		Predicate map[string]string `json:"predicate"`
	}
	if err := json.Unmarshal(st.Marshal(), &decoded); err != nil {
		t.Fatalf("Marshal() output is not valid JSON: %v\n%s", err, st.Marshal())
	}
	if decoded.Subject[0].Name != req.Subjects[0].Name {
		t.Errorf("subject name round-trips as %q, want %q", decoded.Subject[0].Name, req.Subjects[0].Name)
	}
	if decoded.Predicate["k\"ey"] != "v\x00al\n" {
		t.Errorf("predicate value round-trips as %q", decoded.Predicate["k\"ey"])
	}
}

func BenchmarkValidateAndMarshal(b *testing.B) {
	pred := `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[` +
		strings.Repeat(`{"name":"lodash","version":"4.17.21","purl":"pkg:npm/lodash@4.17.21"},`, 20) +
		`{"name":"last"}]}`
	req := validRequest()
	req.Predicate = json.RawMessage(pred)
	b.SetBytes(int64(len(pred)))
	b.ReportAllocs()
	for b.Loop() {
		st, err := Validate(req)
		if err != nil {
			b.Fatal(err)
		}
		_ = st.Marshal()
	}
}
