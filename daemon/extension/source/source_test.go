package source

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

func TestPushPullFetch(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	wasm := append([]byte("\x00asm\x01\x00\x00\x00"), []byte("module body")...)

	pinned, err := Push(ctx, wasm, host+"/ext/check:v1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pinned, "oci://"+host+"/ext/check@sha256:") {
		t.Fatalf("Push() = %q, want a digest reference", pinned)
	}

	cache := t.TempDir()
	got, err := Fetch(ctx, pinned, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, wasm) {
		t.Fatalf("Fetch() returned %q, want the pushed module", got)
	}

	// Without a tag the module goes to latest; without a registry it is
	// refused rather than sent to a default one.
	untagged, err := Push(ctx, wasm, host+"/ext/check")
	if err != nil || untagged != pinned {
		t.Errorf("Push() without a tag = %q, %v; want %q", untagged, err, pinned)
	}
	if _, err := Push(ctx, wasm, "ext/check:v1"); err == nil || !strings.Contains(err.Error(), "registry spelled out") {
		t.Errorf("Push() without a registry: error = %v, want one asking for the registry", err)
	}

	// A second fetch is served from the cache even with the registry gone.
	srv.Close()
	got, err = Fetch(ctx, pinned, Options{CacheDir: cache})
	if err != nil || !bytes.Equal(got, wasm) {
		t.Fatalf("cached Fetch() = %q, %v", got, err)
	}
}

func TestFetchRejects(t *testing.T) {
	dir := t.TempDir()
	notWasm := filepath.Join(dir, "x.wasm")
	os.WriteFile(notWasm, []byte("#!/bin/sh"), 0o600)
	cases := []struct {
		src, want string
	}{
		{"oci://localhost:1/ext/check:v1", "must be REGISTRY/REPOSITORY@sha256:HEX"},
		{notWasm, "not a WebAssembly binary"},
		{filepath.Join(dir, "missing.wasm"), "no such file"},
	}
	for _, tc := range cases {
		_, err := Fetch(context.Background(), tc.src, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Fetch(%q) = %v, want an error mentioning %q", tc.src, err, tc.want)
		}
	}
}

// TestFetchReplacesDamagedCache damages the cached copy of a pulled module
// and checks that a fetch with the module's pin pulls it again, and that a
// pull that does not match the pin is not cached.
func TestFetchReplacesDamagedCache(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	wasm := append([]byte("\x00asm\x01\x00\x00\x00"), []byte("module body")...)
	sum := sha256.Sum256(wasm)
	pin := hex.EncodeToString(sum[:])

	pinned, err := Push(ctx, wasm, host+"/ext/check:v1")
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	if _, err := Fetch(ctx, pinned, Options{CacheDir: cache, SHA256: pin}); err != nil {
		t.Fatal(err)
	}
	entries, err := filepath.Glob(filepath.Join(cache, "*.wasm"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache holds %v (%v), want one module", entries, err)
	}
	if err := os.WriteFile(entries[0], []byte("damaged"), 0o600); err != nil {
		t.Fatal(err)
	}

	got, err := Fetch(ctx, pinned, Options{CacheDir: cache, SHA256: pin})
	if err != nil || !bytes.Equal(got, wasm) {
		t.Fatalf("Fetch() after damage = %q, %v; want the pushed module", got, err)
	}
	if b, _ := os.ReadFile(entries[0]); !bytes.Equal(b, wasm) {
		t.Errorf("cache holds %q after the new pull, want the module", b)
	}

	os.Remove(entries[0])
	if _, err := Fetch(ctx, pinned, Options{CacheDir: cache, SHA256: strings.Repeat("0", 64)}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(entries[0]); !os.IsNotExist(err) {
		t.Errorf("a module that does not match its pin was cached (stat: %v)", err)
	}
}
