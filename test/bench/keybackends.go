package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// keyBackend is a key held by swtpm, SoftHSM2 or the local KMS emulator
// that a scenario's daemon signs with, and what the daemon needs to reach
// it. The file-key scenarios have none.
type keyBackend struct {
	uri string

	// env is added to the daemon's environment, which keeps none of the
	// bench's own AWS_ variables.
	env []string

	// wrap is a command prefix that starts the daemon, such as nsenter
	// into the KMS emulator's private network namespace.
	wrap []string

	// stop stops the processes that hold the key.
	stop func()
}

// skipError marks a backend that cannot run here, because a tool is
// missing or it needs root. The page shows the scenario as skipped, with
// the reason.
type skipError struct{ reason string }

func (e skipError) Error() string { return "skipped: " + e.reason }

// The labels of the backends' rows in the raw signing table, which come
// from each backend package's Go benchmark.
const (
	rawTPM    = "TPM (swtpm), one at a time"
	rawPKCS11 = "PKCS#11 (SoftHSM2), one at a time"
	rawKMS    = "AWS KMS (local-kms emulator), one at a time"
)

// softhsmModules are where Debian's softhsm2 package puts the module.
var softhsmModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
}

// setupTPM starts swtpm with fresh state in dir and creates a key file
// under its storage primary key, as TestTPMBackend does.
func setupTPM(r *run, dir string) (*keyBackend, error) {
	if _, err := exec.LookPath("swtpm"); err != nil {
		return nil, skipError{"swtpm not installed (Debian package swtpm, which make test-deps installs)"}
	}
	state := filepath.Join(dir, "tpm-state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, err
	}

	socket := filepath.Join(dir, "tpm.sock")
	tpm, err := startProcess(exec.Command("swtpm", "socket", "--tpm2",
		"--server", "type=unixio,path="+socket,
		"--ctrl", "type=unixio,path="+socket+".ctrl",
		"--tpmstate", "dir="+state,
		"--flags", "not-need-init,startup-clear"))
	if err != nil {
		return nil, fmt.Errorf("start swtpm: %w", err)
	}

	// swtpm binds the command socket a moment before it listens, so only
	// a connection shows that it is ready.
	err = tpm.waitReady("swtpm", func() bool {
		conn, err := net.Dial("unix", socket)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	if err != nil {
		tpm.stop()
		return nil, err
	}

	uri, err := r.createKey(nil, nil, "--backend", "tpm", "--path", filepath.Join(dir, "signing.tpm.pem"), "--device", socket)
	if err != nil {
		tpm.stop()
		return nil, err
	}
	return &keyBackend{uri: uri, stop: tpm.stop}, nil
}

// setupPKCS11 initializes a SoftHSM2 token in dir and creates a key on it,
// as TestPKCS11Backend does. SOFTHSM2_CONF goes to signerctl and the
// daemon only, not to this process.
func setupPKCS11(r *run, dir string) (*keyBackend, error) {
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		return nil, skipError{"softhsm2-util not installed (Debian package softhsm2, which make test-deps installs)"}
	}
	module := firstExisting(softhsmModules)
	if module == "" {
		return nil, skipError{fmt.Sprintf("SoftHSM2 module not found in %v", softhsmModules)}
	}

	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	confText := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\n"
	if err := os.WriteFile(conf, []byte(confText), 0o600); err != nil {
		return nil, err
	}
	const pin = "5678"
	pinFile := filepath.Join(dir, "pin")
	if err := os.WriteFile(pinFile, []byte(pin+"\n"), 0o600); err != nil {
		return nil, err
	}
	env := []string{"SOFTHSM2_CONF=" + conf}

	initToken := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "signerd", "--so-pin", "1234", "--pin", pin)
	initToken.Env = daemonEnv(env)
	if out, err := initToken.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("softhsm2-util --init-token: %v\n%s", err, out)
	}

	uri, err := r.createKey(nil, env, "--backend", "pkcs11", "--uri",
		"pkcs11:token=signerd;object=signerd?module-path="+module+"&pin-source=file:"+pinFile)
	if err != nil {
		return nil, err
	}
	return &keyBackend{uri: uri, env: env, stop: func() {}}, nil
}

// kmsPort is the emulator's port inside its own network namespace, where
// nothing else listens.
const kmsPort = 4599

