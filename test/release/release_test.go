// Package release_test runs signerd and signerctl against
// go-containerregistry's in-process registry, with images signed by the
// real cosign CLI, and checks the release verdict of each case end to end.
package release_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/client/verify"
	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/bundle"
	"github.com/signerd/signerd/test/testenv"
)

const (
	predicateRelease = "https://example.com/release/v1"
	airgapRepo       = "airgap.example/scanners/scan"
)

// suite is one signerd with a release-integrity tenant, two registries
// and two cosign key pairs.
type suite struct {
	t          *testing.T
	cosign     string
	signerctl  string
	work       string
	daemon     *testenv.Daemon
	withAPI    *httptest.Server
	withoutAPI *httptest.Server
	layoutDir  string

	// slow is a registry whose Referrers API stops responding once
	// slowMode is set, until the client gives up.
	slow     *httptest.Server
	slowMode atomic.Bool
}

func newRegistry(t *testing.T, referrers bool) *httptest.Server {
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(referrers), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return srv
}

func host(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

func setup(t *testing.T) *suite {
	t.Helper()
	s := &suite{
		t:          t,
		cosign:     testenv.Tool(t, "cosign"),
		signerctl:  filepath.Join(testenv.Binaries(t), "signerctl"),
		work:       testenv.ShortTempDir(t),
		withAPI:    newRegistry(t, true),
		withoutAPI: newRegistry(t, false),
	}
	inner := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
	s.slow = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.slowMode.Load() && strings.Contains(r.URL.Path, "/referrers/") {
			<-r.Context().Done()
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		s.slow.CloseClientConnections()
		s.slow.Close()
	})
	for _, dir := range []string{"home", "tuf", "layout"} {
		if err := os.MkdirAll(filepath.Join(s.work, dir), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s.layoutDir = filepath.Join(s.work, "layout")
	if _, err := layout.Write(s.layoutDir, empty.Index); err != nil {
		t.Fatal(err)
	}

	s.run(t, s.cosign, "generate-key-pair", "--output-key-prefix", filepath.Join(s.work, "trusted"))
	s.run(t, s.cosign, "generate-key-pair", "--output-key-prefix", filepath.Join(s.work, "untrusted"))

	cfg := fmt.Sprintf(`socket:
  path: %[1]s/signerd.sock
  mode: "0600"
state_dir: %[1]s/state
key:
  uri: file://%[1]s/signing.key
  create: true
tenants:
  - name: scanners
    predicate_types: ["*"]
    callers:
      - uid: %[2]d
    release_integrity:
      required: true
      trusted_keys:
        - name: publisher
          file: %[1]s/trusted.pub
      attestation_predicate_type: %[3]s
release:
  request_timeout: 2s
  check_timeout: 10s
  insecure_registries: [%[4]q, %[5]q, %[8]q]
  layouts:
    - repository: %[6]s
      path: %[7]s
  cache:
    negative_ttl: 0s
`, s.work, os.Getuid(), predicateRelease, host(s.withAPI), host(s.withoutAPI), airgapRepo, s.layoutDir, host(s.slow))
	cfgPath := filepath.Join(s.work, "signerd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.daemon = testenv.Start(t, filepath.Join(s.work, "signerd.sock"), s.work, "--config", cfgPath)
	return s
}

// run runs a command with cosign's offline environment and fails the test
// if it fails.
func (s *suite) run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, code := s.exec(bin, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d\n%s", filepath.Base(bin), strings.Join(args, " "), code, out)
	}
	return out
}

func (s *suite) exec(bin string, args ...string) (string, int) {
	cmd := exec.Command(bin, args...)
	// cosign stays offline: no transparency log, no signing config, and a
	// TUF root in an empty temporary directory.
	cmd.Env = append(os.Environ(),
		"COSIGN_PASSWORD=test-password",
		"TUF_ROOT="+filepath.Join(s.work, "tuf"),
		"HOME="+filepath.Join(s.work, "home"),
	)
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return buf.String(), ee.ExitCode()
	}
	if err != nil {
		return buf.String() + err.Error(), -1
	}
	return buf.String(), 0
}

func (s *suite) sign(t *testing.T, key, ref string, extra ...string) {
	t.Helper()
	args := append([]string{"sign", "--key", filepath.Join(s.work, key+".key"),
		"--tlog-upload=false", "--use-signing-config=false", "--allow-http-registry", "-y"}, extra...)
	s.run(t, s.cosign, append(args, ref)...)
}

func (s *suite) attest(t *testing.T, key, predicateType, ref string) {
	t.Helper()
	pred := filepath.Join(s.work, "predicate.json")
	if err := os.WriteFile(pred, []byte(`{"release":"v1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s.run(t, s.cosign, "attest", "--key", filepath.Join(s.work, key+".key"),
		"--tlog-upload=false", "--use-signing-config=false", "--allow-http-registry", "-y",
		"--type", predicateType, "--predicate", pred, ref)
}

// pushImage pushes a random image and returns its reference by digest.
func pushImage(t *testing.T, srv *httptest.Server, repo string) (string, v1.Image) {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.NewRepository(host(srv)+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r.Tag("v1"), img); err != nil {
		t.Fatalf("push image: %v", err)
	}
	d, _ := img.Digest()
	return r.Name() + "@" + d.String(), img
}

// verifyRelease runs signerctl verify-release --json and returns the
// verdict and the exit status.
func (s *suite) verifyRelease(t *testing.T, ref string) (*api.ReleaseVerdict, int) {
	t.Helper()
	out, code := s.exec(s.signerctl, "--socket", s.daemon.Socket, "verify-release", "--json", ref)
	var v api.ReleaseVerdict
	start := strings.Index(out, "{")
	if start < 0 {
		t.Fatalf("verify-release %s printed no JSON (exit %d):\n%s", ref, code, out)
	}
	if err := json.NewDecoder(strings.NewReader(out[start:])).Decode(&v); err != nil {
		t.Fatalf("verify-release %s: decode output: %v\n%s", ref, err, out)
	}
	return &v, code
}

// rawManifest is a manifest pushed byte for byte.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.raw, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

func putRaw(t *testing.T, repo name.Repository, raw []byte, mediaType string) {
	t.Helper()
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(repo.Digest(h.String()), rawManifest{raw: raw, mt: types.MediaType(mediaType)}); err != nil {
		t.Fatalf("push manifest: %v", err)
	}
}

// trustedKeyID returns the key id signerd reports for trusted.pub.
func (s *suite) trustedKeyID(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.work, "trusted.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := verify.ParsePublicKey(data)
	if err != nil {
		t.Fatal(err)
	}
	id, err := bundle.KeyHint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type testClient struct {
	c *client.Client
}

func (s *suite) client(t *testing.T) *testClient {
	c := client.New(s.daemon.Socket)
	t.Cleanup(c.Close)
	return &testClient{c: c}
}

func (c *testClient) sign(image string) (*api.SignResponse, error) {
	return c.c.Sign(context.Background(), &api.SignRequest{
		Subjects:      []api.Subject{{Name: "app", Digest: map[string]string{"sha256": strings.Repeat("cd", 32)}}},
		PredicateType: "https://cyclonedx.org/bom",
		Predicate:     json.RawMessage(`{"bomFormat":"CycloneDX"}`),
		Scanner:       &api.Scanner{Image: image},
	})
}
