package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/sign"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/audit"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/peercred"
)

// releaseFixture is a State whose tenant "gated" (uid 1001) requires a
// verified scanner image and whose tenant "open" (uid 1002) does not, and
// a registry with one signed and one unsigned image.
type releaseFixture struct {
	state    *State
	trail    *audit.Trail
	auditDir string
	signed   string
	unsigned string
}

func newReleaseFixture(t *testing.T) *releaseFixture {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := kp.GetPublicKeyPem()

	f := &releaseFixture{
		signed:   pushSignedImage(t, host, kp, true),
		unsigned: pushSignedImage(t, host, kp, false),
	}

	dir := t.TempDir()
	cfg := fmt.Sprintf(`state_dir: %[1]s/state
key:
  uri: file://%[1]s/signing.key
tenants:
  - name: gated
    predicate_types: ["*"]
    callers:
      - uid: 1001
    release_integrity:
      required: true
      trusted_keys:
        - name: publisher
          pem: %[2]q
  - name: open
    predicate_types: ["*"]
    callers:
      - uid: 1002
release:
  insecure_registries: [%[3]q]
`, dir, pubPEM, host)
	c, err := config.Load(filepath.Join(dir, "signerd.yaml"), []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	f.state, err = NewState(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.state.Close() })

	f.auditDir = filepath.Join(dir, "audit")
	f.trail = audit.Open(f.auditDir, audit.Options{})
	t.Cleanup(func() { f.trail.Close() })
	return f
}

