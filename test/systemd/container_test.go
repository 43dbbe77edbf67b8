package systemd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signerd/signerd/test/testenv"
)

// container is systemd 252 booted with systemd-nspawn on the host's own
// /usr (--volatile=yes: a fresh tmpfs root, nothing to build), with
// signerd installed by make install into a staging tree that is
// bind-mounted in.
type container struct {
	t      *testing.T
	leader int
	stage  string
	cmd    *exec.Cmd
	logf   *os.File
}

// containerConfig is the daemon config used inside the container: the
// shipped defaults with one tenant for root.
const containerConfig = `tenants:
  - name: root
    predicate_types: ["*"]
    callers:
      - uid: 0
`

func bootContainer(t *testing.T) *container {
	t.Helper()
	testenv.RequireRoot(t)
	for _, tool := range []string{"systemd-nspawn", "nsenter", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found; run make test-deps", tool)
		}
	}

	c := &container{t: t, stage: testenv.ShortTempDir(t)}
	c.install()

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	logPath := filepath.Join(c.stage, "nspawn.log")
	if c.logf, err = os.Create(logPath); err != nil {
		t.Fatal(err)
	}

	cgroups := makeCgroups(t)
	var script strings.Builder
	for _, cg := range cgroups {
		fmt.Fprintf(&script, "echo $$ > %s/cgroup.procs || exit 1\n", cg)
	}
	script.WriteString(`exec "$@"`)

	args := []string{"-c", script.String(), "nspawn",
		"systemd-nspawn", "--register=no", "--keep-unit", "-D", "/", "--volatile=yes",
		"--bind=" + c.stage + "/etc/systemd/system:/etc/systemd/system",
		"--bind-ro=" + c.stage + "/etc/sysusers.d:/etc/sysusers.d",
		"--bind-ro=" + c.stage + "/etc/tmpfiles.d:/etc/tmpfiles.d",
		"--bind-ro=" + c.stage + "/etc/signerd:/etc/signerd",
		"--bind-ro=" + c.stage + "/opt/signerd:/opt/signerd",
		"--bind-ro=" + self + ":/opt/signerd-test/systemd.test",
		// An empty /etc makes systemd enable every unit by preset at
		// first boot; the preset keeps signerd off until the test starts
		// its sockets.
		"--bind-ro=" + c.stage + "/preset:/etc/systemd/system-preset",
		// The first-boot wizard would wait for a key press on the console.
		"-b", "systemd.firstboot=off",
	}
	c.cmd = exec.Command("/bin/sh", args...)
	c.cmd.Stdout, c.cmd.Stderr = c.logf, c.logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { c.cmd.Wait(); close(exited) }()

	t.Cleanup(func() {
		c.stop(exited)
		removeCgroups(t, cgroups)
		if t.Failed() {
			data, _ := os.ReadFile(logPath)
			t.Logf("container console (last 4 KiB):\n%s", tail(data, 4096))
		}
	})

	c.leader = waitForLeader(t, c.cmd.Process.Pid, exited)

	// is-system-running --wait returns "offline" at once while the
	// container's systemd is not yet on its bus, so poll.
	var state string
	c.waitFor("the container to finish booting", func() bool {
		out, _ := c.exec("systemctl", "is-system-running", "--wait")
		state = strings.TrimSpace(out)
		return state == "running" || state == "degraded"
	})
	t.Logf("container booted, system state %s", state)
	return c
}

// sigRTMin is glibc's SIGRTMIN, which systemd's signal numbers count from.
const sigRTMin = 34

// stop powers the container off. Killing nspawn alone would leave the
// container's processes running, so it signals the container's init:
// SIGRTMIN+4 asks systemd to power off, and SIGKILL on a pid namespace's
// init ends every process in it.
func (c *container) stop(exited <-chan struct{}) {
	if c.leader == 0 {
		c.cmd.Process.Kill()
		<-exited
		return
	}
	steps := []struct {
		sig  syscall.Signal
		wait time.Duration
	}{
		{sigRTMin + 4, 30 * time.Second},
		{syscall.SIGKILL, 30 * time.Second},
	}
	for _, s := range steps {
		syscall.Kill(c.leader, s.sig)
		select {
		case <-exited:
			return
		case <-time.After(s.wait):
			c.t.Logf("container did not stop within %s of signal %d", s.wait, s.sig)
		}
	}
	c.cmd.Process.Kill()
	<-exited
}

// install runs make install into the staging tree, with the paths the
// container mounts.
func (c *container) install() {
	t := c.t
	cmd := exec.Command("make", "--no-print-directory", "install",
		"BIN="+testenv.Binaries(t),
		"DESTDIR="+c.stage,
		"PREFIX=/opt/signerd",
		"UNITDIR=/etc/systemd/system",
		"SYSUSERSDIR=/etc/sysusers.d",
		"TMPFILESDIR=/etc/tmpfiles.d")
	cmd.Dir = testenv.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	writeFile(t, filepath.Join(c.stage, "etc", "signerd"), "signerd.yaml", containerConfig)

	preset := filepath.Join(c.stage, "preset")
	if err := os.Mkdir(preset, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, preset, "00-signerd-test.preset", "disable signerd.service\ndisable signerd.socket\ndisable signerd-admin.socket\n")
}

