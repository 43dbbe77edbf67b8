package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// SWTPM is a software TPM 2.0 (swtpm) serving TPM commands on a Unix
// socket. Its state directory outlives Restart, as a real TPM's NV does.
type SWTPM struct {
	// Socket is the TPM command socket, usable as a tpm: URI's device.
	Socket string

	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartSWTPM starts swtpm with fresh state and stops it when the test
// ends. It skips the test when swtpm is not installed.
func StartSWTPM(t testing.TB) *SWTPM {
	t.Helper()
	if _, err := exec.LookPath("swtpm"); err != nil {
		t.Skip("swtpm not installed (Debian package swtpm; make test installs it); skipping")
	}
	dir := ShortTempDir(t)
	s := &SWTPM{Socket: filepath.Join(dir, "tpm.sock"), dir: dir}
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	s.start(t)
	t.Cleanup(s.Stop)
	return s
}

func (s *SWTPM) start(t testing.TB) {
	t.Helper()
	os.Remove(s.Socket)
	os.Remove(s.Socket + ".ctrl")
	s.cmd = exec.Command("swtpm", "socket", "--tpm2",
		"--server", "type=unixio,path="+s.Socket,
		"--ctrl", "type=unixio,path="+s.Socket+".ctrl",
		"--tpmstate", "dir="+filepath.Join(s.dir, "state"),
		"--flags", "not-need-init,startup-clear")
	// swtpm logs every client disconnect on stderr; drop that noise.
	s.cmd.Stderr = nil
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start swtpm: %v", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.cmd, s.done)

	// swtpm binds the command socket a moment before it listens, so only
	// a connection shows that it is ready. It then serves the next client
	// once this one hangs up.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if conn, err := net.Dial("unix", s.Socket); err == nil {
			conn.Close()
			return
		}
		select {
		case <-s.done:
			t.Fatalf("swtpm exited at start: %v", s.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			t.Fatalf("swtpm did not listen on %s within 20s", s.Socket)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop stops swtpm, keeping its state. It is safe to call twice.
func (s *SWTPM) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Restart stops swtpm and starts it again on the same state, as a reboot
// does to a hardware TPM.
func (s *SWTPM) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}
