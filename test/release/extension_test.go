package release_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/extension"
	"github.com/signerd/signerd/test/testenv"
)

// An extension pulled from a registry with a signature_key loads only when
// its artifact's digest carries a signature by that key, made here with
// the real cosign CLI. An unsigned artifact, or one signed by another key,
// stops the daemon from starting, and the error gives the reason.
func TestExtensionArtifactSignature(t *testing.T) {
	s := setup(t)
	module := testenv.GuestModule(t, "extensions/allowlist")
	data, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	pin := extension.SHA256Hex(data)

	// The same module in three repositories: signed by the trusted key,
	// signed by another key, and not signed.
	push := func(repo string) string {
		out := s.run(t, s.signerctl, "ext", "push", module, host(s.withAPI)+"/"+repo+":v1")
		for _, line := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(line, "source: "); ok {
				return v
			}
		}
		t.Fatalf("ext push printed no source:\n%s", out)
		return ""
	}
	trusted, other, unsigned := push("ext/trusted"), push("ext/other"), push("ext/unsigned")
	s.sign(t, "trusted", strings.TrimPrefix(trusted, "oci://"))
	s.sign(t, "untrusted", strings.TrimPrefix(other, "oci://"))

	tests := []struct {
		name   string
		source string
		want   string // empty: the daemon starts
	}{
		{"signed by the key", trusted, ""},
		{"signed by another key", other, "has no signature by signature_key (verdict invalid: "},
		{"not signed", unsigned, "has no signature by signature_key (verdict unsigned: "},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(s.work, fmt.Sprintf("ext%d", i))
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
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
    extensions:
      - name: registries
        source: %[3]s
        sha256: %[4]s
        config: {registries: [ghcr.io]}
        timeout: 5s
        signature_key:
          name: publisher
          file: %[5]s/trusted.pub
release:
  request_timeout: 2s
  check_timeout: 10s
  insecure_registries: [%[6]q]
`, dir, os.Getuid(), tc.source, pin, s.work, host(s.withAPI))
			cfgPath := filepath.Join(dir, "signerd.yaml")
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}

			if tc.want == "" {
				d := testenv.Start(t, filepath.Join(dir, "signerd.sock"), dir, "--config", cfgPath)
				d.WaitLine(t, "extension artifact signature checked", "release_verdict=verified")
				d.WaitLine(t, "extension loaded", "extension=registries")
				return
			}

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, filepath.Join(testenv.Binaries(t), "signerd"), "--config", cfgPath).CombinedOutput()
			if err == nil {
				t.Fatalf("signerd started with an extension whose artifact is %s:\n%s", tc.name, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("signerd's error does not say %q:\n%s", tc.want, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "state", "extensions", "pulled")); err == nil {
				entries, _ := os.ReadDir(filepath.Join(dir, "state", "extensions", "pulled"))
				if len(entries) > 0 {
					t.Errorf("the refused module was pulled into the cache: %v", entries)
				}
			}
		})
	}
}