// exec runs a command in the container's namespaces. It runs in the
// host's cgroup, so use it only for systemctl, journalctl and the like;
// run clients with run.
func (c *container) exec(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return c.execCtx(ctx, args...)
}

func (c *container) execCtx(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"-t", strconv.Itoa(c.leader), "-a"}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", full...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// mustExec is exec that fails the test on error.
func (c *container) mustExec(args ...string) string {
	c.t.Helper()
	out, err := c.exec(args...)
	if err != nil {
		c.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// run starts args as a transient service of the container's systemd and
// waits for it, so the process lives in the container's cgroup as a real
// client would.
func (c *container) run(env []string, args ...string) (string, error) {
	full := []string{"systemd-run", "--wait", "--pipe", "--quiet", "--collect"}
	for _, e := range env {
		full = append(full, "-E", e)
	}
	return c.exec(append(full, args...)...)
}

// property returns one property of a unit, as systemctl show prints it.
func (c *container) property(unit, name string) string {
	c.t.Helper()
	return strings.TrimSpace(c.mustExec("systemctl", "show", "-p", name, "--value", unit))
}

// waitFor polls cond until it holds or 60 seconds pass.
func (c *container) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after 60s waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// journal runs journalctl with args until its output contains want, for
// up to 30 seconds, and returns the last output. journald stores a line
// some time after the daemon wrote it, so a single query can miss it.
func (c *container) journal(want string, args ...string) string {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := c.mustExec(append([]string{"journalctl", "--no-pager"}, args...)...)
		if strings.Contains(out, want) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hostPath returns the host path of a file inside the container.
func (c *container) hostPath(p string) string {
	return filepath.Join("/proc", strconv.Itoa(c.leader), "root", p)
}

// waitForLeader returns the host pid of the container's init. nspawn
// forks through a short-lived intermediate child, so the leader is the
// descendant that runs systemd in a pid namespace other than nspawn's.
func waitForLeader(t *testing.T, nspawn int, exited <-chan struct{}) int {
	t.Helper()
	hostNS, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", nspawn))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(60 * time.Second)
	for {
		for _, pid := range descendants(nspawn) {
			ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if ns != "" && ns != hostNS && strings.TrimSpace(string(comm)) == "systemd" {
				return pid
			}
		}
		select {
		case <-exited:
			t.Fatal("systemd-nspawn exited before starting the container")
		case <-deadline:
			t.Fatal("systemd-nspawn started no container within 60s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// descendants lists the children of pid and theirs, from /proc.
func descendants(pid int) []int {
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			for _, field := range strings.Fields(string(data)) {
				if child, err := strconv.Atoi(field); err == nil {
					out = append(out, child)
					queue = append(queue, child)
				}
			}
		}
	}
	return out
}

// makeCgroups creates a cgroup of the test's own in each hierarchy that
// systemd uses, so the container's systemd builds its tree under it and
// leaves nothing in the host's root cgroup. On a hybrid host that is the
// unified hierarchy and the name=systemd one; on a unified host, one.
func makeCgroups(t *testing.T) []string {
	t.Helper()
	var roots []string
	switch {
	case exists("/sys/fs/cgroup/cgroup.controllers"):
		roots = []string{"/sys/fs/cgroup"}
	case exists("/sys/fs/cgroup/unified/cgroup.procs") && exists("/sys/fs/cgroup/systemd/cgroup.procs"):
		roots = []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"}
	default:
		t.Skip("no cgroup2 or name=systemd hierarchy mounted under /sys/fs/cgroup")
	}

	var b [6]byte
	rand.Read(b[:])
	name := "signerd-test-" + hex.EncodeToString(b[:])
	var out []string
	for _, r := range roots {
		p := filepath.Join(r, name)
		if err := os.Mkdir(p, 0o755); err != nil {
			removeCgroups(t, out)
			t.Fatalf("create cgroup: %v", err)
		}
		out = append(out, p)
	}
	return out
}

// removeCgroups removes the cgroups and everything the container left in
// them, deepest first. A cgroup whose last process is still exiting
// refuses removal for a moment, so it retries.
func removeCgroups(t *testing.T, cgroups []string) {
	for _, root := range cgroups {
		for try := 0; ; try++ {
			var dirs []string
			filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, p)
				}
				return nil
			})
			sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
			var lastErr error
			for _, d := range dirs {
				if err := os.Remove(d); err != nil {
					lastErr = err
				}
			}
			if lastErr == nil || try == 50 {
				if lastErr != nil {
					t.Errorf("cgroup %s left behind: %v", root, lastErr)
				}
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func tail(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return b[len(b)-n:]
}
