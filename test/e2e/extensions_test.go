package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/signerd/signerd/daemon/extension"
	"github.com/signerd/signerd/test/testenv"
)

// TestExtensionsInSigningPath runs the three shipped extensions in
// signerd's signing path, one of them pulled from an OCI registry, then
// reloads to a hostile module and checks the daemon denies and keeps
// serving.
func TestExtensionsInSigningPath(t *testing.T) {
	if testing.Short() {
		t.Skip("builds WASM modules and runs signerd")
	}
	bin := testenv.Binaries(t)
	signerctl := filepath.Join(bin, "signerctl")
	trivy := testenv.RealWorld(t, "cyclonedx/trivy_npm-cyclonedx_1.6.cdx.json")
	spdx := testenv.RealWorld(t, "spdx/spdx-examples_example10_hello-source.spdx.json")

	mods := map[string]string{}
	for _, name := range []string{"allowlist", "scannerwindow", "sbomgate"} {
		mods[name] = testenv.GuestModule(t, "extensions/"+name)
	}

	// Publish the SBOM gate to a registry on loopback and refer to it by
	// digest, as an administrator would.
	reg := httptest.NewServer(registry.New())
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	out := mustRun(t, signerctl, "ext", "push", mods["sbomgate"], host+"/signerd/sbomgate:v1")
	var sbomgateSource string
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "source: "); ok {
			sbomgateSource = v
		}
	}
	if !strings.HasPrefix(sbomgateSource, "oci://"+host+"/signerd/sbomgate@sha256:") {
		t.Fatalf("ext push printed no digest source:\n%s", out)
	}

	dir := testenv.ShortTempDir(t)
	stateDir := filepath.Join(dir, "state")
	socket := filepath.Join(dir, "signerd.sock")
	pin := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return extension.SHA256Hex(b)
	}
	good := fmt.Sprintf(`
      - name: registries
        source: %s
        sha256: %s
        config: {registries: [ghcr.io]}
        timeout: 2s
      - name: scanner
        source: %s
        sha256: %s
        config: {require_poe: false, versions: ">=0.50.0"}
        timeout: 2s
      - name: sbom
        source: %s
        sha256: %s
        config: {max_components: 1000}
        timeout: 2s
`, mods["allowlist"], pin(mods["allowlist"]), mods["scannerwindow"], pin(mods["scannerwindow"]), sbomgateSource, pin(mods["sbomgate"]))
	cfgPath := filepath.Join(dir, "signerd.yaml")
	writeExtConfig(t, cfgPath, socket, stateDir, good)

	// Compile the modules into the daemon's cache first, so that the
	// daemon's start is not held up by cold compiles on a busy machine.
	prewarm(t, signerctl, filepath.Join(stateDir, "extensions", "compiled"), mods)

	d := testenv.Start(t, socket, dir, "--config", cfgPath)
	env := append(os.Environ(), "SIGNERD_SOCKET="+socket)
	sign := func(predicate, predType, subject, scanner string) (string, error) {
		args := []string{"sign", "--predicate-type", predType, "--predicate", predicate,
			"--subject", subject + "@sha256:" + strings.Repeat("ab", 32), "-o", filepath.Join(dir, "out.json")}
		if scanner != "" {
			args = append(args, "--scanner-version", scanner)
		}
		cmd := exec.Command(signerctl, args...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		return string(b), err
	}

	cases := []struct {
		name, predicate, predType, subject, scanner string
		allow                                       bool
		want                                        string
	}{
		{"all allow", trivy, "https://cyclonedx.org/bom", "ghcr.io/acme/app", "0.58.1", true, "signed: record"},
		{"registry not allowed", trivy, "https://cyclonedx.org/bom", "docker.io/acme/app", "0.58.1", false, `extension "registries" of tenant "e2e" denied`},
		{"scanner too old", trivy, "https://cyclonedx.org/bom", "ghcr.io/acme/app", "0.49.0", false, `outside the tenant's range ">=0.50.0"`},
		{"incomplete SBOM", spdx, "https://spdx.dev/Document/v2.3", "ghcr.io/acme/app", "0.58.1", false, "hello lacks version and purl"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := sign(tc.predicate, tc.predType, tc.subject, tc.scanner)
			if (err == nil) != tc.allow || !strings.Contains(out, tc.want) {
				t.Fatalf("sign: err=%v, want allow=%v and output mentioning %q; got:\n%s", err, tc.allow, tc.want, out)
			}
		})
	}

	// The admin socket's status counts the loaded modules.
	status, err := exec.Command(filepath.Join(testenv.Binaries(t), "signerctl"),
		"--admin-socket", filepath.Join(filepath.Dir(socket), "admin.sock"), "status").CombinedOutput()
	if err != nil {
		t.Fatalf("signerctl status: %v\n%s", err, status)
	}
	if !strings.Contains(string(status), "extensions: 3") {
		t.Errorf("status does not count the three extensions:\n%s", status)
	}

	// The audit trail records each extension's verdict.
	var verdicts []string
	for _, rec := range readTrail(t, filepath.Join(stateDir, "audit")) {
		if b, err := json.Marshal(rec.Extensions); err == nil && len(rec.Extensions) > 0 {
			verdicts = append(verdicts, string(b))
		}
	}
	for _, want := range []string{
		`[{"name":"registries","result":"allow"},{"name":"scanner","result":"allow"},{"name":"sbom","result":"allow"}]`,
		`[{"name":"registries","result":"deny","reason":"subject \"docker.io/acme/app\": repository docker.io/acme/app is not on the tenant's allow-list"}]`,
	} {
		if !slices.Contains(verdicts, want) {
			t.Errorf("audit trail lacks extension verdicts %s; it has:\n%s", want, strings.Join(verdicts, "\n"))
		}
	}

	// Reload to a hostile module: a loop-free call tree that would run for
	// ages. Each request is denied at its deadline and the daemon serves on.
	tree := filepath.Join(dir, "tree.wasm")
	if err := os.WriteFile(tree, testenv.WAT(t, filepath.Join(testenv.RepoRoot(t), "daemon/extension/testdata/wat/tree.wat")), 0o644); err != nil {
		t.Fatal(err)
	}
	writeExtConfig(t, cfgPath, socket, stateDir, fmt.Sprintf(`
      - name: hostile
        source: %s
        sha256: %s
        timeout: 200ms
`, tree, pin(tree)))
	reloads := strings.Count(d.Log(), "config reloaded")
	if err := d.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, func() bool { return strings.Count(d.Log(), "config reloaded") > reloads }, d.Log)

	for i := 0; i < 3; i++ {
		out, err := sign(trivy, "https://cyclonedx.org/bom", "ghcr.io/acme/app", "")
		if err == nil || !strings.Contains(out, `extension "hostile" of tenant "e2e" failed`) || !strings.Contains(out, "deadline exceeded") {
			t.Fatalf("request %d with the hostile module: err=%v\n%s", i, err, out)
		}
	}
	cmd := exec.Command(signerctl, "whoami")
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(b, []byte("e2e")) {
		t.Fatalf("whoami after hostile requests: %v\n%s", err, b)
	}

	// The metrics count every call by its result.
	metrics := adminGet(t, filepath.Join(filepath.Dir(socket), "admin.sock"), "/metrics")
	for _, want := range []string{
		`signerd_extension_calls_total{extension="registries",result="allow",tenant="e2e"} 3`,
		`signerd_extension_calls_total{extension="registries",result="deny",tenant="e2e"} 1`,
		`signerd_extension_calls_total{extension="scanner",result="allow",tenant="e2e"} 2`,
		`signerd_extension_calls_total{extension="scanner",result="deny",tenant="e2e"} 1`,
		`signerd_extension_calls_total{extension="sbom",result="allow",tenant="e2e"} 1`,
		`signerd_extension_calls_total{extension="sbom",result="deny",tenant="e2e"} 1`,
		`signerd_extension_calls_total{extension="hostile",result="timeout",tenant="e2e"} 3`,
		`signerd_extension_call_duration_seconds_count{extension="hostile"} 3`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// adminGet returns the body of a GET to path on signerd's admin socket.
func adminGet(t *testing.T, socket, path string) string {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
	resp, err := hc.Get("http://signer.localhost" + path)
	if err != nil {
		t.Fatalf("GET %s on the admin socket: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s on the admin socket: status %d, %v\n%s", path, resp.StatusCode, err, body)
	}
	return string(body)
}

func writeExtConfig(t *testing.T, path, socket, stateDir, extensions string) {
	t.Helper()
	cfg := fmt.Sprintf(`socket:
  path: %s
  mode: "0600"
state_dir: %s
key:
  uri: file://%s/signing.key
  create: true
tenants:
  - name: e2e
    predicate_types: ["*"]
    callers:
      - uid: %d
    extensions:%s`, socket, stateDir, filepath.Dir(stateDir), os.Getuid(), extensions)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// prewarm compiles the modules into cacheDir with signerctl ext test (a
// test binary's wazero reports another version and would fill a cache
// the daemon does not read).
func prewarm(t *testing.T, signerctl, cacheDir string, mods map[string]string) {
	t.Helper()
	input := filepath.Join(t.TempDir(), "request.json")
	req := `{"subjects":[{"name":"x","digest":{"sha256":"` + strings.Repeat("ab", 32) + `"}}],"predicateType":"https://example.com/p","predicate":{}}`
	if err := os.WriteFile(input, []byte(req), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range mods {
		out, _ := exec.Command(signerctl, "ext", "test", p, "--input", input, "--cache-dir", cacheDir).CombinedOutput()
		if !bytes.Contains(out, []byte("moduleSha256")) {
			t.Fatalf("ext test %s did not run the module:\n%s", p, out)
		}
	}
}

func mustRun(t *testing.T, name string, args ...string) string {
	t.Helper()
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
	return string(b)
}

func waitForLog(t *testing.T, cond func() bool, log func() string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within 60s; log:\n%s", log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
