package guard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/signerd/signerd/test/testenv"
)

// activatedDaemon is a signerd process that received its socket the way
// systemd passes it.
type activatedDaemon struct {
	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	log    bytes.Buffer
}

func (d *activatedDaemon) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.Write(p)
}

func (d *activatedDaemon) Log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// startActivated runs signerd with socket as fd 3 named "signerd".
func startActivated(t *testing.T, socket *os.File, configPath string) *activatedDaemon {
	t.Helper()
	return startActivatedAs(t, socket, configPath, nil)
}

// startActivatedAs is startActivated with attrs, which may set the uid and
// capabilities of the daemon.
func startActivatedAs(t *testing.T, socket *os.File, configPath string, attrs *syscall.SysProcAttr) *activatedDaemon {
	t.Helper()
	return startActivatedWith(t, activation{sockets: []*os.File{socket}, names: "signerd", attrs: attrs}, configPath)
}

// activation is how startActivatedWith starts signerd.
type activation struct {
	// sockets are passed as fds 3, 4, ... and named by names, a
	// colon-separated LISTEN_FDNAMES.
	sockets []*os.File
	names   string

	attrs *syscall.SysProcAttr

	// env is added to the test's environment, for example NOTIFY_SOCKET.
	env []string
}

// startActivatedWith runs signerd with the sockets in a, as systemd passes
// them. A shell sets LISTEN_PID to its own pid and then execs signerd,
// which keeps it.
func startActivatedWith(t *testing.T, a activation, configPath string) *activatedDaemon {
	t.Helper()
	bin := filepath.Join(testenv.Binaries(t), "signerd")
	d := &activatedDaemon{exited: make(chan struct{})}
	d.cmd = exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=$2 LISTEN_FDNAMES=$3 exec "$0" --config "$1"`,
		bin, configPath, fmt.Sprint(len(a.sockets)), a.names)
	d.cmd.ExtraFiles = a.sockets
	d.cmd.SysProcAttr = a.attrs
	d.cmd.Env = append(os.Environ(), a.env...)
	d.cmd.Stdout = d
	d.cmd.Stderr = d
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start signerd: %v", err)
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		d.stop(t)
		if t.Failed() {
			t.Logf("signerd log:\n%s", d.Log())
		}
	})
	d.waitLog(t, "signerd started")
	return d
}

// waitLog waits until the daemon's log contains s.
func (d *activatedDaemon) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(d.Log(), s) {
		select {
		case <-d.exited:
			t.Fatalf("signerd exited before logging %q: %v\n%s", s, d.cmd.ProcessState, d.Log())
		case <-deadline:
			t.Fatalf("signerd did not log %q within 30s\n%s", s, d.Log())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (d *activatedDaemon) stop(t *testing.T) {
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
}

// daemonConfig returns a config whose only tenant is uidAllowed and whose
// guard allows guardUIDs and guardCgroups.
func daemonConfig(dir, socket string, cg testCgroups, pinDir string, guardUIDs []uint32, guardCgroups []string) string {
	quoted := make([]string, len(guardCgroups))
	for i, c := range guardCgroups {
		quoted[i] = fmt.Sprintf("%q", c)
	}
	uids := make([]string, len(guardUIDs))
	for i, u := range guardUIDs {
		uids[i] = fmt.Sprint(u)
	}
	return fmt.Sprintf(`socket:
  path: %s
  name: signerd
  mode: "0660"
state_dir: %s/state
key:
  uri: file://%s/state/signing.key
  create: true
tenants:
  - name: scanners
    predicate_types: ["*"]
    callers:
      - uid: %d
guard:
  enabled: true
  mandatory: true
  cgroup: %s
  pin_dir: %s
  allowed_uids: [%s]
  allowed_cgroups: [%s]
`, socket, dir, dir, uidAllowed, cg.Root, pinDir, strings.Join(uids, ", "), strings.Join(quoted, ", "))
}

func writeConfig(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDaemonGuard runs signerd with the guard the way systemd would: the
// test holds the listening socket, so connects queue while no daemon runs.
func TestDaemonGuard(t *testing.T) {
	testenv.RequireRoot(t)
	cg := newTestCgroups(t)
	pinDir := mountBPFFS(t)
	t.Cleanup(func() { Remove(pinDir) }) // in case the test fails before it removes the guard
	dir := openDir(t)
	socket := filepath.Join(dir, "signerd.sock")
	alias := filepath.Join(dir, "alias.sock")
	if err := os.Symlink(socket, alias); err != nil {
		t.Fatal(err)
	}

	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chmod(socket, 0o666); err != nil {
		t.Fatal(err)
	}
	lf, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()

	configPath := filepath.Join(dir, "signerd.yaml")
	writeConfig(t, configPath, daemonConfig(dir, socket, cg, pinDir, []uint32{uidAllowed}, []string{cg.Allowed}))

	type check struct {
		name       string
		cgroup     string
		uid        uint32
		path       string
		sign       bool
		wantResult string
	}
	run := func(t *testing.T, checks []check) {
		t.Helper()
		for _, c := range checks {
			got := connectAs(t, c.cgroup, c.uid, c.path, c.sign)
			if got.String() != c.wantResult {
				t.Errorf("%s: got %s, want %s", c.name, got, c.wantResult)
			}
		}
	}

	d1 := startActivated(t, lf, configPath)
	t.Run("first run", func(t *testing.T) {
		run(t, []check{
			{"tenant uid signs", cg.Other, uidAllowed, socket, true, "ok, 200"},
			{"other uid in other cgroup", cg.Other, uidOther, socket, true, "EPERM"},
			{"other uid in allowed cgroup reaches policy", cg.Allowed, uidOther, socket, true, "ok, 403 forbidden"},
			{"other uid through symlink reaches policy", cg.Other, uidOther, alias, true, "ok, 403 forbidden"},
		})
	})

	d1.stop(t)
	t.Run("daemon stopped", func(t *testing.T) {
		run(t, []check{
			{"other uid still refused", cg.Other, uidOther, socket, false, "EPERM"},
			{"tenant uid queues", cg.Other, uidAllowed, socket, false, "ok"},
		})
	})

	d2 := startActivated(t, lf, configPath)
	t.Run("after restart", func(t *testing.T) {
		run(t, []check{
			{"tenant uid signs", cg.Other, uidAllowed, socket, true, "ok, 200"},
			{"other uid in other cgroup", cg.Other, uidOther, socket, false, "EPERM"},
		})
	})

	writeConfig(t, configPath, daemonConfig(dir, socket, cg, pinDir, []uint32{uidAllowed, uidOther}, nil))
	d2.cmd.Process.Signal(syscall.SIGHUP)
	d2.waitLog(t, "connect guard policy updated")
	t.Run("after reload", func(t *testing.T) {
		run(t, []check{
			{"newly allowed uid reaches policy", cg.Other, uidOther, socket, true, "ok, 403 forbidden"},
			{"third uid in formerly allowed cgroup", cg.Allowed, uidOther + 1, socket, false, "EPERM"},
		})
	})

	t.Run("signerctl", func(t *testing.T) {
		signerctl := filepath.Join(testenv.Binaries(t), "signerctl")
		out, err := exec.Command(signerctl, "guard", "status", "--pin-dir", pinDir, "--cgroup-root", filepath.Dir(cg.Root)).CombinedOutput()
		if err != nil {
			t.Fatalf("signerctl guard status: %v\n%s", err, out)
		}
		for _, want := range []string{
			"socket:          " + socket,
			fmt.Sprintf("allowed uids:    0, %d, %d", uidAllowed, uidOther),
			"allowed cgroups: none",
			"denied connects: 4",
			"cgroup:          " + cg.Root,
		} {
			if !strings.Contains(string(out), want) {
				t.Errorf("status output lacks %q:\n%s", want, out)
			}
		}

		d2.stop(t)
		out, err = exec.Command(signerctl, "guard", "remove", "--pin-dir", pinDir).CombinedOutput()
		if err != nil {
			t.Fatalf("signerctl guard remove: %v\n%s", err, out)
		}
		if _, err := os.Stat(pinDir); !os.IsNotExist(err) {
			t.Errorf("pin directory after remove: %v, want it gone", err)
		}
		if got := connectAs(t, cg.Allowed, uidOther+1, socket, false); got.Connect != "ok" {
			t.Errorf("connect after remove = %s, want ok", got)
		}
	})
}

func TestDaemonRefusesMandatoryGuardFailure(t *testing.T) {
	testenv.RequireRoot(t)
	cg := newTestCgroups(t)
	dir := openDir(t)
	socket := filepath.Join(dir, "signerd.sock")

	// The pin directory is not on a bpf file system, so installing fails.
	pinDir := filepath.Join(dir, "not-bpffs", "signerd")
	if err := os.Mkdir(filepath.Dir(pinDir), 0o700); err != nil {
		t.Fatal(err)
	}
	configPath := filepath.Join(dir, "signerd.yaml")
	writeConfig(t, configPath, daemonConfig(dir, socket, cg, pinDir, []uint32{uidAllowed}, nil))

	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lf, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()

	bin := filepath.Join(testenv.Binaries(t), "signerd")
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=signerd exec "$0" --config "$1"`, bin, configPath)
	cmd.ExtraFiles = []*os.File{lf}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("signerd started with a mandatory guard that cannot be installed:\n%s", out)
	}
	if !strings.Contains(string(out), "connect guard is mandatory") || !strings.Contains(string(out), "is not a bpf filesystem") {
		t.Errorf("signerd output does not name the guard failure:\n%s", out)
	}
}

