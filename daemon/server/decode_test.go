package server

import (
	"reflect"
	"testing"

	"github.com/signerd/signerd/daemon/api"
)

// decodeCases are bodies on both sides of the fast decoder's limits.
var decodeCases = []struct {
	body string
	fast bool // whether decodeSignFast takes it
}{
	{`{"subjects":[{"name":"app.tar","digest":{"sha256":"abab"}}],"predicateType":"https://cyclonedx.org/bom","predicate":{"bomFormat":"CycloneDX","components":[{"name":"x"}]}}`, true},
	{" \n{ \"subjects\" : [ ] , \"predicateType\":\"t\" ,\"predicate\": [1, \"]}\\\"\", {\"a\":null}] }\r\n\t", true},
	{`{"subjects":[{},{"name":""},{"digest":{}},{"digest":{"sha256":"a","sha512":"b","":""}}],"predicate":{}}`, true},
	{`{"scanner":{"name":"trivy","version":"0.58.1","image":"reg.example/trivy@sha256:00"},"predicate":{"s":"\u00e9\ud83d\ude00"}}`, true},
	{`{"scanner":{}}`, true},
	{`{}`, true},
	{`{"predicate":{"a":"é"}}`, true},

	// Shapes left to encoding/json, which accepts them.
	{`{"Subjects":[]}`, false},
	{`{"subj\u0065cts":[]}`, false},
	{`{"predicateType":"caf\u00e9"}`, false},
	{`{"predicateType":"café"}`, false},
	{`{"predicateType":null}`, false},
	{`{"predicate":null}`, false},
	{`{"predicate":"text"}`, false},
	{`{"predicate":42}`, false},
	{`{"scanner":null}`, false},
	{`{"subjects":null}`, false},
	{`{"predicateType":"a","predicateType":"b"}`, false},
	{`{"subjects":[{"digest":{"sha256":"a","sha256":"b"}}]}`, false},
	{`{"subjects":[{"name":"a","name":"b"}]}`, false},
	{`{"subjects":[{"digest":{"sha256":"a"},"digest":{"sha512":"b"}}]}`, false},
	{`{"scanner":{"name":"a","name":"b"}}`, false},
	{`{} }`, false},

	// Bodies that encoding/json rejects.
	{`{"subjects":[{"name":"a","extra":1}]}`, false},
	{`{"unknown":1}`, false},
	{`{"predicate":{"a":}}`, false},
	{`{"predicate":{"a":[}]}`, false},
	{`{"predicate":{"a":"` + "\x01" + `"}}`, false},
	{`{"predicateType":1}`, false},
	{`{"subjects":{}}`, false},
	{`{"subjects":[{"digest":{"sha256":1}}]}`, false},
	{`{"predicateType":"a"} {"predicateType":"b"}`, false},
	{`{"predicateType":"a"`, false},
	{`{"predicateType":"a",}`, false},
	{`[]`, false},
	{``, false},
	{`{"predicate":{"a":1}`, false},
}

func TestDecodeSignFastMatchesEncodingJSON(t *testing.T) {
	for _, tt := range decodeCases {
		t.Run(tt.body, func(t *testing.T) {
			var fast api.SignRequest
			got := decodeSignFast([]byte(tt.body), &fast)
			if got != tt.fast {
				t.Fatalf("decodeSignFast returned %v, want %v", got, tt.fast)
			}
			if got {
				compareWithEncodingJSON(t, []byte(tt.body), &fast)
			}
		})
	}
}

// compareWithEncodingJSON fails unless encoding/json accepts data and
// decodes it to fast.
func compareWithEncodingJSON(t *testing.T, data []byte, fast *api.SignRequest) {
	t.Helper()
	var slow api.SignRequest
	if e := decodeJSON(data, &slow); e != nil {
		t.Fatalf("fast decoder accepted %q, encoding/json rejects it: %v", data, e)
	}
	if !reflect.DeepEqual(*fast, slow) {
		t.Fatalf("body %q\nfast decoder:  %#v\nencoding/json: %#v", data, *fast, slow)
	}
}

func FuzzDecodeSignFast(f *testing.F) {
	for _, tt := range decodeCases {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast api.SignRequest
		if decodeSignFast(data, &fast) {
			compareWithEncodingJSON(t, data, &fast)
		}
	})
}
