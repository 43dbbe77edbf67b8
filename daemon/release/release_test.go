package release

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/sign"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/config"
)

const predicateRelease = "https://example.com/release/v1"

func TestCheckVerdicts(t *testing.T) {
	kp, kpPEM := newKeypair(t)
	other, _ := newKeypair(t)
	legacyKey, legacyPEM := newECDSAKey(t)

	tests := []struct {
		name      string
		referrers bool
		policy    config.ReleaseIntegrity
		// attach signs and attaches artifacts to the image.
		attach func(t *testing.T, r *testRegistry, desc v1.Descriptor)
		want   string
		kind   string
	}{
		{
			name: "bundle via referrers API", referrers: true,
			policy: config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)},
			attach: func(t *testing.T, r *testRegistry, d v1.Descriptor) {
				r.attachBundle(t, "app", d, dsseBundle(t, kp, d.Digest.Hex, PredicateCosignSign))
			},
			want: "verified", kind: config.SignatureKindSigstoreBundle,
		},
		{
			name: "bundle via referrers tag", referrers: false,
			policy: config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)},
			attach: func(t *testing.T, r *testRegistry, d v1.Descriptor) {
				r.attachBundle(t, "app", d, dsseBundle(t, kp, d.Digest.Hex, PredicateCosignSign))
			},
			want: "verified", kind: config.SignatureKindSigstoreBundle,
		},
		{
			name: "unsigned", referrers: true,
			policy: config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)},
			attach: func(*testing.T, *testRegistry, v1.Descriptor) {},
			want:   "unsigned",
		},
		{
			name: "untrusted key", referrers: true,
			policy: config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)},
			attach: func(t *testing.T, r *testRegistry, d v1.Descriptor) {
				r.attachBundle(t, "app", d, dsseBundle(t, other, d.Digest.Hex, PredicateCosignSign))
			},
			want: "invalid",
		},
		{
			name: "signature over another digest", referrers: true,
			policy: config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)},
			attach: func(t *testing.T, r *testRegistry, d v1.Descriptor) {
				r.attachBundle(t, "app", d, dsseBundle(t, kp, strings.Repeat("ab", 32), PredicateCosignSign))
			},
			want: "invalid",
		},
		{
			name: "attestation with other predicate type", referrers: true,
			policy: config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM), AttestationPredicateType: predicateRelease},
			attach: func(t *testing.T, r *testRegistry, d v1.Descriptor) {
				r.attachBundle(t, "app", d, dsseBundle(t, kp, d.Digest.Hex, "https://spdx.dev/Document"))
			},
			want: "invalid",
		},
		{
			name: "attestation without pinned type", referrers: true,
			policy: config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)},
			attach: func(t *testing.T, r *testRegistry, d v1.Descriptor) {
				r.attachBundle(t, "app", d, dsseBundle(t, kp, d.Digest.Hex, predicateRelease))
			},
			want: "invalid",
		},
		{
			name: "attestation with pinned type", referrers: true,
			policy: config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM), AttestationPredicateType: predicateRelease},
			attach: func(t *testing.T, r *testRegistry, d v1.Descriptor) {
				r.attachBundle(t, "app", d, dsseBundle(t, kp, d.Digest.Hex, predicateRelease))
			},
			want: "verified", kind: kindSigstoreAttestation,
		},
		{
			name: "signature plus unrelated attestation", referrers: true,
			policy: config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)},
			attach: func(t *testing.T, r *testRegistry, d v1.Descriptor) {
				r.attachBundle(t, "app", d, dsseBundle(t, kp, d.Digest.Hex, PredicateCosignSign))
				r.attachBundle(t, "app", d, dsseBundle(t, other, d.Digest.Hex, "https://spdx.dev/Document"))
			},
			want: "verified", kind: config.SignatureKindSigstoreBundle,
		},
		{
			name: "signatures that disagree", referrers: true,
			policy: config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)},
			attach: func(t *testing.T, r *testRegistry, d v1.Descriptor) {
				r.attachBundle(t, "app", d, dsseBundle(t, kp, d.Digest.Hex, PredicateCosignSign))
				r.attachBundle(t, "app", d, dsseBundle(t, kp, strings.Repeat("cd", 32), PredicateCosignSign))
			},
			want: "ambiguous",
		},
		{
			name: "good and untrusted signature", referrers: false,
			policy: config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)},
			attach: func(t *testing.T, r *testRegistry, d v1.Descriptor) {
				r.attachBundle(t, "app", d, dsseBundle(t, kp, d.Digest.Hex, PredicateCosignSign))
				r.attachBundle(t, "app", d, dsseBundle(t, other, d.Digest.Hex, PredicateCosignSign))
			},
			want: "ambiguous",
		},
		{
			name: "legacy sig tag", referrers: false,
			policy: config.ReleaseIntegrity{TrustedKeys: trusted(legacyPEM)},
			attach: func(t *testing.T, r *testRegistry, d v1.Descriptor) {
				r.pushLegacySignature(t, "app", d.Digest, d.Digest.String(), legacyKey)
			},
			want: "verified", kind: config.SignatureKindCosignLegacy,
		},
		{
			name: "legacy sig over another digest", referrers: true,
			policy: config.ReleaseIntegrity{TrustedKeys: trusted(legacyPEM)},
			attach: func(t *testing.T, r *testRegistry, d v1.Descriptor) {
				r.pushLegacySignature(t, "app", d.Digest, "sha256:"+strings.Repeat("ef", 32), legacyKey)
			},
			want: "invalid",
		},
		{
			name: "legacy kind not accepted", referrers: true,
			policy: config.ReleaseIntegrity{TrustedKeys: trusted(legacyPEM), SignatureKinds: []string{config.SignatureKindSigstoreBundle}},
			attach: func(t *testing.T, r *testRegistry, d v1.Descriptor) {
				r.pushLegacySignature(t, "app", d.Digest, d.Digest.String(), legacyKey)
			},
			want: "invalid",
		},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := startRegistry(t, tc.referrers)
			ref, desc := r.pushRandomImage(t, "app")
			tc.attach(t, r, desc)

			c := newChecker(t, nil, r.host)
			v, err := c.Check(context.Background(), newPolicy(t, tc.policy), ref)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			for _, ev := range v.Evidence {
				t.Logf("evidence: %+v", ev)
			}
			if v.Verdict != tc.want {
				t.Fatalf("verdict = %s (%s), want %s", v.Verdict, v.Reason, tc.want)
			}
			if v.SignatureKind != tc.kind {
				t.Errorf("signature kind = %q, want %q", v.SignatureKind, tc.kind)
			}
			if tc.want == api.ReleaseVerified && v.SignerKeyID == "" {
				t.Errorf("verified verdict has no signer key id")
			}
		})
	}
}

