package release

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/config"
)

const layoutRepo = "airgap.example/scanners/scan"

// newLayout writes an OCI layout with one random image and returns the
// directory, the layout and the image's reference by digest.
func newLayout(t *testing.T) (string, layout.Path, v1.Hash) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "oci")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return dir, p, d
}

func writeBlob(t *testing.T, p layout.Path, data []byte) v1.Hash {
	t.Helper()
	h, _, _ := v1.SHA256(bytes.NewReader(data))
	if err := p.WriteBlob(h, io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	return h
}

// addBundleReferrer writes a cosign v3 style bundle manifest about subject
// as a blob only, the way a layout keeps untagged referrers.
func addBundleReferrer(t *testing.T, p layout.Path, subject v1.Hash, bundleJSON []byte) {
	t.Helper()
	layer := writeBlob(t, p, bundleJSON)
	cfg := writeBlob(t, p, []byte("{}"))
	raw, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     string(types.OCIManifestSchema1),
		"artifactType":  MediaTypeBundle,
		"config":        map[string]any{"mediaType": mediaTypeEmptyJSON, "size": 2, "digest": cfg.String()},
		"layers":        []any{map[string]any{"mediaType": MediaTypeBundle, "size": len(bundleJSON), "digest": layer.String()}},
		"subject":       map[string]any{"mediaType": string(types.OCIManifestSchema1), "size": 1, "digest": subject.String()},
	})
	writeBlob(t, p, raw)
}

func layoutChecker(t *testing.T, dir string) *Checker {
	t.Helper()
	return newChecker(t, func(c *config.ReleaseConfig) {
		c.Layouts = []config.ReleaseLayout{{Repository: layoutRepo, Path: dir}}
	})
}

func TestLayoutVerdicts(t *testing.T) {
	kp, kpPEM := newKeypair(t)
	other, _ := newKeypair(t)
	legacyKey, legacyPEM := newECDSAKey(t)

	t.Run("bundle referrer", func(t *testing.T) {
		dir, p, d := newLayout(t)
		addBundleReferrer(t, p, d, dsseBundle(t, kp, d.Hex, PredicateCosignSign))
		v, err := layoutChecker(t, dir).Check(context.Background(), newPolicy(t, config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)}), layoutRepo+"@"+d.String())
		if err != nil {
			t.Fatal(err)
		}
		if v.Verdict != api.ReleaseVerified || v.Discovery != SourceOCILayout {
			t.Fatalf("verdict %s via %q (%s), want verified via oci-layout", v.Verdict, v.Discovery, v.Reason)
		}
	})

	t.Run("untrusted bundle", func(t *testing.T) {
		dir, p, d := newLayout(t)
		addBundleReferrer(t, p, d, dsseBundle(t, other, d.Hex, PredicateCosignSign))
		if got := check(t, layoutChecker(t, dir), newPolicy(t, config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)}), layoutRepo+"@"+d.String()); got != api.ReleaseInvalid {
			t.Fatalf("verdict %s, want invalid", got)
		}
	})

	t.Run("damaged blob beside a good signature", func(t *testing.T) {
		dir, p, d := newLayout(t)
		addBundleReferrer(t, p, d, dsseBundle(t, kp, d.Hex, PredicateCosignSign))
		// A blob whose content no longer matches its name, as a damaged
		// copy of a rejecting signature would be.
		damaged := filepath.Join(dir, "blobs", "sha256", strings.Repeat("0", 64))
		if err := os.WriteFile(damaged, []byte(`{"subject":{}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		v, err := layoutChecker(t, dir).Check(context.Background(), newPolicy(t, config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)}), layoutRepo+"@"+d.String())
		if err != nil {
			t.Fatal(err)
		}
		if v.Verdict != api.ReleaseAmbiguous || !strings.Contains(v.Reason, strings.Repeat("0", 64)) {
			t.Fatalf("verdict %s (%s), want ambiguous naming the damaged blob", v.Verdict, v.Reason)
		}
	})

	t.Run("unsigned", func(t *testing.T) {
		dir, _, d := newLayout(t)
		if got := check(t, layoutChecker(t, dir), newPolicy(t, config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)}), layoutRepo+"@"+d.String()); got != api.ReleaseUnsigned {
			t.Fatalf("verdict %s, want unsigned", got)
		}
	})

	t.Run("legacy sig tag", func(t *testing.T) {
		dir, p, d := newLayout(t)
		payload := fmt.Sprintf(`{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, layoutRepo, d.String())
		sv, err := signature.LoadECDSASignerVerifier(legacyKey, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := sv.SignMessage(bytes.NewReader([]byte(payload)))
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
			Layer:       static.NewLayer([]byte(payload), mediaTypeSimpleSigning),
			Annotations: map[string]string{annotationCosignSignature: base64.StdEncoding.EncodeToString(sig)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{annotationRefName: layoutRepo + ":" + legacyTag(Image{Digest: d})})); err != nil {
			t.Fatal(err)
		}

		v, err := layoutChecker(t, dir).Check(context.Background(), newPolicy(t, config.ReleaseIntegrity{TrustedKeys: trusted(legacyPEM)}), layoutRepo+"@"+d.String())
		if err != nil {
			t.Fatal(err)
		}
		if v.Verdict != api.ReleaseVerified || v.SignatureKind != config.SignatureKindCosignLegacy {
			t.Fatalf("verdict %s kind %q (%s), want verified cosign-legacy", v.Verdict, v.SignatureKind, v.Reason)
		}
	})

	t.Run("damaged blob", func(t *testing.T) {
		dir, p, d := newLayout(t)
		addBundleReferrer(t, p, d, dsseBundle(t, kp, d.Hex, PredicateCosignSign))
		// Overwrite the bundle blob: its content no longer matches its name.
		bundleBlob := findBlobOfType(t, dir, MediaTypeBundle)
		if err := os.WriteFile(bundleBlob, []byte(`{"mediaType":"tampered"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := check(t, layoutChecker(t, dir), newPolicy(t, config.ReleaseIntegrity{TrustedKeys: trusted(kpPEM)}), layoutRepo+"@"+d.String()); got != api.ReleaseAmbiguous {
			t.Fatalf("verdict %s, want ambiguous", got)
		}
	})
}

func TestLayoutMissingDirectory(t *testing.T) {
	cfg := config.DefaultRelease()
	cfg.Layouts = []config.ReleaseLayout{{Repository: layoutRepo, Path: filepath.Join(t.TempDir(), "absent")}}
	if _, err := NewChecker(&cfg); err == nil {
		t.Fatal("NewChecker accepted a layout directory that does not exist")
	}
}

// findBlobOfType returns the path of the bundle layer blob, found through
// the referrer manifest that names it.
func findBlobOfType(t *testing.T, dir, mediaType string) string {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	entries, err := os.ReadDir(blobs)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(blobs, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var m v1.Manifest
		if json.Unmarshal(data, &m) != nil || m.Subject == nil || len(m.Layers) != 1 || string(m.Layers[0].MediaType) != mediaType {
			continue
		}
		return filepath.Join(blobs, m.Layers[0].Digest.Hex)
	}
	t.Fatalf("no manifest with a %s layer in %s", mediaType, dir)
	return ""
}
