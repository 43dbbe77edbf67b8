package peercred_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/peercred"
	"github.com/signerd/signerd/test/testenv"
)

// client is a peerclient process started by a test.
type client struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// listen returns a Unix listener that every uid may connect to.
func listen(t *testing.T) (*net.UnixListener, string) {
	t.Helper()
	dir := testenv.ShortTempDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
	return l, path
}

// startClient runs prog with args under cred (nil: the test's own) and
// waits until it prints its first line.
func startClient(t *testing.T, cred *syscall.Credential, prog string, args ...string) *client {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &client{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("%s %v printed nothing: %v", prog, args, err)
	}
	if strings.TrimSpace(line) != "connected" {
		t.Fatalf("%s %v printed %q, want \"connected\"", prog, args, line)
	}
	return c
}

// exit closes the client's stdin and waits for it to end.
func (c *client) exit(t *testing.T) {
	t.Helper()
	c.stdin.Close()
	io.Copy(io.Discard, c.out)
	c.cmd.Wait()
}

func accept(t *testing.T, l *net.UnixListener) net.Conn {
	t.Helper()
	conn, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func read(t *testing.T, r *peercred.Reader, conn net.Conn) *peercred.Identity {
	t.Helper()
	id, err := r.Read(conn)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	t.Cleanup(func() { id.Close() })
	return id
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// copyExecutable copies src to a new 0755 file in dir, appending pad
// bytes, which an ELF executable ignores, so the copy runs and has its
// own inode and hash.
func copyExecutable(t *testing.T, src, dst string, pad int) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, make([]byte, pad)...)
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// publicDir returns a new directory other uids can read.
func publicDir(t *testing.T) string {
	t.Helper()
	dir := testenv.ShortTempDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReadSnapshotOfOtherUser(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Program(t, "./test/peerclient")
	l, sock := listen(t)

	cred := &syscall.Credential{Uid: 4001, Gid: 4002, Groups: []uint32{4100, 4101}}
	startClient(t, cred, prog, "-socket", sock, "-connect-only")
	id := read(t, peercred.NewReader(peercred.Options{}), accept(t, l))

	if id.UID != 4001 || id.GID != 4002 {
		t.Errorf("uid %d gid %d, want 4001 4002", id.UID, id.GID)
	}
	for _, g := range []uint32{4100, 4101} {
		if !slices.Contains(id.Groups, g) {
			t.Errorf("groups %v lack %d", id.Groups, g)
		}
	}
	if id.Exe.Path != prog {
		t.Errorf("executable %q, want %q", id.Exe.Path, prog)
	}
	if want := fileSHA256(t, prog); id.Exe.SHA256 != want {
		t.Errorf("sha256 %s, want %s", id.Exe.SHA256, want)
	}
	if id.Exe.Deleted {
		t.Error("executable reported deleted")
	}
	if id.Cgroup.Path == "" {
		t.Error("cgroup path is empty")
	}
	if id.StartTime == 0 {
		t.Error("start time is 0")
	}
	if !id.HasPIDFD() {
		t.Errorf("liveness %q, want pidfd on this kernel", id.Liveness)
	}
	if err := id.Recheck(); err != nil {
		t.Errorf("Recheck of a live caller: %v", err)
	}
}

func TestReadExecutableReplacedOnDisk(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Program(t, "./test/peerclient")
	dir := publicDir(t)
	path := filepath.Join(dir, "scanner")
	copyExecutable(t, prog, path, 0)
	original := fileSHA256(t, path)
	l, sock := listen(t)

	startClient(t, nil, path, "-socket", sock, "-connect-only")

	// Replace the file the way a package upgrade does: write a new file
	// and rename it over the old name.
	copyExecutable(t, prog, path+".new", 4096)
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}

	id := read(t, peercred.NewReader(peercred.Options{}), accept(t, l))
	if !id.Exe.Deleted {
		t.Error("replaced executable not reported deleted")
	}
	if id.Exe.Path != path {
		t.Errorf("executable %q, want %q without the deleted suffix", id.Exe.Path, path)
	}
	if id.Exe.SHA256 != original {
		t.Errorf("sha256 %s, want the running image's %s", id.Exe.SHA256, original)
	}
	if replaced := fileSHA256(t, path); id.Exe.SHA256 == replaced {
		t.Error("sha256 is the replacement file's, not the running image's")
	}
}

func TestReadHashBoundedAndCached(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Program(t, "./test/peerclient")
	dir := publicDir(t)
	large := filepath.Join(dir, "large")
	copyExecutable(t, prog, large, 48<<20)
	l, sock := listen(t)

	t.Run("over the limit", func(t *testing.T) {
		r := peercred.NewReader(peercred.Options{MaxHashBytes: 32 << 20})
		startClient(t, nil, large, "-socket", sock, "-connect-only")
		id := read(t, r, accept(t, l))
		if id.Exe.SHA256 != "" {
			t.Errorf("sha256 %s for an executable over the limit, want none", id.Exe.SHA256)
		}
		if !strings.Contains(id.Exe.HashSkipped, "over the hashing limit") {
			t.Errorf("hash skipped reason %q, want it to name the limit", id.Exe.HashSkipped)
		}
	})

	t.Run("second read from cache", func(t *testing.T) {
		r := peercred.NewReader(peercred.Options{MaxHashBytes: 64 << 20})
		want := fileSHA256(t, large)
		for i, wantCached := range []bool{false, true} {
			startClient(t, nil, large, "-socket", sock, "-connect-only")
			id := read(t, r, accept(t, l))
			if id.Exe.SHA256 != want {
				t.Errorf("read %d: sha256 %s, want %s", i, id.Exe.SHA256, want)
			}
			if id.Exe.HashCached != wantCached {
				t.Errorf("read %d: cached %v, want %v", i, id.Exe.HashCached, wantCached)
			}
		}
	})
}

// reusePID starts `prog -sleep` until it runs with pid, by setting the
// kernel's last allocated pid just below it. Other processes on the node
// may take the pid first, so it retries.
func reusePID(t *testing.T, prog string, pid int) {
	t.Helper()
	for attempt := 0; attempt < 50; attempt++ {
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			t.Skipf("cannot set ns_last_pid to force pid reuse: %v", err)
		}
		cmd := exec.Command(prog, "-sleep", "60s")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if cmd.Process.Pid == pid {
			t.Cleanup(func() {
				cmd.Process.Kill()
				cmd.Wait()
			})
			return
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
	t.Skipf("pid %d was not reused within 50 attempts", pid)
}

func TestPIDReuseRejected(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Program(t, "./test/peerclient")
	l, sock := listen(t)

	tests := []struct {
		name string
		opts peercred.Options
		// readFirst takes the snapshot while the client runs and then
		// expects Recheck to fail; otherwise Read itself must fail.
		readFirst bool
	}{
		{"pidfd at accept", peercred.Options{}, false},
		{"pidfd at recheck", peercred.Options{}, true},
		{"start time at recheck", peercred.Options{DisablePIDFD: true}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := peercred.NewReader(tc.opts)
			c := startClient(t, nil, prog, "-socket", sock, "-connect-only")
			conn := accept(t, l)
			pid := c.cmd.Process.Pid

			var id *peercred.Identity
			if tc.readFirst {
				id = read(t, r, conn)
			}

			c.exit(t)
			if tc.opts.DisablePIDFD {
				// The start-time check cannot tell apart two processes
				// started within one clock tick (10 ms), the documented
				// limit of that fallback, so let a tick pass.
				time.Sleep(30 * time.Millisecond)
			}
			reusePID(t, prog, pid)

			var err error
			if tc.readFirst {
				err = id.Recheck()
			} else {
				_, err = r.Read(conn)
			}
			if !errors.Is(err, peercred.ErrUnverifiable) {
				t.Fatalf("caller whose pid %d was reused was accepted (err %v)", pid, err)
			}
			t.Logf("rejected: %v", err)
		})
	}
}

func TestRecheckAfterExec(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Program(t, "./test/peerclient")
	dir := publicDir(t)
	other := filepath.Join(dir, "other")
	copyExecutable(t, prog, other, 0)
	l, sock := listen(t)

	c := startClient(t, nil, prog, "-socket", sock, "-wait-stdin", "-exec", other)
	id := read(t, peercred.NewReader(peercred.Options{}), accept(t, l))
	if err := id.Recheck(); err != nil {
		t.Fatalf("Recheck before exec: %v", err)
	}

	c.stdin.Close()
	exeLink := fmt.Sprintf("/proc/%d/exe", c.cmd.Process.Pid)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if target, _ := os.Readlink(exeLink); target == other {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client did not exec %s", other)
		}
		time.Sleep(10 * time.Millisecond)
	}

	err := id.Recheck()
	if !errors.Is(err, peercred.ErrUnverifiable) || !strings.Contains(err.Error(), "another executable") {
		t.Fatalf("Recheck after exec = %v, want a rejection for another executable", err)
	}
}