func TestCheckDiscovery(t *testing.T) {
	kp, kpPEM := newKeypair(t)
	for _, referrers := range []bool{true, false} {
		r := startRegistry(t, referrers)
		ref, desc := r.pushRandomImage(t, "app")
		r.attachBundle(t, "app", desc, dsseBundle(t, kp, desc.Digest.Hex, PredicateCosignSign))

		v, err := newChecker(t, nil, r.host).Check(context.Background(), newPolicy(t, config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)}), ref)
		if err != nil {
			t.Fatal(err)
		}
		want := SourceReferrersTag
		if referrers {
			want = SourceReferrersAPI
		}
		if v.Discovery != want {
			t.Errorf("referrers API %v: discovery = %q, want %q", referrers, v.Discovery, want)
		}
		if len(v.Evidence) != 1 || v.Evidence[0].Source != want {
			t.Errorf("referrers API %v: evidence = %+v, want one entry from %s", referrers, v.Evidence, want)
		}
	}
}

func TestCheckReadsTagBesideAPI(t *testing.T) {
	kp, kpPEM := newKeypair(t)
	other, _ := newKeypair(t)
	r := startRegistry(t, true)
	ref, desc := r.pushRandomImage(t, "app")
	r.attachBundle(t, "app", desc, dsseBundle(t, kp, desc.Digest.Hex, PredicateCosignSign))

	// A signature by an untrusted key, listed only in the referrers tag as
	// a tool in tag mode would leave it.
	_, decoy := r.pushRandomImage(t, "app")
	h := r.attachBundle(t, "app", decoy, dsseBundle(t, other, desc.Digest.Hex, PredicateCosignSign))
	r.addToReferrersTag(t, r.repo(t, "app"), desc.Digest, v1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: h, Size: 1})

	v, err := newChecker(t, nil, r.host).Check(context.Background(), newPolicy(t, config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)}), ref)
	if err != nil {
		t.Fatal(err)
	}
	if want := SourceReferrersAPI + "+" + SourceReferrersTag; v.Discovery != want {
		t.Errorf("discovery = %q, want %q", v.Discovery, want)
	}
	// The tag's manifest names another subject, so the registry's responses
	// contradict each other.
	if v.Verdict != api.ReleaseAmbiguous {
		t.Errorf("verdict = %s (%s), want ambiguous", v.Verdict, v.Reason)
	}
}

