package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/test/testenv"
)

func TestStartRefusesSecondDaemon(t *testing.T) {
	d := testenv.StartDev(t)
	signerd := filepath.Join(testenv.Binaries(t), "signerd")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, signerd, "--dev", d.Dir).CombinedOutput()
	if err == nil {
		t.Fatalf("a second daemon started on the same socket:\n%s", out)
	}
	if !strings.Contains(string(out), "in use") {
		t.Errorf("second daemon's error does not say the socket is in use:\n%s", out)
	}

	c := client.New(d.Socket)
	defer c.Close()
	if _, err := c.Health(context.Background()); err != nil {
		t.Errorf("first daemon stopped serving: %v", err)
	}
}

func TestStartReplacesStaleSocket(t *testing.T) {
	d := testenv.StartDev(t)
	// kill -9 leaves the socket file behind.
	d.Cmd.Process.Kill()
	d.Cmd.Process.Wait()
	if _, err := os.Lstat(d.Socket); err != nil {
		t.Fatalf("expected a stale socket file after kill -9: %v", err)
	}

	d2 := testenv.Start(t, d.Socket, d.Dir, "--dev", d.Dir)
	c := client.New(d2.Socket)
	defer c.Close()
	if _, err := c.Health(context.Background()); err != nil {
		t.Errorf("daemon over a stale socket does not serve: %v", err)
	}
}

func TestStartRefusesWideKeyFile(t *testing.T) {
	d := testenv.StartDev(t)
	key := filepath.Join(d.Dir, "signing.key")
	d.Cmd.Process.Signal(os.Interrupt)
	d.Cmd.Process.Wait()

	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(testenv.Binaries(t), "signerd"), "--dev", d.Dir).CombinedOutput()
	if err == nil {
		t.Fatalf("daemon started with a key file of mode 0644:\n%s", out)
	}
	if !strings.Contains(string(out), "mode 0644") || !strings.Contains(string(out), "chmod 0600") {
		t.Errorf("error does not name the mode and the fix:\n%s", out)
	}
}

func TestStartRejectsLongSocketPath(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	deep := filepath.Join(dir, strings.Repeat("d", 120))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(testenv.Binaries(t), "signerd"), "--dev", deep).CombinedOutput()
	if err == nil {
		t.Fatalf("daemon started with a socket path over 107 bytes:\n%s", out)
	}
	if !strings.Contains(string(out), "kernel's limit of 107") {
		t.Errorf("error does not report the kernel's limit:\n%s", out)
	}
}

func TestStartRejectsDevWithConfig(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(testenv.Binaries(t), "signerd"), "--dev", dir, "--config", filepath.Join(dir, "signerd.yaml"))
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 2 {
		t.Fatalf("signerd --dev --config: %v, want exit status 2:\n%s", err, out)
	}
	if !strings.Contains(string(out), "--dev runs its built-in development config, so it cannot take --config") {
		t.Errorf("error does not explain the conflict:\n%s", out)
	}
}