// lastRecord returns the newest audit record.
func (f *releaseFixture) lastRecord(t *testing.T) *audit.Record {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.auditDir, "audit-00000000000000000001.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	rec, err := audit.Decode([]byte(lines[len(lines)-1]))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// pushSignedImage pushes a random image and, when signed, a cosign v3
// style bundle referrer over its digest.
func pushSignedImage(t *testing.T, host string, kp sign.Keypair, signed bool) string {
	t.Helper()
	repo, _ := name.NewRepository(host+"/scan", name.Insecure)
	img, _ := random.Image(128, 1)
	if err := remote.Write(repo.Tag("latest"), img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	ref := repo.Name() + "@" + d.String()
	if !signed {
		return ref
	}

	stmt := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":%q}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`, d.Hex)
	pb, err := sign.Bundle(&sign.DSSEData{Data: []byte(stmt), PayloadType: api.MediaTypeInToto}, kp, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bundleJSON, _ := (&bundle.Bundle{Bundle: pb}).MarshalJSON()

	layer := static.NewLayer(bundleJSON, api.MediaTypeBundle03)
	cfgLayer := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	if err := remote.WriteLayer(repo, layer); err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteLayer(repo, cfgLayer); err != nil {
		t.Fatal(err)
	}
	ld, _ := layer.Digest()
	cd, _ := cfgLayer.Digest()
	raw, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     string(types.OCIManifestSchema1),
		"artifactType":  api.MediaTypeBundle03,
		"config":        map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": cd.String()},
		"layers":        []any{map[string]any{"mediaType": api.MediaTypeBundle03, "size": len(bundleJSON), "digest": ld.String()}},
		"subject":       map[string]any{"mediaType": string(types.DockerManifestSchema2), "size": 1, "digest": d.String()},
	})
	if err := remote.Put(repo.Tag("sig"), rawTaggable(raw)); err != nil {
		t.Fatal(err)
	}
	return ref
}

type rawTaggable []byte

func (r rawTaggable) RawManifest() ([]byte, error)        { return r, nil }
func (r rawTaggable) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func (f *releaseFixture) request(uid uint32, image string) *Request {
	body := &api.SignRequest{
		Subjects:      []api.Subject{{Name: "app", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}},
		PredicateType: "https://cyclonedx.org/bom",
		Predicate:     json.RawMessage(`{}`),
	}
	if image != "" {
		body.Scanner = &api.Scanner{Image: image}
	}
	return &Request{Caller: selfIdentity(uid), Body: body, Method: "POST", Path: api.PathSignDSSE, Audit: f.trail}
}

func TestReleaseStage(t *testing.T) {
	f := newReleaseFixture(t)
	ctx := context.Background()

	t.Run("verified image signs", func(t *testing.T) {
		res, err := f.state.Sign(ctx, f.request(1001, f.signed))
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		if res.Release == nil || res.Release.Verdict != api.ReleaseVerified {
			t.Fatalf("result release = %+v, want verified", res.Release)
		}
		if rec := f.lastRecord(t); rec.Release == nil || rec.Release.Result != "allow" {
			t.Errorf("audit record release = %+v, want allow", rec.Release)
		}
	})

	t.Run("unsigned image is rejected", func(t *testing.T) {
		_, err := f.state.Sign(ctx, f.request(1001, f.unsigned))
		var e *api.Error
		if !errors.As(err, &e) || e.Code != api.CodeReleaseUnverified {
			t.Fatalf("Sign error = %v, want release_unverified", err)
		}
		if e.Release == nil || e.Release.Verdict != api.ReleaseUnsigned {
			t.Fatalf("error release = %+v, want the unsigned verdict", e.Release)
		}
		rec := f.lastRecord(t)
		if rec.Release == nil || rec.Release.Result != "deny" || !strings.Contains(rec.Release.Reason, "unsigned") {
			t.Errorf("audit record release = %+v, want deny naming the unsigned verdict", rec.Release)
		}
		if rec.Code != string(api.CodeReleaseUnverified) {
			t.Errorf("audit record code = %q, want %s", rec.Code, api.CodeReleaseUnverified)
		}
	})

	t.Run("missing scanner image", func(t *testing.T) {
		_, err := f.state.Sign(ctx, f.request(1001, ""))
		var e *api.Error
		if !errors.As(err, &e) || e.Code != api.CodeInvalidRequest || e.Field != "scanner.image" {
			t.Fatalf("Sign error = %v, want invalid_request on scanner.image", err)
		}
	})

	t.Run("tenant without policy", func(t *testing.T) {
		res, err := f.state.Sign(ctx, f.request(1002, f.unsigned))
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		if res.Release != nil {
			t.Errorf("result release = %+v, want none for a tenant without release_integrity", res.Release)
		}
		if _, _, err := f.state.VerifyRelease(ctx, &peercred.Identity{UID: 1002, GID: 1002}, f.signed); err == nil {
			t.Error("VerifyRelease for a tenant without release_integrity succeeded")
		}
	})

	t.Run("verify endpoint verdicts", func(t *testing.T) {
		caller := &peercred.Identity{UID: 1001, GID: 1001}
		for ref, want := range map[string]string{f.signed: api.ReleaseVerified, f.unsigned: api.ReleaseUnsigned} {
			v, tenant, err := f.state.VerifyRelease(ctx, caller, ref)
			if err != nil {
				t.Fatalf("VerifyRelease(%s): %v", ref, err)
			}
			if tenant != "gated" || v.Verdict != want {
				t.Errorf("VerifyRelease(%s) = %s for tenant %q, want %s for gated", ref, v.Verdict, tenant, want)
			}
		}
	})

	t.Run("unknown caller", func(t *testing.T) {
		if _, _, err := f.state.VerifyRelease(ctx, &peercred.Identity{UID: 4242, GID: 4242}, f.signed); err == nil {
			t.Error("VerifyRelease for a caller without a tenant succeeded")
		}
	})
}

func TestAuditVerdict(t *testing.T) {
	tests := []struct {
		verdict string
		want    string
	}{
		{api.ReleaseVerified, "allow"},
		{api.ReleaseUnsigned, "deny"},
		{api.ReleaseInvalid, "deny"},
		{api.ReleaseAmbiguous, "deny"},
		{api.ReleaseUnreachable, "error"},
	}
	for _, tc := range tests {
		got := auditVerdict(&api.ReleaseVerdict{Image: "r.example/s@sha256:00", Verdict: tc.verdict, Reason: "because"})
		if got == nil || got.Result != tc.want {
			t.Errorf("auditVerdict(%s) = %+v, want result %s", tc.verdict, got, tc.want)
			continue
		}
		if !strings.Contains(got.Reason, tc.verdict) || !strings.Contains(got.Reason, "r.example/s@sha256:00") {
			t.Errorf("auditVerdict(%s) reason %q lacks the verdict or the image", tc.verdict, got.Reason)
		}
	}
	if auditVerdict(nil) != nil {
		t.Error("auditVerdict(nil) is not nil")
	}
}
