package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// extensionTenants runs the three shipped extensions with configs that
// allow the bench's requests, so every request pays for all three calls.
const extensionTenants = `tenants:
  - name: bench
    predicate_types: ["*"]
    callers:
      - uid: %d
    extensions:
      - name: registries
        source: EXT_ALLOWLIST
        sha256: EXT_ALLOWLIST_SHA
        config:
          registries: [ghcr.io]
      - name: scanner-window
        source: EXT_SCANNERWINDOW
        sha256: EXT_SCANNERWINDOW_SHA
        config:
          versions: ">=0.50.0, <1.0.0"
          require_poe: false
      - name: sbom
        source: EXT_SBOMGATE
        sha256: EXT_SBOMGATE_SHA
        config:
          min_components: 1
`

// setupExtensions points the config at the modules make extensions built
// and pins their digests.
func setupExtensions(r *run, _ string) (string, []string, error) {
	r.tenantReplace = map[string]string{}
	for _, name := range []string{"allowlist", "scannerwindow", "sbomgate"} {
		path := filepath.Join(r.root, "bin", "extensions", name+".wasm")
		data, err := os.ReadFile(path)
		if err != nil {
			return "", nil, fmt.Errorf("read %s (run make extensions): %w", path, err)
		}
		sum := sha256.Sum256(data)
		key := "EXT_" + upper(name)
		r.tenantReplace[key+"_SHA"] = hex.EncodeToString(sum[:])
		r.tenantReplace[key] = path
	}
	args := []string{"--subject-name", "ghcr.io/acme/app-%d:1.0", "--scanner-version", "0.58.1"}
	return "", args, nil
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
