package testenv

import (
	"flag"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// netnsMarker is set in the environment of a test binary re-executed in a
// private network namespace.
const netnsMarker = "SIGNERD_TEST_NETNS"

// InPrivateNetwork reports whether the test runs in a private network
// namespace with only loopback up. When it does not, it re-runs this one
// test (t.Name()) under `unshare -n` and reports its result as this test's,
// and the caller must return. A benchmark's output from the namespace goes
// to stdout, where go test prints benchmark results, and the outer run of
// the benchmark is skipped:
//
//	if !testenv.InPrivateNetwork(t) {
//		return
//	}
//
// Services that listen on every interface (the local KMS emulator) are
// safe to start inside, because nothing outside the namespace can reach
// them. It needs root and skips without it.
func InPrivateNetwork(t testing.TB) bool {
	t.Helper()
	if os.Getenv(netnsMarker) == t.Name() {
		return true
	}
	RequireRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (Debian package iproute2) not installed; skipping")
	}

	pattern := "^" + strings.ReplaceAll(t.Name(), "/", "$/^") + "$"
	args := []string{"-n", "--", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, os.Args[0]}
	_, bench := t.(*testing.B)
	if bench {
		args = append(args, "-test.run", "^$", "-test.bench", pattern, "-test.benchmem")
		if f := flag.Lookup("test.benchtime"); f != nil {
			args = append(args, "-test.benchtime", f.Value.String())
		}
	} else {
		args = append(args, "-test.run", pattern, "-test.v", "-test.count=1")
	}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), netnsMarker+"="+t.Name())
	if bench {
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("benchmark failed in its network namespace: %v", err)
		}
		t.Skip("measured in a private network namespace; see the lines above")
	}
	out, err := cmd.CombinedOutput()
	t.Logf("in a private network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("test failed in its network namespace: %v", err)
	}
	if strings.Contains(string(out), "--- SKIP: "+t.Name()) {
		t.Skip("skipped in its network namespace")
	}
	return false
}
