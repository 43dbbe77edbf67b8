// Package testenv finds what signerd's tests need outside the Go test
// binary: the repository root, the real-world data in ../shared, tools
// that make test installs (cosign), and freshly built signerd binaries.
//
// Helpers skip the test with a message saying what is missing, so a
// developer without root or without ../shared still gets a useful run,
// and CI, which has both, runs every case.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// RepoRoot returns the repository's root directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the testenv source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedDir returns the shared test data directory: $SIGNERD_SHARED, or
// ../shared beside the repository. It skips the test when neither exists.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("SIGNERD_SHARED")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "..", "shared")
	}
	if st, err := os.Stat(filepath.Join(dir, "testdata", "realworld")); err != nil || !st.IsDir() {
		t.Skipf("shared test data not found at %s (set SIGNERD_SHARED); skipping real-world cases", dir)
	}
	return dir
}

// RealWorld returns the path of a file under shared/testdata/realworld.
func RealWorld(t testing.TB, rel string) string {
	t.Helper()
	return filepath.Join(SharedDir(t), "testdata", "realworld", rel)
}

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CI runs as root); skipping")
	}
}

// Tool returns the path of a tool that make test installs into
// $SIGNERD_TOOLS_BIN (default ~/.cache/signerd-tools/bin), or from PATH.
// It skips the test when the tool is missing.
func Tool(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("SIGNERD_TOOLS_BIN")
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".cache", "signerd-tools", "bin")
		}
	}
	if p := filepath.Join(dir, name); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Skipf("%s not found in %s or PATH; run make test-deps", name, dir)
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	buildOut  []byte
)

// Binaries builds signerd and signerctl once per test binary and returns
// the directory that holds them. The directory is world-readable and
// world-executable so tests can run the client under other uids.
func Binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "signerd-bin-")
		if buildErr != nil {
			return
		}
		if buildErr = os.Chmod(buildDir, 0o755); buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", buildDir+"/",
			"./daemon/cmd/signerd", "./client/cmd/signerctl")
		cmd.Dir = RepoRoot(t)
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build binaries: %v\n%s", buildErr, buildOut)
	}
	return buildDir
}
