package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// SoftHSM is a SoftHSM2 token initialized in a temporary directory.
type SoftHSM struct {
	// Module is the PKCS#11 module's path.
	Module string
	// Token is the token label.
	Token string
	// PIN is the user PIN, and PINFile a 0600 file that holds it.
	PIN, PINFile string
	// Conf is the SoftHSM2 config file, set as SOFTHSM2_CONF.
	Conf string
}

// softhsmModules are where Debian's softhsm2 package puts the module.
var softhsmModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
}

// StartSoftHSM initializes a SoftHSM2 token labelled "signerd" in a new
// directory and points SOFTHSM2_CONF at it for the rest of the test (so the
// test must not run in parallel). It skips when SoftHSM2 is not installed.
func StartSoftHSM(t testing.TB) *SoftHSM {
	t.Helper()
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		t.Skip("softhsm2-util not installed (Debian package softhsm2; make test installs it); skipping")
	}
	h := &SoftHSM{Token: "signerd", PIN: "5678"}
	for _, m := range softhsmModules {
		if _, err := os.Stat(m); err == nil {
			h.Module = m
			break
		}
	}
	if h.Module == "" {
		t.Skipf("SoftHSM2 module not found in %v; skipping", softhsmModules)
	}

	dir := ShortTempDir(t)
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	h.Conf = filepath.Join(dir, "softhsm2.conf")
	conf := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\n"
	if err := os.WriteFile(h.Conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	h.PINFile = filepath.Join(dir, "pin")
	if err := os.WriteFile(h.PINFile, []byte(h.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", h.Conf)

	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", h.Token,
		"--so-pin", "1234", "--pin", h.PIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return h
}