func TestConcurrentReadsHashOnce(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Program(t, "./test/peerclient")
	dir := publicDir(t)
	large := filepath.Join(dir, "large")
	copyExecutable(t, prog, large, 32<<20)
	l, sock := listen(t)
	r := peercred.NewReader(peercred.Options{})

	const callers = 4
	conns := make([]net.Conn, callers)
	for i := range conns {
		startClient(t, nil, large, "-socket", sock, "-connect-only")
		conns[i] = accept(t, l)
	}

	type result struct {
		id  *peercred.Identity
		err error
	}
	results := make(chan result, callers)
	for _, c := range conns {
		go func() {
			id, err := r.Read(c)
			results <- result{id, err}
		}()
	}

	want := fileSHA256(t, large)
	uncached := 0
	for range callers {
		res := <-results
		if res.err != nil {
			t.Fatalf("Read: %v", res.err)
		}
		defer res.id.Close()
		if res.id.Exe.SHA256 != want {
			t.Errorf("sha256 %s, want %s", res.id.Exe.SHA256, want)
		}
		if !res.id.Exe.HashCached {
			uncached++
		}
	}
	if uncached != 1 {
		t.Errorf("%d of %d concurrent reads hashed the file, want 1", uncached, callers)
	}
}

func TestReadManySupplementaryGroups(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Program(t, "./test/peerclient")
	l, sock := listen(t)

	// More groups than the first SO_PEERGROUPS buffer holds, so the read
	// must grow it.
	groups := make([]uint32, 300)
	for i := range groups {
		groups[i] = uint32(5000 + i)
	}
	startClient(t, &syscall.Credential{Uid: 4001, Gid: 4001, Groups: groups}, prog, "-socket", sock, "-connect-only")
	id := read(t, peercred.NewReader(peercred.Options{}), accept(t, l))

	if len(id.Groups) != len(groups) {
		t.Fatalf("got %d groups, want %d", len(id.Groups), len(groups))
	}
	for _, g := range groups {
		if !slices.Contains(id.Groups, g) {
			t.Errorf("groups lack %d", g)
		}
	}
}