func TestCheckIndexDigest(t *testing.T) {
	kp, kpPEM := newKeypair(t)
	pol := newPolicy(t, config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)})
	r := startRegistry(t, true)
	repo := r.repo(t, "multi")

	idx, err := random.Index(256, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(repo.Tag("latest"), idx); err != nil {
		t.Fatal(err)
	}
	ref, desc := descriptorRef(t, repo, idx)
	c := newChecker(t, func(c *config.ReleaseConfig) { c.Cache.NegativeTTL = 0 }, r.host)

	// Signing only a platform manifest does not sign the index.
	im, _ := idx.IndexManifest()
	child := im.Manifests[0]
	r.attachBundle(t, "multi", child, dsseBundle(t, kp, child.Digest.Hex, PredicateCosignSign))
	if got := check(t, c, pol, ref); got != api.ReleaseUnsigned {
		t.Fatalf("index with only a signed child: verdict %s, want unsigned", got)
	}

	r.attachBundle(t, "multi", desc, dsseBundle(t, kp, desc.Digest.Hex, PredicateCosignSign))
	if got := check(t, c, pol, ref); got != api.ReleaseVerified {
		t.Fatalf("signed index: verdict %s, want verified", got)
	}
}

func TestCheckRegistryFailures(t *testing.T) {
	kp, kpPEM := newKeypair(t)
	pol := newPolicy(t, config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)})

	t.Run("registry down", func(t *testing.T) {
		r := startRegistry(t, true)
		ref, _ := r.pushRandomImage(t, "app")
		r.srv.Close()
		if got := check(t, newChecker(t, nil, r.host), pol, ref); got != api.ReleaseUnreachable {
			t.Fatalf("verdict %s, want unreachable", got)
		}
	})

	t.Run("registry too slow", func(t *testing.T) {
		inner := registry.New(registry.WithReferrersSupport(true), registry.Logger(discardLog()))
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		var slow atomic.Bool
		r := serveRegistry(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if slow.Load() && strings.Contains(req.URL.Path, "/referrers/") {
				select {
				case <-release:
				case <-req.Context().Done():
				}
				return
			}
			inner.ServeHTTP(w, req)
		}))
		ref, desc := r.pushRandomImage(t, "app")
		r.attachBundle(t, "app", desc, dsseBundle(t, kp, desc.Digest.Hex, PredicateCosignSign))
		slow.Store(true)

		c := newChecker(t, func(c *config.ReleaseConfig) { c.RequestTimeout = config.Duration(300 * time.Millisecond) }, r.host)
		if got := check(t, c, pol, ref); got != api.ReleaseUnreachable {
			t.Fatalf("verdict %s, want unreachable", got)
		}
	})

	t.Run("referrers endpoint fails", func(t *testing.T) {
		inner := registry.New(registry.WithReferrersSupport(true), registry.Logger(discardLog()))
		var failing atomic.Bool
		r := serveRegistry(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if failing.Load() && strings.Contains(req.URL.Path, "/referrers/") {
				http.Error(w, "backend down", http.StatusInternalServerError)
				return
			}
			inner.ServeHTTP(w, req)
		}))
		ref, desc := r.pushRandomImage(t, "app")
		r.attachBundle(t, "app", desc, dsseBundle(t, kp, desc.Digest.Hex, PredicateCosignSign))
		failing.Store(true)
		if got := check(t, newChecker(t, nil, r.host), pol, ref); got != api.ReleaseUnreachable {
			t.Fatalf("verdict %s, want unreachable", got)
		}
	})

	t.Run("referrer listed but missing", func(t *testing.T) {
		inner := registry.New(registry.WithReferrersSupport(true), registry.Logger(discardLog()))
		r := serveRegistry(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if strings.Contains(req.URL.Path, "/referrers/") {
				w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
				w.Write([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":10,"digest":"sha256:` + strings.Repeat("12", 32) + `","artifactType":"` + MediaTypeBundle + `"}]}`))
				return
			}
			inner.ServeHTTP(w, req)
		}))
		ref, _ := r.pushRandomImage(t, "app")
		if got := check(t, newChecker(t, nil, r.host), pol, ref); got != api.ReleaseAmbiguous {
			t.Fatalf("verdict %s, want ambiguous", got)
		}
	})

	t.Run("referrer for another subject", func(t *testing.T) {
		r := startRegistry(t, false)
		ref, desc := r.pushRandomImage(t, "app")
		_, otherDesc := r.pushRandomImage(t, "app")
		h := r.attachBundle(t, "app", otherDesc, dsseBundle(t, kp, otherDesc.Digest.Hex, PredicateCosignSign))
		// The referrers tag of the image lists a manifest about another image.
		r.addToReferrersTag(t, r.repo(t, "app"), desc.Digest, v1.Descriptor{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: h, Size: 1})
		if got := check(t, newChecker(t, nil, r.host), pol, ref); got != api.ReleaseAmbiguous {
			t.Fatalf("verdict %s, want ambiguous", got)
		}
	})

	t.Run("plain HTTP registry not listed insecure", func(t *testing.T) {
		r := startRegistry(t, true)
		ref, desc := r.pushRandomImage(t, "app")
		r.attachBundle(t, "app", desc, dsseBundle(t, kp, desc.Digest.Hex, PredicateCosignSign))
		// Without the insecure entry the checker speaks TLS to the plain
		// HTTP server, which fails.
		if got := check(t, newChecker(t, nil), pol, ref); got != api.ReleaseUnreachable {
			t.Fatalf("verdict %s, want unreachable", got)
		}
	})
}

