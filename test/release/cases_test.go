package release_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
)

func TestReleaseVerdictsWithCosign(t *testing.T) {
	s := setup(t)

	type tc struct {
		name   string
		ref    string
		want   string
		kind   string
		source string
	}
	var cases []tc

	// Signed, found through the Referrers API.
	ref, _ := pushImage(t, s.withAPI, "scan/api")
	s.sign(t, "trusted", ref)
	cases = append(cases, tc{"signed via referrers API", ref, api.ReleaseVerified, "sigstore-bundle", "referrers-api"})

	// Signed, found through the sha256-HEX fallback tag.
	ref, _ = pushImage(t, s.withoutAPI, "scan/tag")
	s.sign(t, "trusted", ref)
	cases = append(cases, tc{"signed via fallback tag", ref, api.ReleaseVerified, "sigstore-bundle", "referrers-tag"})

	// Signed in cosign's legacy .sig format.
	ref, _ = pushImage(t, s.withoutAPI, "scan/legacy")
	s.sign(t, "trusted", ref, "--new-bundle-format=false")
	cases = append(cases, tc{"legacy sig tag", ref, api.ReleaseVerified, "cosign-legacy", "referrers-tag+legacy-sig-tag"})

	ref, _ = pushImage(t, s.withAPI, "scan/unsigned")
	cases = append(cases, tc{name: "unsigned", ref: ref, want: api.ReleaseUnsigned})

	ref, _ = pushImage(t, s.withAPI, "scan/untrusted")
	s.sign(t, "untrusted", ref)
	cases = append(cases, tc{name: "untrusted key", ref: ref, want: api.ReleaseInvalid})

	ref, _ = pushImage(t, s.withAPI, "scan/attest-other")
	s.attest(t, "trusted", "https://spdx.dev/Document", ref)
	cases = append(cases, tc{name: "attestation with other predicate type", ref: ref, want: api.ReleaseInvalid})

	ref, _ = pushImage(t, s.withAPI, "scan/attest-pinned")
	s.attest(t, "trusted", predicateRelease, ref)
	cases = append(cases, tc{"attestation with pinned predicate type", ref, api.ReleaseVerified, "sigstore-attestation", "referrers-api"})

	ref, _ = pushImage(t, s.withAPI, "scan/disagree")
	s.sign(t, "trusted", ref)
	s.sign(t, "untrusted", ref)
	cases = append(cases, tc{name: "two signatures that disagree", ref: ref, want: api.ReleaseAmbiguous})

	ref = s.replayedSignature(t)
	cases = append(cases, tc{name: "signature over another digest", ref: ref, want: api.ReleaseInvalid})

	ref = s.signedIndex(t)
	cases = append(cases, tc{"multi-arch index digest", ref, api.ReleaseVerified, "sigstore-bundle", "referrers-api"})

	ref = s.airgapImage(t)
	cases = append(cases, tc{"air-gap OCI layout", ref, api.ReleaseVerified, "sigstore-bundle", "oci-layout"})

	// cosign ran offline: it never fetched TUF metadata into TUF_ROOT.
	if entries, err := os.ReadDir(filepath.Join(s.work, "tuf")); err != nil || len(entries) != 0 {
		t.Errorf("cosign wrote %d entries to TUF_ROOT (err %v); it must stay offline", len(entries), err)
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, code := s.verifyRelease(t, c.ref)
			for _, ev := range v.Evidence {
				t.Logf("evidence: %+v", ev)
			}
			if v.Verdict != c.want {
				t.Fatalf("verdict = %s (%s), want %s", v.Verdict, v.Reason, c.want)
			}
			if wantCode := map[bool]int{true: 0, false: 1}[c.want == api.ReleaseVerified]; code != wantCode {
				t.Errorf("verify-release exit status %d, want %d", code, wantCode)
			}
			if v.SignatureKind != c.kind {
				t.Errorf("signature kind = %q, want %q", v.SignatureKind, c.kind)
			}
			if c.source != "" && v.Discovery != c.source {
				t.Errorf("discovery = %q, want %q", v.Discovery, c.source)
			}
			if c.want == api.ReleaseVerified && v.SignerKeyID != s.trustedKeyID(t) {
				t.Errorf("signer key id = %q, want the trusted key's %q", v.SignerKeyID, s.trustedKeyID(t))
			}
		})
	}
}

