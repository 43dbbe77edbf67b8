package guard

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/signerd/signerd/test/testenv"
)

// Uids of the test clients; neither needs to exist in /etc/passwd.
const (
	uidAllowed = 40001
	uidOther   = 40002
)

// testCgroups is a cgroup v2 subtree made for one test: the guard is
// attached to Root, so no task outside the test is checked.
type testCgroups struct {
	Root    string
	Allowed string
	Nested  string // a child of Allowed
	Other   string
}

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted.
func cgroup2Mount(t testing.TB) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, field := range fields {
			if field == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" {
				return fields[4]
			}
		}
	}
	t.Skip("no cgroup v2 mount found; the guard needs the unified hierarchy")
	return ""
}

// newTestCgroups creates the subtree and removes it when the test ends.
func newTestCgroups(t testing.TB) testCgroups {
	t.Helper()
	root, err := os.MkdirTemp(cgroup2Mount(t), "signerd-guard-test-")
	if err != nil {
		t.Fatalf("create test cgroup: %v", err)
	}
	// MkdirTemp creates the directory 0700; real cgroups are 0755, and an
	// unprivileged daemon must be able to open its attach cgroup.
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	cg := testCgroups{
		Root:    root,
		Allowed: filepath.Join(root, "allowed"),
		Nested:  filepath.Join(root, "allowed", "nested"),
		Other:   filepath.Join(root, "other"),
	}
	for _, dir := range []string{cg.Allowed, cg.Nested, cg.Other} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("create test cgroup: %v", err)
		}
	}
	t.Cleanup(func() {
		for _, dir := range []string{cg.Nested, cg.Allowed, cg.Other, cg.Root} {
			if err := os.Remove(dir); err != nil {
				t.Errorf("remove test cgroup: %v", err)
			}
		}
	})
	return cg
}

// mountBPFFS mounts a private bpf file system and returns a pin directory
// inside it, so tests never touch /sys/fs/bpf.
func mountBPFFS(t testing.TB) string {
	t.Helper()
	dir := testenv.ShortTempDir(t)
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mount bpffs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount bpffs: %v", err)
		}
	})
	return filepath.Join(dir, "signerd")
}

// openDir returns a world-searchable directory for sockets and the client
// binary.
func openDir(t testing.TB) string {
	t.Helper()
	dir := testenv.ShortTempDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// listen serves a Unix socket that any uid may connect to and closes every
// connection it accepts.
func listen(t testing.TB, path string) *net.UnixListener {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l
}

var (
	clientOnce sync.Once
	clientBin  string
	clientErr  error
)

// clientBinary copies the test binary to a directory every uid can read,
// because go test builds it in a private one.
func clientBinary(t testing.TB) string {
	t.Helper()
	clientOnce.Do(func() {
		var self string
		if self, clientErr = os.Executable(); clientErr != nil {
			return
		}
		var dir string
		if dir, clientErr = os.MkdirTemp("", "signerd-guard-client-"); clientErr != nil {
			return
		}
		if clientErr = os.Chmod(dir, 0o755); clientErr != nil {
			return
		}
		clientBin = filepath.Join(dir, "client")
		var in, out *os.File
		if in, clientErr = os.Open(self); clientErr != nil {
			return
		}
		defer in.Close()
		if out, clientErr = os.OpenFile(clientBin, os.O_CREATE|os.O_WRONLY, 0o755); clientErr != nil {
			return
		}
		_, clientErr = io.Copy(out, in)
		if err := out.Close(); clientErr == nil {
			clientErr = err
		}
	})
	if clientErr != nil {
		t.Fatalf("prepare client binary: %v", clientErr)
	}
	return clientBin
}

// connectAs runs a client process in cgroup under uid that connects to
// path (and, with sendSign, sends a sign request) and returns its result.
// env adds client settings such as envClientAddrLen.
func connectAs(t testing.TB, cgroup string, uid uint32, path string, sendSign bool, env ...string) clientResult {
	t.Helper()
	cgfd, err := unix.Open(cgroup, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open cgroup %s: %v", cgroup, err)
	}
	defer unix.Close(cgfd)

	cmd := exec.Command(clientBinary(t))
	cmd.Env = []string{envClientSocket + "=" + path}
	if sendSign {
		cmd.Env = append(cmd.Env, envClientHTTP+"=1")
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: uid, Gid: uid},
		UseCgroupFD: true,
		CgroupFD:    cgfd,
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client uid %d in %s: %v\n%s", uid, cgroup, err, stderr.String())
	}
	var res clientResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	return res
}

func (r clientResult) String() string {
	if r.Status != 0 {
		return strings.TrimSpace(fmt.Sprintf("%s, %d %s", r.Connect, r.Status, r.Code))
	}
	return r.Connect
}