// dropInCapabilities returns the AmbientCapabilities that the shipped
// systemd drop-in grants.
func dropInCapabilities(t *testing.T) []uintptr {
	t.Helper()
	known := map[string]uintptr{
		"CAP_BPF":       unix.CAP_BPF,
		"CAP_NET_ADMIN": unix.CAP_NET_ADMIN,
		"CAP_PERFMON":   unix.CAP_PERFMON,
		"CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN,
	}
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "systemd", "signerd.service.d", "guard.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var caps []uintptr
	for _, line := range strings.Split(string(data), "\n") {
		value, ok := strings.CutPrefix(line, "AmbientCapabilities=")
		if !ok {
			continue
		}
		for _, name := range strings.Fields(value) {
			c, ok := known[name]
			if !ok {
				t.Fatalf("drop-in grants %s, which this test does not know", name)
			}
			caps = append(caps, c)
		}
	}
	if len(caps) == 0 {
		t.Fatal("drop-in has no AmbientCapabilities line")
	}
	return caps
}

// TestDaemonGuardWithCapabilitiesOnly runs signerd as an unprivileged uid
// with only the capabilities the systemd drop-in grants.
func TestDaemonGuardWithCapabilitiesOnly(t *testing.T) {
	testenv.RequireRoot(t)
	const daemonUID = 40010
	caps := dropInCapabilities(t)
	cg := newTestCgroups(t)
	pinDir := mountBPFFS(t)
	t.Cleanup(func() { Remove(pinDir) }) // in case the test fails before it removes the guard
	dir := openDir(t)
	socket := filepath.Join(dir, "signerd.sock")

	// As the drop-in's ExecStartPre does, root creates the pin directory
	// for the service user.
	prepareServiceDirs(t, dir, pinDir, daemonUID)

	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chmod(socket, 0o666); err != nil {
		t.Fatal(err)
	}
	lf, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()

	configPath := filepath.Join(dir, "signerd.yaml")
	writeConfig(t, configPath, daemonConfig(dir, socket, cg, pinDir, []uint32{uidAllowed}, nil))
	if err := os.Chmod(configPath, 0o644); err != nil {
		t.Fatal(err)
	}

	startActivatedAs(t, lf, configPath, &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: daemonUID, Gid: daemonUID},
		AmbientCaps: caps,
	})

	if got := connectAs(t, cg.Other, uidAllowed, socket, true); got.String() != "ok, 200" {
		t.Errorf("tenant uid = %s, want ok, 200", got)
	}
	if got := connectAs(t, cg.Other, uidOther, socket, false); got.Connect != "EPERM" {
		t.Errorf("other uid = %s, want EPERM", got)
	}
}

