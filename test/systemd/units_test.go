package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/signerd/signerd/test/testenv"
)

// maxExposure is the systemd-analyze security score the shipped service
// must not exceed; docs/operations.md explains each remaining item.
const maxExposure = 1.6

// installUnits runs make install with every path under one temporary
// directory, so the units name binaries that exist on this host.
func installUnits(t *testing.T) string {
	t.Helper()
	dir := testenv.ShortTempDir(t)
	cmd := exec.Command("make", "--no-print-directory", "install",
		"BIN="+testenv.Binaries(t),
		"PREFIX="+dir,
		"UNITDIR="+dir+"/units",
		"SYSCONFDIR="+dir+"/etc")
	cmd.Dir = testenv.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	return filepath.Join(dir, "units")
}

func TestUnitsVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not found")
	}
	units := installUnits(t)

	// systemd-analyze verify exits 0 even when it warns, so any output
	// is a failure.
	cmd := exec.Command("systemd-analyze", "verify",
		filepath.Join(units, "signerd.service"),
		filepath.Join(units, "signerd.socket"),
		filepath.Join(units, "signerd-admin.socket"))
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The connect guard's drop-in must merge cleanly with the unit.
	dropin := filepath.Join(units, "signerd.service.d")
	if err := os.Mkdir(dropin, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "systemd", "signerd.service.d", "guard.conf"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dropin, "guard.conf", string(data))
	out, err = exec.Command("systemd-analyze", "verify", filepath.Join(units, "signerd.service")).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify with the guard drop-in: %v\n%s", err, out)
	}
}

func TestUnitsExposure(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not found")
	}
	units := installUnits(t)

	out, err := exec.Command("systemd-analyze", "security", "--offline=true",
		filepath.Join(units, "signerd.service")).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for signerd\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	if score > maxExposure {
		t.Fatalf("exposure level %.1f exceeds %.1f; a hardening setting was weakened:\n%s", score, maxExposure, out)
	}
	t.Logf("exposure level %.1f", score)
}
