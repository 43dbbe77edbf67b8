package testenv

import (
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// LocalKMS is the local AWS KMS emulator (github.com/nsmithuk/local-kms).
type LocalKMS struct {
	Endpoint string

	port string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartLocalKMS starts the emulator on a loopback port and points the AWS
// SDK environment at it for the rest of the test: AWS_ENDPOINT_URL, dummy
// credentials, region eu-west-2 (the emulator's default), no instance
// metadata, and no AWS_CA_BUNDLE or shared config. The emulator listens on
// every interface, so the test must run in a private network namespace
// (see InPrivateNetwork); StartLocalKMS fails the test otherwise.
func StartLocalKMS(t testing.TB) *LocalKMS {
	t.Helper()
	if os.Getenv(netnsMarker) != t.Name() {
		t.Fatal("StartLocalKMS outside a private network namespace; call InPrivateNetwork first")
	}
	Tool(t, "local-kms") // skips when make test has not installed it

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()

	k := &LocalKMS{Endpoint: "http://127.0.0.1:" + port, port: port, dir: t.TempDir()}
	k.Start(t)
	t.Cleanup(k.Stop)

	for name, value := range map[string]string{
		"AWS_ENDPOINT_URL":            k.Endpoint,
		"AWS_ACCESS_KEY_ID":           "AKIDLOCALKMSTEST",
		"AWS_SECRET_ACCESS_KEY":       "local-kms-test-secret",
		"AWS_REGION":                  "eu-west-2",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CA_BUNDLE":               "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             "/nonexistent/aws-config",
		"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
	} {
		t.Setenv(name, value)
	}
	os.Unsetenv("AWS_CA_BUNDLE")
	os.Unsetenv("AWS_PROFILE")
	return k
}

// Start starts the emulator, on the same port and data as before a Stop.
func (k *LocalKMS) Start(t testing.TB) {
	t.Helper()
	k.cmd = exec.Command(Tool(t, "local-kms"))
	k.cmd.Env = append(os.Environ(), "PORT="+k.port, "KMS_DATA_PATH="+k.dir, "KMS_SEED_PATH=/nonexistent/seed.yaml")
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("start local-kms: %v", err)
	}
	k.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(k.cmd, k.done)

	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := net.Dial("tcp", "127.0.0.1:"+k.port)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-k.done:
			t.Fatalf("local-kms exited at start: %v", k.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			k.Stop()
			t.Fatalf("local-kms did not listen on port %s within 20s", k.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the emulator. It is safe to call twice.
func (k *LocalKMS) Stop() {
	if k.cmd == nil {
		return
	}
	k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
		k.cmd.Process.Kill()
		<-k.done
	}
	k.cmd = nil
}