// listenSocketFile listens on a Unix socket at path that any uid may
// connect to and returns it as a file to pass to signerd.
func listenSocketFile(t *testing.T, path string) *os.File {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestDaemonShowsOptionalGuardFailure runs signerd with an optional guard
// but without the capabilities to install it. The daemon serves without
// the guard, and the STATUS line and signerctl status show that with the reason.
func TestDaemonShowsOptionalGuardFailure(t *testing.T) {
	testenv.RequireRoot(t)
	const daemonUID = 40011
	cg := newTestCgroups(t)
	pinDir := mountBPFFS(t)
	t.Cleanup(func() { Remove(pinDir) }) // in case the guard was installed after all
	dir := openDir(t)
	socket := filepath.Join(dir, "signerd.sock")
	adminSocket := filepath.Join(dir, "admin.sock")

	// The daemon may create its pins and state, so only the missing
	// capabilities make the install fail.
	prepareServiceDirs(t, dir, pinDir, daemonUID)

	// The test reads sd_notify messages in place of systemd.
	notify := testenv.ListenNotify(t, filepath.Join(dir, "notify.sock"))
	notifyPath := notify.Path
	if err := os.Chmod(notifyPath, 0o666); err != nil {
		t.Fatal(err)
	}

	configPath := filepath.Join(dir, "signerd.yaml")
	cfg := daemonConfig(dir, socket, cg, pinDir, []uint32{uidAllowed}, nil)
	cfg = strings.Replace(cfg, "mandatory: true", "mandatory: false", 1)
	writeConfig(t, configPath, cfg)
	if err := os.Chmod(configPath, 0o644); err != nil {
		t.Fatal(err)
	}

	d := startActivatedWith(t, activation{
		sockets: []*os.File{listenSocketFile(t, socket), listenSocketFile(t, adminSocket)},
		names:   "signerd:signerd-admin",
		attrs:   &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: daemonUID, Gid: daemonUID}},
		env:     []string{"NOTIFY_SOCKET=" + notifyPath},
	}, configPath)
	d.waitLog(t, "connect guard could not be installed")

	t.Run("STATUS line", func(t *testing.T) {
		msg := notify.WaitLines(t, "READY=1")
		if !strings.Contains(msg, ", guard failed (") || !strings.Contains(msg, "operation not permitted") {
			t.Errorf("READY message %q does not show the failed guard and its reason", msg)
		}
	})

	signerctl := filepath.Join(testenv.Binaries(t), "signerctl")
	t.Run("signerctl status", func(t *testing.T) {
		out, err := exec.Command(signerctl, "--admin-socket", adminSocket, "status").CombinedOutput()
		if err != nil {
			t.Fatalf("signerctl status: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "\nguard:      failed, running without it: ") {
			t.Errorf("status output does not show the failed guard:\n%s", out)
		}
		if !strings.Contains(string(out), "operation not permitted") {
			t.Errorf("status output does not give the reason:\n%s", out)
		}
	})

	t.Run("signerctl status --json", func(t *testing.T) {
		out, err := exec.Command(signerctl, "--admin-socket", adminSocket, "status", "--json").Output()
		if err != nil {
			t.Fatalf("signerctl status --json: %v\n%s", err, out)
		}
		var status struct {
			Guard *struct {
				State string `json:"state"`
				Error string `json:"error"`
			} `json:"guard"`
		}
		if err := json.Unmarshal(out, &status); err != nil {
			t.Fatalf("status --json output: %v\n%s", err, out)
		}
		if status.Guard == nil {
			t.Fatalf("status --json has no guard:\n%s", out)
		}
		if status.Guard.State != "failed" {
			t.Errorf("guard state = %q, want failed", status.Guard.State)
		}
		if !strings.Contains(status.Guard.Error, "operation not permitted") {
			t.Errorf("guard error = %q, want the EPERM reason", status.Guard.Error)
		}
	})

	// Without the guard, peer-credential policy alone decides.
	if got := connectAs(t, cg.Other, uidAllowed, socket, true); got.String() != "ok, 200" {
		t.Errorf("tenant uid = %s, want ok, 200", got)
	}
	if got := connectAs(t, cg.Other, uidOther, socket, true); got.String() != "ok, 403 forbidden" {
		t.Errorf("other uid = %s, want ok, 403 forbidden: no guard refuses the connect", got)
	}
}

// prepareServiceDirs does what the drop-in's ExecStartPre and systemd's
// StateDirectory= do for the service user uid: it makes the pin directory
// and the state directory dir/state, owned by uid.
func prepareServiceDirs(t *testing.T, dir, pinDir string, uid int) {
	t.Helper()
	for _, d := range []string{filepath.Dir(pinDir), pinDir} {
		if err := os.Chmod(d, 0o755); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(pinDir, 0o700); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(dir, "state")
	if err := os.Mkdir(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{pinDir, stateDir} {
		if err := os.Chown(d, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
}
