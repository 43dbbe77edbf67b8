package extension

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signerd/signerd/test/testenv"
)

func TestInstrumentRejects(t *testing.T) {
	dir := t.TempDir()
	simd := filepath.Join(dir, "simd.wat")
	os.WriteFile(simd, []byte(`(module (func (export "f") (drop (v128.const i64x2 0 0))))`), 0o600)

	cases := []struct {
		name string
		wasm []byte
		want string
	}{
		{"not wasm", []byte("#!/bin/sh\n"), "missing \\0asm magic"},
		{"version 2", []byte("\x00asm\x02\x00\x00\x00"), "binary version"},
		{"truncated", wat(t, "fresh")[:40], "unexpected end"},
		{"SIMD", testenv.WAT(t, simd), "unsupported instruction 0xfd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := instrument(tc.wasm)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("instrument() = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestInstrumentForgedGlobal builds a module whose code names the global
// index the host's stop flag would take. The rewriter must reject it, or
// the guest could clear its own stop flag.
func TestInstrumentForgedGlobal(t *testing.T) {
	// fresh.wat has one global; its signer_check sets global 0. Redirect
	// that global.set to index 1, which only exists after the rewrite.
	wasm := wat(t, "fresh")
	at := bytes.Index(wasm, []byte{0x24, 0x00}) // global.set 0
	if at < 0 {
		t.Fatal("global.set 0 not found in fresh.wat")
	}
	forged := bytes.Clone(wasm)
	forged[at+1] = 0x01
	_, err := instrument(forged)
	if err == nil || !strings.Contains(err.Error(), "refers to global 1") {
		t.Fatalf("instrument() = %v, want the forged global index rejected", err)
	}
}

// TestInstrumentExportsStopFlag checks a module without a global section
// gets one; TestRawABIExample shows the result still validates and runs.
func TestInstrumentExportsStopFlag(t *testing.T) {
	wasm, err := instrument(testenv.WAT(t, filepath.Join(testenv.RepoRoot(t), "guest", "examples", "raw-abi.wat")))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(wasm, []byte(stopGlobalExport)) {
		t.Fatal("instrumented module does not export the stop flag")
	}
}
