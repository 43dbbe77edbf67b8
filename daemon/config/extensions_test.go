package config

import (
	"errors"
	"strings"
	"testing"
)

const extBase = `state_dir: /var/lib/signerd
tenants:
  - name: team-a
    predicate_types: ["*"]
    callers:
      - uid: 1000
    extensions:
`

func TestExtensionsValid(t *testing.T) {
	cfg, err := Load("test.yaml", []byte(extBase+`      - name: sbom
        source: /usr/lib/signerd/extensions/sbomgate.wasm
        sha256: `+strings.Repeat("a", 64)+`
        timeout: 250ms
        memory_pages: 256
        config:
          max_components: 100
          component_types: [library]
      - name: registries
        source: oci://registry.example.com/acme/allowlist@sha256:`+strings.Repeat("b", 64)+`
        sha256: `+strings.Repeat("c", 64)+`
`))
	if err != nil {
		t.Fatal(err)
	}
	exts := cfg.Tenants[0].Extensions
	if len(exts) != 2 {
		t.Fatalf("got %d extensions, want 2", len(exts))
	}
	if got := string(exts[0].Config.JSON); got != `{"component_types":["library"],"max_components":100}` {
		t.Errorf("config JSON = %s", got)
	}
	if got := exts[0].EffectiveTimeout().String(); got != "250ms" {
		t.Errorf("timeout = %s, want 250ms", got)
	}
	if exts[1].EffectiveMemoryPages() != DefaultExtensionMemoryPages || exts[1].Config.JSON != nil {
		t.Errorf("defaults not applied: %+v", exts[1])
	}
}

func TestExtensionsInvalid(t *testing.T) {
	pin := strings.Repeat("a", 64)
	cases := []struct {
		name, yaml, path, want string
	}{
		{"relative path", `      - {name: a, source: ext.wasm, sha256: ` + pin + `}`, "source", "absolute"},
		{"OCI tag", `      - {name: a, source: "oci://r.example.com/x:v1", sha256: ` + pin + `}`, "source", "pinned by digest"},
		{"short pin", `      - {name: a, source: /x.wasm, sha256: abc}`, "sha256", "64 lower-case hex"},
		{"upper-case pin", `      - {name: a, source: /x.wasm, sha256: ` + strings.ToUpper(pin) + `}`, "sha256", "64 lower-case hex"},
		{"duplicate", `      - {name: a, source: /x.wasm, sha256: ` + pin + `}
      - {name: a, source: /y.wasm, sha256: ` + pin + `}`, "name", "listed twice"},
		{"timeout too long", `      - {name: a, source: /x.wasm, sha256: ` + pin + `, timeout: 1m}`, "timeout", "out of range"},
		{"memory too large", `      - {name: a, source: /x.wasm, sha256: ` + pin + `, memory_pages: 100000}`, "memory_pages", "1 GiB"},
		{"signature key on a file source", `      - {name: a, source: /x.wasm, sha256: ` + pin + `, signature_key: {file: /k.pem}}`, "signature_key", "applies to oci:// sources"},
		{"signature key without pem or file", `      - {name: a, source: "oci://r.example.com/x@sha256:` + pin + `", sha256: ` + pin + `, signature_key: {name: k}}`, "signature_key", "exactly one of pem and file"},
		{"signature key not a key", `      - {name: a, source: "oci://r.example.com/x@sha256:` + pin + `", sha256: ` + pin + `, signature_key: {pem: "not a key"}}`, "signature_key", "key"},
		{"signature key as a string", `      - {name: a, source: "oci://r.example.com/x@sha256:` + pin + `", sha256: ` + pin + `, signature_key: /k.pem}`, "signature_key", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("test.yaml", []byte(extBase+tc.yaml+"\n"))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load() = %v, want *Error", err)
			}
			found := false
			for _, p := range ce.Problems {
				if strings.HasSuffix(p.Path, "."+tc.path) && strings.Contains(p.Message, tc.want) && p.Line > 0 {
					found = true
				}
			}
			if !found {
				t.Fatalf("no problem at *.%s mentioning %q with a line; got:\n%v", tc.path, tc.want, err)
			}
		})
	}
}

func TestExtensionConfigNotMapping(t *testing.T) {
	_, err := Load("test.yaml", []byte(extBase+`      - {name: a, source: /x.wasm, sha256: `+strings.Repeat("a", 64)+`, config: [1, 2]}`+"\n"))
	if err == nil || !strings.Contains(err.Error(), "must be a mapping") {
		t.Fatalf("Load() = %v, want a mapping error", err)
	}
}
