package release

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/signerd/signerd/daemon/config"
)

const mediaTypeEmptyJSON = "application/vnd.oci.empty.v1+json"

// testRegistry is go-containerregistry's in-process registry on loopback.
type testRegistry struct {
	srv  *httptest.Server
	host string
}

func startRegistry(t *testing.T, referrers bool) *testRegistry {
	t.Helper()
	h := registry.New(registry.WithReferrersSupport(referrers), registry.Logger(discardLog()))
	return serveRegistry(t, h)
}

func serveRegistry(t *testing.T, h http.Handler) *testRegistry {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testRegistry{srv: srv, host: strings.TrimPrefix(srv.URL, "http://")}
}

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

func (r *testRegistry) repo(t *testing.T, path string) name.Repository {
	t.Helper()
	repo, err := name.NewRepository(r.host+"/"+path, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// pushRandomImage pushes a random image and returns its reference by digest.
func (r *testRegistry) pushRandomImage(t *testing.T, path string) (string, v1.Descriptor) {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	repo := r.repo(t, path)
	if err := remote.Write(repo.Tag("latest"), img); err != nil {
		t.Fatalf("push image: %v", err)
	}
	return descriptorRef(t, repo, img)
}

func descriptorRef(t *testing.T, repo name.Repository, m interface {
	Digest() (v1.Hash, error)
	MediaType() (types.MediaType, error)
	RawManifest() ([]byte, error)
}) (string, v1.Descriptor) {
	t.Helper()
	d, err := m.Digest()
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := m.MediaType()
	raw, _ := m.RawManifest()
	return repo.Name() + "@" + d.String(), v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))}
}

// rawManifest returns the manifest bytes stored under digest.
func (r *testRegistry) rawManifest(t *testing.T, path string, digest v1.Hash) []byte {
	t.Helper()
	desc, err := remote.Get(r.repo(t, path).Digest(digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	return desc.Manifest
}

// rawManifest is a manifest pushed byte for byte.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// attachBundle pushes a bundle manifest as cosign v3 does: artifactType
// the bundle type, an empty config, one bundle layer and the subject.
func (r *testRegistry) attachBundle(t *testing.T, path string, subject v1.Descriptor, bundleJSON []byte) v1.Hash {
	t.Helper()
	repo := r.repo(t, path)

	layer := static.NewLayer(bundleJSON, MediaTypeBundle)
	cfg := static.NewLayer([]byte("{}"), mediaTypeEmptyJSON)
	for _, l := range []v1.Layer{layer, cfg} {
		if err := remote.WriteLayer(repo, l); err != nil {
			t.Fatalf("push blob: %v", err)
		}
	}
	ld, _ := layer.Digest()
	cd, _ := cfg.Digest()

	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     string(types.OCIManifestSchema1),
		"artifactType":  MediaTypeBundle,
		"config":        map[string]any{"mediaType": mediaTypeEmptyJSON, "size": 2, "digest": cd.String()},
		"layers": []any{map[string]any{
			"mediaType": MediaTypeBundle, "size": len(bundleJSON), "digest": ld.String(),
		}},
		"subject": map[string]any{"mediaType": string(subject.MediaType), "size": subject.Size, "digest": subject.Digest.String()},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := v1.SHA256(bytes.NewReader(raw))
	// On a registry without the Referrers API, remote.Put also adds the
	// manifest to the subject's sha256-HEX tag index, as cosign does.
	if err := remote.Put(repo.Digest(h.String()), rawManifest{raw: raw, mt: types.OCIManifestSchema1}); err != nil {
		t.Fatalf("push bundle manifest: %v", err)
	}
	return h
}

func (r *testRegistry) addToReferrersTag(t *testing.T, repo name.Repository, subject v1.Hash, d v1.Descriptor) {
	t.Helper()
	tag := repo.Tag(subject.Algorithm + "-" + subject.Hex)
	idx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	if desc, err := remote.Get(tag); err == nil {
		if err := json.Unmarshal(desc.Manifest, &idx); err != nil {
			t.Fatal(err)
		}
	}
	idx.Manifests = append(idx.Manifests, d)
	raw, _ := json.Marshal(idx)
	if err := remote.Put(tag, rawManifest{raw: raw, mt: types.OCIImageIndex}); err != nil {
		t.Fatalf("push referrers tag: %v", err)
	}
}

// pushLegacySignature pushes a cosign v2 style sha256-HEX.sig image with
// one simple-signing layer.
func (r *testRegistry) pushLegacySignature(t *testing.T, path string, subject v1.Hash, signedDigest string, key *ecdsa.PrivateKey) {
	t.Helper()
	repo := r.repo(t, path)
	payload := fmt.Sprintf(`{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`,
		repo.Name(), signedDigest)

	sv, err := signature.LoadECDSASignerVerifier(key, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := sv.SignMessage(bytes.NewReader([]byte(payload)))
	if err != nil {
		t.Fatal(err)
	}

	layer := static.NewLayer([]byte(payload), mediaTypeSimpleSigning)
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{
		Layer:       layer,
		Annotations: map[string]string{annotationCosignSignature: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(repo.Tag(subject.Algorithm+"-"+subject.Hex+".sig"), img); err != nil {
		t.Fatalf("push legacy signature: %v", err)
	}
}

// newKeypair returns a sigstore-go keypair and its PEM public key.
func newKeypair(t *testing.T) (*sign.EphemeralKeypair, string) {
	t.Helper()
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	pemText, err := kp.GetPublicKeyPem()
	if err != nil {
		t.Fatal(err)
	}
	return kp, pemText
}

func newECDSAKey(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// dsseBundle signs an in-toto Statement about digestHex with sigstore-go
// and returns the bundle JSON, as cosign v3 attaches it.
func dsseBundle(t *testing.T, kp sign.Keypair, digestHex, predicateType string) []byte {
	t.Helper()
	stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":%q}}],"predicateType":%q,"predicate":{}}`,
		digestHex, predicateType)
	pb, err := sign.Bundle(&sign.DSSEData{Data: []byte(stmt), PayloadType: mediaTypeInToto}, kp, sign.BundleOptions{})
	if err != nil {
		t.Fatalf("sign bundle: %v", err)
	}
	b := &bundle.Bundle{Bundle: pb}
	out, err := b.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newPolicy(t *testing.T, ri config.ReleaseIntegrity) *Policy {
	t.Helper()
	ri.Required = true
	p, err := CompilePolicy(&ri)
	if err != nil {
		t.Fatalf("compile policy: %v", err)
	}
	return p
}

func trusted(pems ...string) []config.TrustedKey {
	var out []config.TrustedKey
	for i, p := range pems {
		out = append(out, config.TrustedKey{Name: fmt.Sprintf("key%d", i), PEM: p})
	}
	return out
}

func newChecker(t *testing.T, mutateCfg func(*config.ReleaseConfig), insecure ...string) *Checker {
	t.Helper()
	cfg := config.DefaultRelease()
	cfg.RequestTimeout = config.Duration(5 * time.Second)
	cfg.InsecureRegistries = insecure
	if mutateCfg != nil {
		mutateCfg(&cfg)
	}
	c, err := NewChecker(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func check(t *testing.T, c *Checker, p *Policy, ref string) string {
	t.Helper()
	v, err := c.Check(context.Background(), p, ref)
	if err != nil {
		t.Fatalf("Check(%s): %v", ref, err)
	}
	t.Logf("verdict %s: %s (discovery %s)", v.Verdict, v.Reason, v.Discovery)
	for _, ev := range v.Evidence {
		t.Logf("  evidence %+v", ev)
	}
	return v.Verdict
}