func TestCheckRejectsReferences(t *testing.T) {
	_, kpPEM := newKeypair(t)
	pol := newPolicy(t, config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)})
	c := newChecker(t, nil)
	digest := "sha256:" + strings.Repeat("a1", 32)

	for _, ref := range []string{
		"",
		"registry.example.com/app:v1",
		"registry.example.com/app:v1@" + digest,
		"registry.example.com/app@sha512:" + strings.Repeat("a1", 64),
		"registry.example.com/app@sha256:abc",
		"app@" + digest,
		"registry.example.com/APP@" + digest,
		strings.Repeat("a", 600) + "@" + digest,
	} {
		v, err := c.Check(context.Background(), pol, ref)
		if err == nil {
			t.Errorf("Check(%q) = %s, want an error", ref, v.Verdict)
			continue
		}
		if e, ok := err.(*api.Error); !ok || e.Code != api.CodeInvalidRequest || e.Field != "scanner.image" {
			t.Errorf("Check(%q) error = %#v, want invalid_request on scanner.image", ref, err)
		}
	}
}

func TestCheckCachesVerdicts(t *testing.T) {
	kp, kpPEM := newKeypair(t)
	pol := newPolicy(t, config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)})
	r := startRegistry(t, true)
	ref, desc := r.pushRandomImage(t, "app")
	r.attachBundle(t, "app", desc, dsseBundle(t, kp, desc.Digest.Hex, PredicateCosignSign))
	c := newChecker(t, nil, r.host)

	first, err := c.Check(context.Background(), pol, ref)
	if err != nil || first.Verdict != api.ReleaseVerified || first.Cached {
		t.Fatalf("first check = %+v, %v; want a fresh verified verdict", first, err)
	}

	// With the registry gone, the cached positive verdict is used.
	r.srv.Close()
	second, err := c.Check(context.Background(), pol, ref)
	if err != nil || second.Verdict != api.ReleaseVerified || !second.Cached {
		t.Fatalf("second check = %+v, %v; want a cached verified verdict", second, err)
	}

	// A tenant with another policy does not get that verdict.
	_, otherPEM := newKeypair(t)
	other := newPolicy(t, config.ReleaseIntegrity{TrustedKeys: trusted(otherPEM)})
	third, err := c.Check(context.Background(), other, ref)
	if err != nil || third.Verdict != api.ReleaseUnreachable || third.Cached {
		t.Fatalf("other policy = %+v, %v; want a fresh unreachable verdict", third, err)
	}
}

