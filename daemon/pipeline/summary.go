package pipeline

import (
	"time"

	"github.com/signerd/signerd/daemon/api"
)

// Summary describes the state for status output.
func (s *State) Summary() api.StateSummary {
	return api.StateSummary{
		Tenants:    len(s.Config.Tenants),
		Extensions: s.extensionCount(),
		KeyBackend: keyBackend(s.Signer.URI()),
		KeyHint:    s.KeyHint,
		LoadedAt:   s.LoadedAt.UTC().Format(time.RFC3339),
	}
}

// KeyBackend returns the URI scheme of the state's key, for example
// "file".
func (s *State) KeyBackend() string { return s.keyBackend }

// extensionCount returns how many extension modules the state runs, over
// all tenants.
func (s *State) extensionCount() int {
	n := 0
	for _, exts := range s.extensions {
		n += len(exts)
	}
	return n
}