func TestValidateCommand(t *testing.T) {
	signerd := filepath.Join(testenv.Binaries(t), "signerd")
	dir := t.TempDir()

	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("tenants:\n  - name: a\n    predicate_types: [\"*\"]\n    callers: [{uid: 1000}]\n"), 0o644)
	out, err := exec.Command(signerd, "validate", "--config", good).CombinedOutput()
	if err != nil {
		t.Fatalf("validate rejected a good config: %v\n%s", err, out)
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("log:\n  level: loud\ntenants:\n  - name: a\n    predicate_types: []\n    callers: [{uid: 1000}]\n"), 0o644)
	out, err = exec.Command(signerd, "validate", "--config", bad).CombinedOutput()
	if err == nil {
		t.Fatalf("validate accepted a bad config:\n%s", out)
	}
	for _, want := range []string{bad + ":2:10: log.level", bad + ":5:22: tenants[0].predicate_types", "2 problem(s)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}

	// Several files are each checked, and the output names the bad one.
	out, err = exec.Command(signerd, "validate", good, bad).CombinedOutput()
	if err == nil {
		t.Fatalf("validate accepted a bad config among two:\n%s", out)
	}
	for _, want := range []string{good + ": valid", bad + ":2:10: log.level", bad + ": 2 problem(s)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}

	// Extension modules named by path are read and checked against their
	// pins, as the daemon does at start.
	module := filepath.Join(dir, "m.wasm")
	os.WriteFile(module, []byte("\x00asm\x01\x00\x00\x00"), 0o644)
	modules := filepath.Join(dir, "modules.yaml")
	os.WriteFile(modules, []byte("tenants:\n  - name: a\n    predicate_types: [\"*\"]\n    callers: [{uid: 1000}]\n    extensions:\n"+
		"      - {name: missing, source: "+filepath.Join(dir, "nope.wasm")+", sha256: "+strings.Repeat("a", 64)+"}\n"+
		"      - {name: wrong-pin, source: "+module+", sha256: "+strings.Repeat("b", 64)+"}\n"), 0o644)
	out, err = exec.Command(signerd, "validate", "--config", modules).CombinedOutput()
	if err == nil {
		t.Fatalf("validate accepted a config whose modules are missing or mispinned:\n%s", out)
	}
	for _, want := range []string{"tenants[0].extensions[0].source: ", "nope.wasm", "tenants[0].extensions[1].sha256: ", "2 problem(s)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
}

func TestClientErrorsCarryCode(t *testing.T) {
	d := testenv.StartDev(t)
	c := client.New(d.Socket)
	defer c.Close()

	_, err := c.Sign(context.Background(), &api.SignRequest{PredicateType: "https://example.com/p", Predicate: []byte(`{}`)})
	if !client.IsCode(err, api.CodeInvalidRequest) {
		t.Fatalf("Sign with no subjects: error = %v, want code invalid_request", err)
	}
	var ce *client.Error
	if !asClientError(err, &ce) || ce.API.Field != "subjects" || ce.CorrelationID == "" {
		t.Errorf("error = %#v, want field subjects and a correlation id", err)
	}

	who, err := c.WhoAmI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if who.Tenant != "dev" || who.Caller.UID != uint32(os.Getuid()) || who.Caller.PID != int32(os.Getpid()) {
		t.Errorf("whoami = %+v, want tenant dev with this process's uid and pid", who)
	}

	k, err := c.Key(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k.PublicKeyPEM, "-----BEGIN PUBLIC KEY-----") || k.Algorithm != "ecdsa-p256-sha256" {
		t.Errorf("key = %+v", k)
	}
}

func TestStartRefusesSharedStateDir(t *testing.T) {
	d := testenv.StartDev(t)
	signerd := filepath.Join(testenv.Binaries(t), "signerd")

	// Same state directory, another socket: only the lock can stop it.
	other := testenv.ShortTempDir(t)
	cfgPath := filepath.Join(other, "signerd.yaml")
	cfg := "socket:\n  path: " + filepath.Join(other, "s.sock") + "\n  mode: \"0600\"\n" +
		"state_dir: " + filepath.Join(d.Dir, "state") + "\n" +
		"key:\n  uri: file://" + filepath.Join(other, "signing.key") + "\n" +
		"tenants:\n  - name: a\n    predicate_types: [\"*\"]\n    callers: [{uid: 0}]\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, signerd, "--config", cfgPath).CombinedOutput()
	if err == nil {
		t.Fatalf("a second daemon started on the same state directory:\n%s", out)
	}
	if !strings.Contains(string(out), "is in use by another signerd (pid ") {
		t.Errorf("error does not name the state directory's owner:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(other, "signing.key")); err == nil {
		t.Error("the refused daemon created its key before checking the lock")
	}
}

// A denial after the tenant matched is logged with the tenant and its
// audit record, so an administrator can find a tenant's failed requests.
func TestDenialLoggedWithTenant(t *testing.T) {
	d := testenv.StartDev(t)
	c := client.New(d.Socket)
	defer c.Close()

	_, err := c.Sign(context.Background(), &api.SignRequest{
		Subjects:      []api.Subject{{Name: "a", Digest: map[string]string{"sha256": "ABC"}}},
		PredicateType: "https://example.com/p",
		Predicate:     []byte(`{}`),
	}, client.WithCorrelationID("tenant-denial-1"))
	if !client.IsCode(err, api.CodeInvalidRequest) {
		t.Fatalf("Sign with a bad digest: error = %v, want invalid_request", err)
	}

	line := d.WaitLine(t, "correlation_id=tenant-denial-1")
	for _, want := range []string{"tenant=dev", "record_id=", "outcome=denied"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %q: %s", want, line)
		}
	}
}
