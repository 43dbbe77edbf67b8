package systemd

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// testConfig is a signerd config for a daemon under dir, with one tenant
// admitting uid.
type testConfig struct {
	Dir        string
	Tenant     string
	UID        int
	MetricsAt  string
	Broken     bool
	SocketMode string
}

func (c testConfig) write(t *testing.T, path string) {
	t.Helper()
	tenant := c.Tenant
	if c.Broken {
		// Upper case is not a valid tenant name, so the whole config
		// fails validation.
		tenant = "Not-A-Valid-Name"
	}
	mode := c.SocketMode
	if mode == "" {
		mode = "0600"
	}
	text := fmt.Sprintf(`socket:
  path: %[1]s/caller.sock
  mode: "%[5]s"
  name: signerd
admin_socket:
  path: %[1]s/admin.sock
  name: signerd-admin
metrics:
  listen: "%[4]s"
state_dir: %[1]s/state
key:
  uri: file://%[1]s/signing.key
  create: true
log:
  format: json
  level: debug
tenants:
  - name: %[2]s
    predicate_types: ["*"]
    callers:
      - uid: %[3]d
`, c.Dir, tenant, c.UID, c.MetricsAt, mode)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
