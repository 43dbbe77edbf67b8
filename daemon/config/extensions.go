package config

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Extension is one WASM check a tenant runs before signing. A tenant's
// extensions run in the order listed and all must allow.
type Extension struct {
	// Name labels the extension in denials and logs; unique per tenant.
	Name string `yaml:"name"`

	// Source is a file path (absolute) or an OCI reference pinned by
	// digest: oci://REGISTRY/REPOSITORY@sha256:HEX.
	Source string `yaml:"source"`

	// SHA256 pins the module's bytes (hex). A module with other bytes is
	// refused.
	SHA256 string `yaml:"sha256"`

	// Config is handed to the module as its config object.
	Config ExtensionSettings `yaml:"config"`

	// Timeout is the deadline of one check (default 100ms).
	Timeout Duration `yaml:"timeout"`

	// MemoryPages caps the module's memory in 64 KiB pages (default 512,
	// 32 MiB).
	MemoryPages uint32 `yaml:"memory_pages"`

	// MaxPredicateBytes is the largest predicate handed to the module
	// (default 1 MiB); a larger one is replaced by its SHA-256 alone.
	MaxPredicateBytes int `yaml:"max_predicate_bytes"`

	// SignatureKey, when set, is the publisher's public key (pem or file).
	// An OCI source is then loaded only when its manifest digest carries
	// a signature this key verifies (a Sigstore bundle or a cosign
	// signature, found as for a scanner image's release), on top of the
	// sha256 pin. The pin alone says which bytes; the signature says who
	// published them.
	SignatureKey *TrustedKey `yaml:"signature_key"`
}

// Default extension limits.
const (
	DefaultExtensionTimeout      = 100 * time.Millisecond
	DefaultExtensionMemoryPages  = 512
	DefaultExtensionMaxPredicate = 1 << 20
	maxExtensionTimeout          = 10 * time.Second
	maxExtensionMemoryPages      = 16384 // 1 GiB
)

// ExtensionSettings is a YAML mapping kept as JSON for the module.
type ExtensionSettings struct {
	JSON json.RawMessage
}

// UnmarshalYAML converts the mapping to JSON.
func (s *ExtensionSettings) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		found := "a list"
		if n.Kind == yaml.ScalarNode {
			found = fmt.Sprintf("the value %q", n.Value)
		}
		return typeErrorf(n, "extension config must be a mapping of settings, but is %s; write key: value pairs, for example config: {team: %s}", found, exampleSetting(n))
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return typeErrorf(n, "extension config cannot be expressed as JSON: %v; use string keys and plain values", err)
	}
	s.JSON = b
	return nil
}

// exampleSetting returns a value for the example in the message about a
// config that is not a mapping: the scalar's own value when it is short.
func exampleSetting(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && n.Value != "" && len(n.Value) <= 40 && !strings.ContainsAny(n.Value, ":{}[],#\n") {
		return n.Value
	}
	return "a"
}

var (
	extNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	sha256RE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	ociRefRE  = regexp.MustCompile(`^oci://[^@\s]+@sha256:[0-9a-f]{64}$`)
)

// OCISource is the scheme prefix of an OCI module source.
const OCISource = "oci://"

// EffectiveTimeout returns the timeout with its default.
func (e *Extension) EffectiveTimeout() time.Duration {
	if e.Timeout <= 0 {
		return DefaultExtensionTimeout
	}
	return time.Duration(e.Timeout)
}

// EffectiveMemoryPages returns the memory limit with its default.
func (e *Extension) EffectiveMemoryPages() uint32 {
	if e.MemoryPages == 0 {
		return DefaultExtensionMemoryPages
	}
	return e.MemoryPages
}

// EffectiveMaxPredicate returns the predicate size limit with its default.
func (e *Extension) EffectiveMaxPredicate() int {
	if e.MaxPredicateBytes <= 0 {
		return DefaultExtensionMaxPredicate
	}
	return e.MaxPredicateBytes
}

func (v *validator) checkExtensions(c *Config) {
	for i, t := range c.Tenants {
		names := map[string]int{}
		for j := range t.Extensions {
			e := &t.Extensions[j]
			path := fmt.Sprintf("tenants[%d].extensions[%d]", i, j)
			if !extNameRE.MatchString(e.Name) {
				v.addf(path+".name", "extension name %q is invalid; use 1 to 63 lower-case letters, digits, '.', '_' or '-'", e.Name)
			}
			if k, dup := names[e.Name]; dup {
				v.addf(path+".name", "extension %q is listed twice (also extensions[%d])", e.Name, k)
			}
			names[e.Name] = j

			switch {
			case strings.HasPrefix(e.Source, OCISource):
				if !ociRefRE.MatchString(e.Source) {
					v.addf(path+".source", "OCI source %q must be pinned by digest: oci://REGISTRY/REPOSITORY@sha256:HEX", e.Source)
				}
			case !AbsPath(e.Source):
				v.addf(path+".source", "source %q must be an absolute, clean file path or oci://REGISTRY/REPOSITORY@sha256:HEX", e.Source)
			}
			if !sha256RE.MatchString(e.SHA256) {
				v.addf(path+".sha256", "sha256 %q must be the module's SHA-256 as 64 lower-case hex digits (sha256sum MODULE.wasm)", e.SHA256)
			}
			if e.Timeout < 0 || time.Duration(e.Timeout) > maxExtensionTimeout {
				v.addf(path+".timeout", "timeout %v is out of range; use a value up to %v", time.Duration(e.Timeout), maxExtensionTimeout)
			}
			if e.MemoryPages > maxExtensionMemoryPages {
				v.addf(path+".memory_pages", "memory_pages %d is more than %d (1 GiB)", e.MemoryPages, maxExtensionMemoryPages)
			}
			if e.MaxPredicateBytes < 0 {
				v.addf(path+".max_predicate_bytes", "max_predicate_bytes must not be negative")
			}
			if e.SignatureKey != nil {
				if !strings.HasPrefix(e.Source, OCISource) {
					v.addf(path+".signature_key", "signature_key applies to oci:// sources; a file source has no signature to check, and its sha256 pin already fixes its bytes")
				}
				v.checkTrustedKey(path+".signature_key", e.SignatureKey)
			}
		}
	}
}

// IsSHA256Hex reports whether s is a SHA-256 written as 64 lower-case hex
// digits, the form of an extension's sha256 pin.
func IsSHA256Hex(s string) bool { return sha256RE.MatchString(s) }
