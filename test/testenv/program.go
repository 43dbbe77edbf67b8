package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	programsMu sync.Mutex
	programs   = map[string]string{}
)

// Program builds the main package pkg (relative to the repository root,
// such as "./test/peerclient") once per test binary and returns the
// executable's path. Its directory is mode 0755, so tests can run it
// under other uids.
func Program(t testing.TB, pkg string) string {
	t.Helper()
	programsMu.Lock()
	defer programsMu.Unlock()
	if p, ok := programs[pkg]; ok {
		return p
	}

	dir, err := os.MkdirTemp("", "signerd-prog-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = RepoRoot(t)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, msg)
	}
	programs[pkg] = out
	return out
}
