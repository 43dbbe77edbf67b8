// Package keybackends_test runs signerd with each key backend against the
// real component (a file, swtpm, SoftHSM2, the local AWS KMS emulator),
// signs through the socket, and checks each bundle with sigstore-go and
// with the cosign CLI. It also checks that a backend that goes away shows
// in /v1/healthz and turns sign requests into "unavailable".
package keybackends_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/client/verify"
	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/test/testenv"
)

const predicateType = "https://cyclonedx.org/bom"

// startDaemon writes a config that signs with keyURI and starts signerd.
func startDaemon(t *testing.T, keyURI string) (*testenv.Daemon, *client.Client) {
	t.Helper()
	dir := testenv.ShortTempDir(t)
	socket := filepath.Join(dir, "signerd.sock")
	conf := fmt.Sprintf(`socket:
  path: %s
  mode: "0600"
state_dir: %s
key:
  uri: %q
log:
  format: text
  level: info
tenants:
  - name: test
    predicate_types: ["*"]
    callers:
      - uid: %d
`, socket, filepath.Join(dir, "state"), keyURI, os.Getuid())
	confPath := filepath.Join(dir, "signerd.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	d := testenv.Start(t, socket, dir, "--config", confPath)
	c := client.New(socket)
	t.Cleanup(func() { c.Close() })
	return d, c
}

// createKey runs signerctl key create and returns the URI it printed.
func createKey(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(testenv.Binaries(t), "signerctl")
	out, err := exec.Command(bin, append([]string{"key", "create"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("signerctl key create %v: %v\n%s", args, err, out)
	}
	lines := strings.Split(string(out), "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "# key.uri") || !strings.Contains(string(out), "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("signerctl key create printed no URI and public key:\n%s", out)
	}
	return lines[1]
}

// signAndVerify signs an artifact through the daemon and verifies the
// bundle with sigstore-go and with cosign.
func signAndVerify(t *testing.T, c *client.Client, wantURI string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()

	artifact := make([]byte, 512)
	rand.Read(artifact)
	artifactPath := filepath.Join(dir, "sbom.json")
	if err := os.WriteFile(artifactPath, artifact, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(artifact)

	resp, err := c.Sign(ctx, &api.SignRequest{
		Subjects:      []api.Subject{{Name: "sbom.json", Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}}},
		PredicateType: predicateType,
		Predicate:     []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6"}`),
	})
	if err != nil {
		t.Fatalf("sign: %v", err)
	}

	key, err := c.Key(ctx)
	if err != nil {
		t.Fatalf("GET /v1/keys: %v", err)
	}
	if key.URI != wantURI {
		t.Errorf("/v1/keys URI = %q, want %q", key.URI, wantURI)
	}
	if key.KeyHint != resp.KeyHint {
		t.Errorf("/v1/keys hint %q differs from the bundle's %q", key.KeyHint, resp.KeyHint)
	}

	res, err := verify.Bundle(resp.Bundle, verify.Options{
		PublicKeyPEM:    []byte(key.PublicKeyPEM),
		DigestAlgorithm: "sha256",
		Digest:          sum[:],
		PredicateType:   predicateType,
	})
	if err != nil {
		t.Fatalf("sigstore-go verification: %v", err)
	}
	if res.PredicateType != predicateType {
		t.Errorf("verified predicate type = %q", res.PredicateType)
	}

	bundlePath := filepath.Join(dir, "sbom.sigstore.json")
	keyPath := filepath.Join(dir, "key.pub")
	os.WriteFile(bundlePath, resp.Bundle, 0o600)
	os.WriteFile(keyPath, []byte(key.PublicKeyPEM), 0o600)
	cosign := testenv.Tool(t, "cosign")
	out, err := exec.Command(cosign, "verify-blob-attestation", "--bundle", bundlePath, "--key", keyPath,
		"--insecure-ignore-tlog", "--type", predicateType, artifactPath).CombinedOutput()
	if err != nil {
		t.Fatalf("cosign verify-blob-attestation: %v\n%s", err, out)
	}

	// cosign must also reject the bundle for another artifact, or the
	// check above proves nothing.
	other := filepath.Join(dir, "other.json")
	os.WriteFile(other, []byte("other"), 0o600)
	if out, err := exec.Command(cosign, "verify-blob-attestation", "--bundle", bundlePath, "--key", keyPath,
		"--insecure-ignore-tlog", "--type", predicateType, other).CombinedOutput(); err == nil {
		t.Fatalf("cosign accepted the bundle for another artifact:\n%s", out)
	}
}

// expectUnavailable checks that the backend's failure shows in healthz and
// that a sign request gets "unavailable" naming the key.
func expectUnavailable(t *testing.T, c *client.Client, keyURI string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	_, err := c.Sign(ctx, &api.SignRequest{
		Subjects:      []api.Subject{{Name: "a", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}},
		PredicateType: predicateType,
		Predicate:     []byte(`{}`),
	})
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.API == nil || apiErr.API.Code != api.CodeUnavailable {
		t.Fatalf("sign with the backend down: err = %v, want code unavailable", err)
	}
	if !strings.Contains(apiErr.API.Message, keyURI) {
		t.Errorf("unavailable message %q does not name the key %s", apiErr.API.Message, keyURI)
	}

	h, err := c.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != "degraded" || h.Checks["key"] == "ok" {
		t.Errorf("healthz with the backend down = %+v, want degraded with the key's error", h)
	}
}

func expectHealthy(t *testing.T, c *client.Client) {
	t.Helper()
	h, err := c.Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h.Status != "ok" || h.Checks["key"] != "ok" {
		t.Errorf("healthz = %+v, want ok", h)
	}
}

func TestFileBackend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signing.key")
	uri := createKey(t, "--backend", "file", "--path", path)
	_, c := startDaemon(t, uri)
	signAndVerify(t, c, uri)
	expectHealthy(t, c)
}

func TestTPMBackend(t *testing.T) {
	tpm := testenv.StartSWTPM(t)
	path := filepath.Join(t.TempDir(), "signing.tpm.pem")
	uri := createKey(t, "--backend", "tpm", "--path", path, "--device", tpm.Socket)
	if !strings.HasPrefix(uri, "tpm://"+path) {
		t.Fatalf("signerctl printed URI %q for key file %s", uri, path)
	}

	_, c := startDaemon(t, uri)
	signAndVerify(t, c, uri)
	expectHealthy(t, c)

	tpm.Stop()
	expectUnavailable(t, c, uri)

	tpm.Restart(t)
	signAndVerify(t, c, uri)
}

func TestPKCS11Backend(t *testing.T) {
	hsm := testenv.StartSoftHSM(t)
	uri := createKey(t, "--backend", "pkcs11", "--uri",
		"pkcs11:token="+hsm.Token+";object=signerd?module-path="+hsm.Module+"&pin-source=file:"+hsm.PINFile)
	_, c := startDaemon(t, uri)
	signAndVerify(t, c, uri)
	expectHealthy(t, c)
}

func TestKMSBackend(t *testing.T) {
	if !testenv.InPrivateNetwork(t) {
		return
	}
	kms := testenv.StartLocalKMS(t)
	const uri = "awskms:///alias/signerd"
	if got := createKey(t, "--backend", "kms", "--uri", uri); got != uri {
		t.Fatalf("signerctl printed URI %q, want %q", got, uri)
	}

	_, c := startDaemon(t, uri)
	signAndVerify(t, c, uri)
	expectHealthy(t, c)

	kms.Stop()
	expectUnavailable(t, c, uri)
}
