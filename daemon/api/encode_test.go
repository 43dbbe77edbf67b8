package api_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/signerd/signerd/daemon/api"
)

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "abc", "MEUCIQD+/abc==", "2026-12-04T22:13:45.123456789Z", "file:///etc/signerd/key.pem",
		`quote"`, `back\slash`, "<html>", "a&b", "tab\t", "nl\n", "\x00\x1f\x7f", "é", "\u2028\u2029", "\xff\xfe",
	} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		got := api.AppendJSONString([]byte("prefix"), s)
		if !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("AppendJSONString(%q) = %s, want prefix%s", s, got, want)
		}
	}
}

func TestSignResponseAppendJSONMatchesEncodingJSON(t *testing.T) {
	bundle := json.RawMessage(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"e30="}}`)
	tests := []struct {
		name string
		resp api.SignResponse
	}{
		{"typical", api.SignResponse{Bundle: bundle, KeyHint: "aGludA==", RecordID: "42",
			CorrelationID: "0123abcd", SignedAt: "2026-12-04T22:13:45.123456789Z"}},
		{"with release", api.SignResponse{Bundle: bundle, KeyHint: "h", RecordID: "1", CorrelationID: "c", SignedAt: "t",
			Release: &api.ReleaseVerdict{Image: "reg.example/scanner@sha256:00", Verdict: "verified", Reason: "a <b> & c", Cached: true}}},
		{"empty", api.SignResponse{}},
		{"escaped", api.SignResponse{Bundle: bundle, KeyHint: "\"", RecordID: "<", CorrelationID: "\n", SignedAt: "é"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(&tt.resp)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.resp.AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("AppendJSON =\n%s\nencoding/json =\n%s", got, want)
			}
		})
	}
}