// setupKMS starts the local AWS KMS emulator and creates a key alias on
// it. The emulator listens on every interface and has no option to change
// that, so it and the daemon run in a private network namespace with only
// loopback up, as TestKMSBackend does: nothing outside can reach the
// emulator. The load generator still reaches the daemon, because a Unix
// socket with a path belongs to the file system, not to a network
// namespace.
func setupKMS(r *run, dir string) (*keyBackend, error) {
	if os.Geteuid() != 0 {
		return nil, skipError{"needs root for a private network namespace"}
	}
	emulator := findTool("local-kms")
	if emulator == "" {
		return nil, skipError{"local-kms not found in " + toolsDir() + " or PATH; run make test-deps"}
	}
	for _, tool := range []string{"nsenter", "ip", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, skipError{tool + " not installed"}
		}
	}

	netns, err := startNetworkNamespace()
	if err != nil {
		return nil, err
	}
	enter := []string{"nsenter", "--net=/proc/" + strconv.Itoa(netns.cmd.Process.Pid) + "/ns/net", "--"}

	kms, err := startKMSEmulator(enter, emulator, filepath.Join(dir, "kms"))
	if err != nil {
		netns.stop()
		return nil, err
	}
	stop := func() {
		kms.stop()
		netns.stop()
	}

	env := []string{
		"AWS_ENDPOINT_URL=http://127.0.0.1:" + strconv.Itoa(kmsPort),
		"AWS_ACCESS_KEY_ID=AKIDLOCALKMSBENCH",
		"AWS_SECRET_ACCESS_KEY=local-kms-bench-secret",
		"AWS_REGION=eu-west-2", // the emulator's default region
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/nonexistent/aws-config",
		"AWS_SHARED_CREDENTIALS_FILE=/nonexistent/aws-credentials",
	}
	uri, err := r.createKey(enter, env, "--backend", "kms", "--uri", "awskms:///alias/signerd-bench")
	if err != nil {
		stop()
		return nil, err
	}
	return &keyBackend{uri: uri, env: env, wrap: enter, stop: stop}, nil
}

// startNetworkNamespace starts a process that holds a new network
// namespace, and brings its loopback interface up. Processes join it with
// nsenter --net=/proc/PID/ns/net.
func startNetworkNamespace() (*process, error) {
	holder := exec.Command("sleep", "infinity")
	holder.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	netns, err := startProcess(holder)
	if err != nil {
		return nil, fmt.Errorf("start a process in a new network namespace: %w", err)
	}

	loopback := exec.Command("nsenter", "--net=/proc/"+strconv.Itoa(holder.Process.Pid)+"/ns/net", "--", "ip", "link", "set", "lo", "up")
	if out, err := loopback.CombinedOutput(); err != nil {
		netns.stop()
		return nil, fmt.Errorf("bring loopback up in the network namespace: %v\n%s", err, out)
	}
	return netns, nil
}

// startKMSEmulator starts local-kms through the enter prefix, with its
// data in dataDir, and waits until it accepts connections.
func startKMSEmulator(enter []string, emulator, dataDir string) (*process, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	cmd := exec.Command(enter[0], append(enter[1:], emulator)...)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(kmsPort), "KMS_DATA_PATH="+dataDir, "KMS_SEED_PATH=/nonexistent/seed.yaml")
	kms, err := startProcess(cmd)
	if err != nil {
		return nil, fmt.Errorf("start local-kms: %w", err)
	}

	// The emulator's port is reachable only from inside the namespace, so
	// bash's /dev/tcp probes it from there.
	probe := append(append([]string{}, enter...), "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d", kmsPort))
	err = kms.waitReady("local-kms", func() bool {
		return exec.Command(probe[0], probe[1:]...).Run() == nil
	})
	if err != nil {
		kms.stop()
		return nil, err
	}
	return kms, nil
}

// createKey runs signerctl key create, through the wrap prefix and with
// env added, and returns the URI it printed.
func (r *run) createKey(wrap, env []string, args ...string) (string, error) {
	argv := append(append([]string{}, wrap...), filepath.Join(r.bin, "signerctl"), "key", "create")
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = daemonEnv(env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("signerctl key create %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	lines := strings.Split(string(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "# key.uri") {
		return "", fmt.Errorf("signerctl key create %s printed no key URI:\n%s", strings.Join(args, " "), out)
	}
	return lines[1], nil
}

// daemonEnv returns this process's environment without its AWS_
// variables, which could point the SDK at a real account, plus extra.
func daemonEnv(extra []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// toolsDir returns where make test-deps installs tools:
// $SIGNERD_TOOLS_BIN, by default ~/.cache/signerd-tools/bin.
func toolsDir() string {
	if dir := os.Getenv("SIGNERD_TOOLS_BIN"); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "signerd-tools", "bin")
}

// findTool returns the path of a tool in toolsDir or PATH, or "" when
// neither has it.
func findTool(name string) string {
	if p := filepath.Join(toolsDir(), name); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

func firstExisting(paths []string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// process is a helper program that a scenario started and stops.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startProcess(cmd *exec.Cmd) (*process, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// waitReady polls ready every 20 ms for up to 20 s, and fails early when
// the process exits.
func (p *process) waitReady(name string, ready func() bool) error {
	deadline := time.Now().Add(20 * time.Second)
	for !ready() {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited at start: %v", name, p.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return errors.New(name + " did not accept connections within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// stop sends SIGTERM and kills the process if it has not exited after
// 10 s.
func (p *process) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}