func TestSignRequiresVerifiedRelease(t *testing.T) {
	s := setup(t)
	pred := filepath.Join(s.work, "sbom.json")
	if err := os.WriteFile(pred, []byte(`{"bomFormat":"CycloneDX"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	signArgs := func(image string) []string {
		args := []string{"--socket", s.daemon.Socket, "sign", "--predicate-type", "https://cyclonedx.org/bom",
			"--predicate", pred, "--subject", "app@sha256:" + strings.Repeat("ab", 32), "-o", filepath.Join(s.work, "out.json")}
		if image != "" {
			args = append(args, "--scanner-image", image)
		}
		return args
	}

	signed, _ := pushImage(t, s.withAPI, "scan/release")
	s.sign(t, "trusted", signed)
	unsigned, _ := pushImage(t, s.withAPI, "scan/rogue")

	t.Run("signed scanner", func(t *testing.T) {
		out := s.run(t, s.signerctl, signArgs(signed)...)
		if !strings.Contains(out, "release: verified") {
			t.Errorf("signerctl sign output has no verified release line:\n%s", out)
		}
		assertLogged(t, s, "release_verdict=verified", signed)
	})

	t.Run("unsigned scanner", func(t *testing.T) {
		out, code := s.exec(s.signerctl, signArgs(unsigned)...)
		if code != 1 {
			t.Fatalf("exit status %d, want 1\n%s", code, out)
		}
		for _, want := range []string{"release_unverified", "verdict:", "unsigned"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		assertLogged(t, s, "release_verdict=unsigned", unsigned)
	})

	t.Run("no scanner image", func(t *testing.T) {
		out, code := s.exec(s.signerctl, signArgs("")...)
		if code != 1 || !strings.Contains(out, "scanner.image") {
			t.Fatalf("exit status %d, want 1 with a scanner.image error\n%s", code, out)
		}
	})

	t.Run("tag instead of digest", func(t *testing.T) {
		tagged := strings.SplitN(signed, "@", 2)[0] + ":v1"
		out, code := s.exec(s.signerctl, signArgs(tagged)...)
		if code != 1 || !strings.Contains(out, "invalid_request") || !strings.Contains(out, "digest") {
			t.Fatalf("exit status %d, want 1 with invalid_request about the digest\n%s", code, out)
		}
		// signerctl rejects the tag before it sends a request, and the
		// daemon rejects it for callers that use the API directly.
		out, code = s.exec(s.signerctl, "--socket", s.daemon.Socket, "verify-release", tagged)
		if code != 2 || !strings.Contains(out, "has no digest") {
			t.Fatalf("verify-release exit status %d, want 2 with a usage error about the digest\n%s", code, out)
		}
		c := client.New(s.daemon.Socket)
		defer c.Close()
		if _, err := c.VerifyRelease(t.Context(), tagged); !client.IsCode(err, api.CodeInvalidRequest) {
			t.Fatalf("GET %s with a tag: %v, want invalid_request", api.PathVerifyReferrers, err)
		}
	})

	t.Run("response carries the verdict", func(t *testing.T) {
		c := s.client(t)
		resp, err := c.sign(signed)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Release == nil || resp.Release.Verdict != api.ReleaseVerified || len(resp.Release.Evidence) == 0 {
			t.Fatalf("sign response release = %+v, want verified with evidence", resp.Release)
		}
	})

	t.Run("registry too slow", func(t *testing.T) {
		ref, _ := pushImage(t, s.slow, "scan/slow")
		s.sign(t, "trusted", ref)
		s.slowMode.Store(true)
		v, code := s.verifyRelease(t, ref)
		if v.Verdict != api.ReleaseUnreachable || code != 1 {
			t.Fatalf("verdict %s (exit %d), want unreachable (exit 1): %s", v.Verdict, code, v.Reason)
		}
	})

	t.Run("registry down", func(t *testing.T) {
		ref, _ := pushImage(t, s.withoutAPI, "scan/down")
		s.sign(t, "trusted", ref)
		s.withoutAPI.Close()
		v, code := s.verifyRelease(t, ref)
		if v.Verdict != api.ReleaseUnreachable || code != 1 {
			t.Fatalf("verdict %s (exit %d), want unreachable (exit 1): %s", v.Verdict, code, v.Reason)
		}
	})
}

// assertLogged waits for a request log line that carries want, the
// image and the release evidence.
func assertLogged(t *testing.T, s *suite, want, image string) {
	t.Helper()
	s.daemon.WaitLine(t, want, image, "release_evidence=")
}

// replayedSignature copies the cosign bundle of one image onto another
// image, as someone with push access could: the manifest's subject names
// the second image, but the signed Statement names the first.
func (s *suite) replayedSignature(t *testing.T) string {
	t.Helper()
	signedRef, _ := pushImage(t, s.withAPI, "scan/replay")
	s.sign(t, "trusted", signedRef)
	targetRef, target := pushImage(t, s.withAPI, "scan/replay")

	signed, err := name.NewDigest(signedRef, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Referrers(signed)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 1 {
		t.Fatalf("signed image has %d referrers, want 1", len(im.Manifests))
	}
	desc, err := remote.Get(signed.Context().Digest(im.Manifests[0].Digest.String()))
	if err != nil {
		t.Fatal(err)
	}

	var m map[string]any
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	td, _ := target.Digest()
	traw, _ := target.RawManifest()
	tmt, _ := target.MediaType()
	m["subject"] = map[string]any{"mediaType": string(tmt), "digest": td.String(), "size": len(traw)}
	raw, _ := json.Marshal(m)
	putRaw(t, signed.Context(), raw, string(desc.MediaType))
	return targetRef
}

// signedIndex pushes a two-platform index and signs the index digest.
func (s *suite) signedIndex(t *testing.T) string {
	t.Helper()
	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := name.NewRepository(host(s.withAPI)+"/scan/multi", name.Insecure)
	if err := remote.WriteIndex(repo.Tag("v1"), idx); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	ref := repo.Name() + "@" + d.String()
	s.sign(t, "trusted", ref)
	return ref
}

// airgapImage signs an image in the registry, then copies the image and
// its signature manifest into the OCI layout that replaces the registry
// for airgapRepo.
func (s *suite) airgapImage(t *testing.T) string {
	t.Helper()
	ref, img := pushImage(t, s.withAPI, "scan/airgap")
	s.sign(t, "trusted", ref)

	d, err := name.NewDigest(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Referrers(d)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()

	p, err := layout.FromPath(s.layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	for _, r := range im.Manifests {
		sig, err := remote.Image(d.Context().Digest(r.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AppendImage(sig); err != nil {
			t.Fatal(err)
		}
	}
	digest, _ := img.Digest()
	return airgapRepo + "@" + digest.String()
}
