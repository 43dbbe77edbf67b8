// Package identity_test runs signerd with caller rules and checks its
// decisions for real client processes under other uids, groups, pid and
// user namespaces.
package identity_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/test/testenv"
)

const predicateType = "https://example.com/scan/v1"

var signBody = `{"subjects":[{"name":"a","digest":{"sha256":"` + strings.Repeat("ab", 32) +
	`"}}],"predicateType":"` + predicateType + `","predicate":{"ok":true}}`

// usersGID is Debian's "users" group, which owns the test socket.
const usersGID = 100

// daemon is a signerd process, possibly inside namespaces.
type daemon struct {
	socket string
	mu     sync.Mutex
	log    strings.Builder
}

func (d *daemon) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.Write(p)
}

func (d *daemon) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// startDaemon writes a config with tenants and socket settings into a new
// directory, starts signerd on it behind wrapper (a command prefix such
// as unshare) and waits until the socket accepts connections.
func startDaemon(t *testing.T, wrapper []string, socketYAML, tenantsYAML string) *daemon {
	t.Helper()
	testenv.RequireRoot(t)
	bin := filepath.Join(testenv.Binaries(t), "signerd")
	dir := testenv.ShortTempDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	d := &daemon{socket: filepath.Join(dir, "s.sock")}
	cfg := fmt.Sprintf(`socket:
  path: %s
%sstate_dir: %s/state
key:
  uri: file://%s/signing.key
  algorithm: ecdsa-p256
  create: true
log:
  format: json
  level: info
tenants:
%s`, d.socket, socketYAML, dir, dir, tenantsYAML)
	cfgPath := filepath.Join(dir, "signerd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	args := append(slices.Clone(wrapper), bin, "--config", cfgPath)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = d, d
	// unshare --fork ignores SIGTERM while it waits for its child, so the
	// cleanup signals the whole process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("signerd log:\n%s", d.logText())
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if c, err := net.Dial("unix", d.socket); err == nil {
			c.Close()
			return d
		}
		select {
		case <-exited:
			t.Fatalf("signerd exited before serving:\n%s", d.logText())
		case <-ctx.Done():
			t.Fatalf("signerd did not listen on %s:\n%s", d.socket, d.logText())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// response is one HTTP response that peerclient printed.
type response struct {
	status int
	body   string
}

func (r response) whoami(t *testing.T) api.WhoAmIResponse {
	t.Helper()
	var w api.WhoAmIResponse
	if err := json.Unmarshal([]byte(r.body), &w); err != nil {
		t.Fatalf("whoami body %q: %v", r.body, err)
	}
	return w
}

func (r response) errorBody(t *testing.T) api.Error {
	t.Helper()
	var e api.ErrorBody
	if err := json.Unmarshal([]byte(r.body), &e); err != nil || e.Error == nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	return *e.Error
}

// parseResponses splits peerclient's output into responses.
func parseResponses(t *testing.T, out string) []response {
	t.Helper()
	var rs []response
	for _, block := range strings.Split(out, "status ")[1:] {
		code, body, _ := strings.Cut(block, "\n")
		n, err := strconv.Atoi(code)
		if err != nil {
			t.Fatalf("bad status line %q in output %q", code, out)
		}
		rs = append(rs, response{n, strings.TrimSpace(body)})
	}
	return rs
}

// run runs prog under cred to completion and returns its responses.
func run(t *testing.T, cred *syscall.Credential, prog string, args ...string) []response {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s %v: %v\n%s", prog, args, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	return parseResponses(t, string(out))
}

func cred(uid, gid uint32, groups ...uint32) *syscall.Credential {
	return &syscall.Credential{Uid: uid, Gid: gid, Groups: groups}
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

// paddedCopy copies an executable with pad extra bytes at the end, which
// ELF loaders ignore, so the copy runs with its own inode and hash.
func paddedCopy(t *testing.T, src string, pad int) string {
	t.Helper()
	dir := testenv.ShortTempDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "other")
	if err := os.WriteFile(dst, append(data, make([]byte, pad)...), 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

const groupSocket = "  mode: \"0660\"\n  group: users\n"

// tenants admits uid 4001 (tenant alpha), callers with primary gid 4300
// in supplementary group 4200 (tenant grp), and callers with primary gid
// 4400 running the executable with sha (tenant hash).
func tenants(sha string) string {
	return `  - name: alpha
    predicate_types: ["` + predicateType + `"]
    callers:
      - uid: 4001
        gid: 4001
  - name: grp
    predicate_types: ["*"]
    callers:
      - gid: 4300
        supplementary_gid: 4200
  - name: hash
    predicate_types: ["*"]
    callers:
      - gid: 4400
        executable_sha256: ` + sha + "\n"
}

// logLines returns the daemon's JSON log lines for path.
func logLines(t *testing.T, d *daemon, path string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(d.logText()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["path"] == path {
			out = append(out, m)
		}
	}
	return out
}

func TestCallerSocketModeAndGroup(t *testing.T) {
	prog := testenv.Program(t, "./test/peerclient")
	d := startDaemon(t, nil, groupSocket, tenants(strings.Repeat("0", 64)))

	st, err := os.Stat(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o660 {
		t.Errorf("socket mode %04o, want 0660", perm)
	}
	if gid := st.Sys().(*syscall.Stat_t).Gid; gid != usersGID {
		t.Errorf("socket group %d, want %d", gid, usersGID)
	}

	// A caller outside the group cannot connect at all.
	cmd := exec.Command(prog, "-socket", d.socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred(4007, 4007)}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "permission denied") {
		t.Errorf("caller outside the socket group: err %v, output %q; want permission denied", err, out)
	}
}

func TestAllowedAndRefusedUID(t *testing.T) {
	prog := testenv.Program(t, "./test/peerclient")
	d := startDaemon(t, nil, groupSocket, tenants(strings.Repeat("0", 64)))
	sign := []string{"-socket", d.socket, "-request", "POST:" + api.PathSignDSSE, "-body", signBody}

	t.Run("allowed", func(t *testing.T) {
		rs := run(t, cred(4001, 4001, usersGID), prog, "-socket", d.socket)
		w := rs[0].whoami(t)
		if w.Tenant != "alpha" {
			t.Fatalf("tenant %q (reason %q), want alpha", w.Tenant, w.Reason)
		}
		c := w.Caller
		if c.UID != 4001 || c.GID != 4001 || !slices.Contains(c.Groups, usersGID) {
			t.Errorf("caller uid %d gid %d groups %v, want 4001 4001 with %d", c.UID, c.GID, c.Groups, usersGID)
		}
		if c.Executable != prog || c.ExecutableSHA256 != fileSHA256(t, prog) {
			t.Errorf("executable %q sha256 %s, want %q with its hash", c.Executable, c.ExecutableSHA256, prog)
		}
		if !c.PIDFD || c.StartTime == 0 || c.Cgroup == "" || c.ExecutableInode == 0 {
			t.Errorf("snapshot incomplete: %+v", c)
		}

		rs = run(t, cred(4001, 4001, usersGID), prog, sign...)
		if rs[0].status != 200 {
			t.Fatalf("sign status %d: %s", rs[0].status, rs[0].body)
		}
	})

	t.Run("refused", func(t *testing.T) {
		rs := run(t, cred(4002, 4002, usersGID), prog, "-socket", d.socket)
		w := rs[0].whoami(t)
		if w.Tenant != "" || !strings.Contains(w.Reason, "no tenant admits caller uid 4002") {
			t.Errorf("tenant %q reason %q, want no tenant for uid 4002", w.Tenant, w.Reason)
		}

		rs = run(t, cred(4002, 4002, usersGID), prog, sign...)
		if rs[0].status != 403 {
			t.Fatalf("sign status %d, want 403: %s", rs[0].status, rs[0].body)
		}
		if e := rs[0].errorBody(t); e.Code != api.CodeForbidden {
			t.Errorf("code %q, want %q", e.Code, api.CodeForbidden)
		}
	})

	t.Run("decisions logged with identity", func(t *testing.T) {
		lines := logLines(t, d, api.PathSignDSSE)
		var allowed, denied bool
		for _, l := range lines {
			uid, _ := l["caller_uid"].(float64)
			switch {
			case uid == 4001 && l["outcome"] == "allowed":
				allowed = l["tenant"] == "alpha" && l["caller_exe"] == prog && l["caller_exe_sha256"] != "" && l["caller_liveness"] == "pidfd"
			case uid == 4002 && l["outcome"] == "denied":
				denied = l["caller_exe"] == prog && l["caller_gid"] == float64(4002)
			}
		}
		if !allowed || !denied {
			t.Errorf("log lacks identity fields (allowed %v, denied %v): %v", allowed, denied, lines)
		}
	})
}

func TestSupplementaryGroupMatch(t *testing.T) {
	prog := testenv.Program(t, "./test/peerclient")
	d := startDaemon(t, nil, groupSocket, tenants(strings.Repeat("0", 64)))

	w := run(t, cred(4005, 4300, usersGID, 4200), prog, "-socket", d.socket)[0].whoami(t)
	if w.Tenant != "grp" {
		t.Errorf("in group 4200: tenant %q (reason %q), want grp", w.Tenant, w.Reason)
	}
	w = run(t, cred(4005, 4300, usersGID), prog, "-socket", d.socket)[0].whoami(t)
	if w.Tenant != "" || !strings.Contains(w.Reason, "do not include 4200") {
		t.Errorf("not in group 4200: tenant %q reason %q, want none", w.Tenant, w.Reason)
	}
}

func TestExecutableSHA256(t *testing.T) {
	prog := testenv.Program(t, "./test/peerclient")
	other := paddedCopy(t, prog, 1024)
	d := startDaemon(t, nil, groupSocket, tenants(fileSHA256(t, prog)))
	sign := []string{"-socket", d.socket, "-request", "POST:" + api.PathSignDSSE, "-body", signBody}
	caller := cred(4006, 4400, usersGID)

	if rs := run(t, caller, prog, sign...); rs[0].status != 200 {
		t.Errorf("matching executable: sign status %d: %s", rs[0].status, rs[0].body)
	}

	rs := run(t, caller, other, sign...)
	if rs[0].status != 403 || !strings.Contains(rs[0].body, "executable sha256") {
		t.Errorf("other executable: sign status %d body %s, want 403 naming the hash", rs[0].status, rs[0].body)
	}
}

func TestConnectThenExecRejected(t *testing.T) {
	prog := testenv.Program(t, "./test/peerclient")
	other := paddedCopy(t, prog, 1024)
	d := startDaemon(t, nil, groupSocket, tenants(fileSHA256(t, prog)))

	t.Run("after a first request", func(t *testing.T) {
		// The first request proves the daemon took its snapshot of prog;
		// the program exec'd afterwards sends the sign request on the same
		// connection.
		rs := run(t, cred(4001, 4001, usersGID), prog, "-socket", d.socket, "-first", api.PathWhoAmI,
			"-exec", other, "-request", "POST:"+api.PathSignDSSE, "-body", signBody)
		if len(rs) != 2 {
			t.Fatalf("got %d responses, want 2", len(rs))
		}
		if w := rs[0].whoami(t); w.Tenant != "alpha" || w.Caller.Executable != prog {
			t.Fatalf("first request: tenant %q executable %q", w.Tenant, w.Caller.Executable)
		}
		if rs[1].status != 401 || !strings.Contains(rs[1].body, "another executable") {
			t.Errorf("sign after exec: status %d body %s, want 401 for another executable", rs[1].status, rs[1].body)
		}
	})

	t.Run("before any request", func(t *testing.T) {
		// Whether the daemon took its snapshot before or after the exec,
		// the caller must not sign as the hash-selected program.
		rs := run(t, cred(4006, 4400, usersGID), prog, "-socket", d.socket,
			"-exec", other, "-request", "POST:"+api.PathSignDSSE, "-body", signBody)
		if rs[0].status == 200 {
			t.Errorf("sign after exec succeeded: %s", rs[0].body)
		}
	})
}

func TestPIDReuseRejected(t *testing.T) {
	prog := testenv.Program(t, "./test/peerclient")
	d := startDaemon(t, nil, groupSocket, tenants(strings.Repeat("0", 64)))
	caller := cred(4001, 4001, usersGID)

	// The client asks whoami first, so the daemon has taken its snapshot
	// while the client runs. It then sends all of a sign request but its
	// last byte, leaves the connection to a child and exits. The test
	// makes a process with the same uid and executable take the client's
	// pid, and lets the child finish the request.
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prog, "-socket", d.socket, "-first", api.PathWhoAmI, "-handoff", "-request", "POST:"+api.PathSignDSSE, "-body", signBody)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: caller}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, outW, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdinR.Close()
	outW.Close()
	defer stdinW.Close()
	pid := cmd.Process.Pid
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client: %v", err)
	}

	out := bufio.NewReader(outR)
	var first strings.Builder
	for {
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("client printed %q (%v), want a whoami response and its child's pid", first.String(), err)
		}
		if strings.HasPrefix(line, "child ") {
			break
		}
		first.WriteString(line)
	}
	if w := parseResponses(t, first.String())[0].whoami(t); w.Tenant != "alpha" {
		t.Fatalf("client's whoami: tenant %q reason %q, want alpha", w.Tenant, w.Reason)
	}

	reusePID(t, prog, caller, pid)
	stdinW.Close()
	rest, err := io.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	rs := parseResponses(t, string(rest))
	if len(rs) != 1 {
		t.Fatalf("child printed %q, want one response", rest)
	}
	if rs[0].status != 401 || !strings.Contains(rs[0].body, "exited") {
		t.Errorf("request finished after pid %d was reused: status %d body %s, want 401", pid, rs[0].status, rs[0].body)
	}
}

// reusePID starts `prog -sleep` as cred until it gets pid, by setting the
// kernel's last allocated pid just below it. Other processes on the node
// may take the pid first, so it retries.
func reusePID(t *testing.T, prog string, cred *syscall.Credential, pid int) {
	t.Helper()
	for range 50 {
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			t.Skipf("cannot set ns_last_pid to force pid reuse: %v", err)
		}
		cmd := exec.Command(prog, "-sleep", "60s")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
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

func TestPeerInOtherPIDNamespaceRejected(t *testing.T) {
	testenv.Tool(t, "unshare")
	prog := testenv.Program(t, "./test/peerclient")

	// The daemon runs in a new pid namespace, so a caller outside it has
	// no pid there and the kernel reports pid 0.
	d := startDaemon(t, []string{"unshare", "--pid", "--fork", "--kill-child=SIGTERM"}, "",
		"  - name: root\n    predicate_types: [\"*\"]\n    callers:\n      - uid: 0\n")

	rs := run(t, nil, prog, "-socket", d.socket)
	if rs[0].status != 401 || !strings.Contains(rs[0].body, "pid is 0") {
		t.Errorf("caller outside the pid namespace: status %d body %s, want 401 for pid 0", rs[0].status, rs[0].body)
	}
}

func TestUnmappedUIDRejected(t *testing.T) {
	testenv.Tool(t, "unshare")
	prog := testenv.Program(t, "./test/peerclient")

	// The daemon runs in a user namespace that maps only root, so any
	// other caller's uid shows as the overflow id 65534.
	d := startDaemon(t, []string{"unshare", "--user", "--map-root-user"}, "  mode: \"0660\"\n",
		"  - name: root\n    predicate_types: [\"*\"]\n    callers:\n      - uid: 0\n")

	rs := run(t, cred(4001, 0), prog, "-socket", d.socket)
	if rs[0].status != 401 || !strings.Contains(rs[0].body, "overflow id") {
		t.Errorf("unmapped caller: status %d body %s, want 401 for the overflow id", rs[0].status, rs[0].body)
	}

	// Root is mapped, but a daemon inside a user namespace may not read
	// /proc/PID/exe of processes outside it, as a daemon without
	// CAP_SYS_PTRACE may not for other users. The uid rule still admits
	// the caller, and the snapshot says why it has no executable.
	w := run(t, nil, prog, "-socket", d.socket)[0].whoami(t)
	if w.Tenant != "root" {
		t.Errorf("mapped root: tenant %q reason %q, want root", w.Tenant, w.Reason)
	}
	if w.Caller.ExecutableUnavailable == "" || w.Caller.ExecutableSHA256 != "" {
		t.Errorf("mapped root: executable unavailable %q sha256 %q, want a reason and no hash",
			w.Caller.ExecutableUnavailable, w.Caller.ExecutableSHA256)
	}
	rs = run(t, nil, prog, "-socket", d.socket, "-request", "POST:"+api.PathSignDSSE, "-body", signBody)
	if rs[0].status != 200 {
		t.Errorf("mapped root: sign status %d body %s, want 200", rs[0].status, rs[0].body)
	}
}

func TestExecutablePathMountedOverRejected(t *testing.T) {
	testenv.Tool(t, "unshare")
	prog := testenv.Program(t, "./test/peerclient")
	other := paddedCopy(t, prog, 1024)
	d := startDaemon(t, nil, "",
		"  - name: path\n    predicate_types: [\"*\"]\n    callers:\n      - uid: 0\n        executable: "+prog+"\n")

	w := run(t, nil, prog, "-socket", d.socket)[0].whoami(t)
	if w.Tenant != "path" {
		t.Fatalf("caller running %s: tenant %q reason %q, want path", prog, w.Tenant, w.Reason)
	}

	// In a private mount namespace, another binary is mounted at the
	// configured path. /proc/PID/exe then shows that path, but the host's
	// file there is not the running image.
	script := fmt.Sprintf("mount --bind %s %s && exec %s -socket %s", other, prog, prog, d.socket)
	rs := run(t, nil, "unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	w = rs[0].whoami(t)
	if w.Caller.Executable != prog {
		t.Fatalf("executable %q, want the mounted-over path %q", w.Caller.Executable, prog)
	}
	if w.Tenant != "" || !strings.Contains(w.Reason, "is not the file at") {
		t.Errorf("caller with a file mounted over the path: tenant %q reason %q, want no tenant", w.Tenant, w.Reason)
	}
}

func TestExecutableReplacedJudgedByRunningImage(t *testing.T) {
	prog := testenv.Program(t, "./test/peerclient")
	path := paddedCopy(t, prog, 0)
	d := startDaemon(t, nil, groupSocket, tenants(fileSHA256(t, prog)))

	cmd := exec.Command(path, "-socket", d.socket, "-start-only")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred(4006, 4400, usersGID)}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); err != nil || line != "started\n" {
		t.Fatalf("client printed %q (%v), want started", line, err)
	}

	// Replace the file as a package upgrade does, with a different binary
	// renamed over the path, while the caller runs and before it connects.
	replacement := paddedCopy(t, prog, 4096)
	if err := os.Rename(replacement, path); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	rest, err := io.ReadAll(out)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	w := parseResponses(t, string(rest))[0].whoami(t)
	if !w.Caller.ExecutableDeleted {
		t.Error("replaced executable not reported deleted")
	}
	if w.Caller.ExecutableSHA256 != fileSHA256(t, prog) {
		t.Errorf("sha256 %s, want the running image's %s", w.Caller.ExecutableSHA256, fileSHA256(t, prog))
	}
	if w.Tenant != "hash" {
		t.Errorf("tenant %q reason %q, want hash, chosen by the running image", w.Tenant, w.Reason)
	}
}

func TestLargeExecutableHashBoundedAndCached(t *testing.T) {
	prog := testenv.Program(t, "./test/peerclient")
	large := paddedCopy(t, prog, 24<<20)
	d := startDaemon(t, nil, groupSocket+"identity:\n  max_executable_hash_bytes: 16777216\n", tenants(fileSHA256(t, prog)))
	caller := cred(4006, 4400, usersGID)

	w := run(t, caller, large, "-socket", d.socket)[0].whoami(t)
	if w.Caller.ExecutableSHA256 != "" || !strings.Contains(w.Caller.ExecutableHashSkipped, "over the hashing limit of 16777216") {
		t.Errorf("executable over the limit: sha256 %q skipped %q, want no hash and the limit", w.Caller.ExecutableSHA256, w.Caller.ExecutableHashSkipped)
	}
	if w.Tenant != "" || !strings.Contains(w.Reason, "was not hashed") {
		t.Errorf("executable over the limit: tenant %q reason %q, want none because it was not hashed", w.Tenant, w.Reason)
	}

	for i, wantCached := range []bool{false, true} {
		w := run(t, caller, prog, "-socket", d.socket)[0].whoami(t)
		if w.Caller.ExecutableHashCached != wantCached {
			t.Errorf("request %d: hash cached %v, want %v", i, w.Caller.ExecutableHashCached, wantCached)
		}
		if w.Tenant != "hash" {
			t.Errorf("request %d: tenant %q reason %q, want hash", i, w.Tenant, w.Reason)
		}
	}
}
