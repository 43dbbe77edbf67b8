package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	wasmMu    sync.Mutex
	wasmBuilt = map[string]string{}
	wasmDir   string
)

// GuestModule builds the Go package pkg (a path relative to the repository
// root, such as "extensions/allowlist") as a wasip1 reactor module, once per
// test binary, and returns the .wasm path. Go's build cache makes a rebuild
// of an unchanged package cheap.
func GuestModule(t testing.TB, pkg string) string {
	t.Helper()
	wasmMu.Lock()
	defer wasmMu.Unlock()
	if p, ok := wasmBuilt[pkg]; ok {
		return p
	}
	root := RepoRoot(t)
	if wasmDir == "" {
		d, err := os.MkdirTemp("", "signerd-wasm-")
		if err != nil {
			t.Fatal(err)
		}
		wasmDir = d
	}
	out := filepath.Join(wasmDir, strings.ReplaceAll(pkg, "/", "_")+".wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-buildmode=c-shared", "-o", out, "./"+pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s for wasip1: %v\n%s", pkg, err, b)
	}
	wasmBuilt[pkg] = out
	return out
}

// WAT compiles a WebAssembly text file with wat2wasm and returns the binary.
func WAT(t testing.TB, path string) []byte {
	t.Helper()
	tool := Tool(t, "wat2wasm")
	out := filepath.Join(t.TempDir(), filepath.Base(path)+".wasm")
	if b, err := exec.Command(tool, path, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm %s: %v\n%s", path, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
