package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/signerd/signerd/daemon/api"
)

func TestVerifyReleaseUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no image", []string{"verify-release"}, "exactly one image reference"},
		{"two images", []string{"verify-release", "a.example/x@sha256:1", "b.example/y@sha256:2"}, "exactly one image reference"},
		{"tag", []string{"--socket", "/nonexistent/signerd.sock", "verify-release", "ghcr.io/acme/scan:v1"}, `image "ghcr.io/acme/scan:v1" has no digest`},
		{"no registry", []string{"--socket", "/nonexistent/signerd.sock", "verify-release", "acme/scan@sha256:" + strings.Repeat("a", 64)}, "does not name a registry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit code = %d, want 2 (stderr %q)", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.want)
			}
		})
	}
}

func TestPrintVerdict(t *testing.T) {
	var out bytes.Buffer
	printVerdict(&env{stdout: &out}, &api.ReleaseVerdict{
		Image:         "registry.example.com/scan@sha256:" + strings.Repeat("a", 64),
		Verdict:       api.ReleaseAmbiguous,
		Reason:        "signatures disagree",
		Discovery:     "referrers-api",
		SignatureKind: "",
		Evidence: []api.ReleaseEvidence{
			{Source: "referrers-api", Manifest: "sha256:1", Kind: "sigstore-bundle", Result: "accepted", KeyID: "K1", Reason: "ok"},
			{Source: "referrers-api", Manifest: "sha256:2", Kind: "sigstore-bundle", Result: "rejected", Reason: "no trusted key verifies the signature"},
		},
	})
	for _, want := range []string{"verdict:", "ambiguous", "signatures disagree", "accepted sigstore-bundle", "rejected sigstore-bundle", "no trusted key verifies"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "signer key:") {
		t.Errorf("output names a signer key for an unverified release:\n%s", out.String())
	}
}