func TestVerdictCache(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newVerdictCache(2, time.Minute, 10*time.Second)
	c.now = func() time.Time { return now }

	c.put("a", &api.ReleaseVerdict{Verdict: api.ReleaseVerified})
	c.put("b", &api.ReleaseVerdict{Verdict: api.ReleaseUnreachable})

	if c.positive.len() != 1 || c.negative.len() != 1 {
		t.Fatalf("positive %d, negative %d entries; want 1 and 1", c.positive.len(), c.negative.len())
	}
	if _, ok := c.positive.get("b", now); ok {
		t.Fatal("unreachable verdict is in the positive cache")
	}

	now = now.Add(11 * time.Second)
	if _, ok := c.get("b"); ok {
		t.Error("negative verdict outlived the negative TTL")
	}
	if v, ok := c.get("a"); !ok || v.Verdict != api.ReleaseVerified {
		t.Error("positive verdict expired before the positive TTL")
	}

	for _, k := range []string{"c", "d", "e"} {
		c.put(k, &api.ReleaseVerdict{Verdict: api.ReleaseVerified})
	}
	if c.positive.len() != 2 {
		t.Errorf("positive cache holds %d entries, want the bound 2", c.positive.len())
	}
	if _, ok := c.get("a"); ok {
		t.Error("least recently used entry was not evicted")
	}

	// A verdict that turns negative replaces the positive one.
	c.put("e", &api.ReleaseVerdict{Verdict: api.ReleaseInvalid})
	if v, ok := c.get("e"); !ok || v.Verdict != api.ReleaseInvalid {
		t.Errorf("get(e) = %+v, want the newer invalid verdict", v)
	}
}

func TestCheckMessageSignature(t *testing.T) {
	kp, kpPEM := newKeypair(t)
	pol := newPolicy(t, config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)})
	r := startRegistry(t, true)
	c := newChecker(t, nil, r.host)

	// A message signature over the manifest bytes signs the image digest
	// itself, because the digest is the SHA-256 of those bytes.
	messageBundle := func(t *testing.T, data []byte) []byte {
		t.Helper()
		pb, err := sign.Bundle(&sign.PlainData{Data: data}, kp, sign.BundleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := (&bundle.Bundle{Bundle: pb}).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	ref, desc := r.pushRandomImage(t, "app")
	raw := r.rawManifest(t, "app", desc.Digest)
	r.attachBundle(t, "app", desc, messageBundle(t, raw))
	v, err := c.Check(context.Background(), pol, ref)
	if err != nil {
		t.Fatal(err)
	}
	if v.Verdict != api.ReleaseVerified || v.SignatureKind != config.SignatureKindSigstoreBundle {
		t.Fatalf("verdict %s kind %q (%s), want verified sigstore-bundle", v.Verdict, v.SignatureKind, v.Reason)
	}

	otherRef, otherDesc := r.pushRandomImage(t, "other")
	r.attachBundle(t, "other", otherDesc, messageBundle(t, raw))
	v, err = c.Check(context.Background(), pol, otherRef)
	if err != nil {
		t.Fatal(err)
	}
	if v.Verdict != api.ReleaseInvalid {
		t.Fatalf("message signature over another image: verdict %s (%s), want invalid", v.Verdict, v.Reason)
	}
	if !strings.Contains(v.Reason, "not the image digest") {
		t.Errorf("reason %q does not say the signature covers another digest", v.Reason)
	}
}
