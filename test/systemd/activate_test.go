// Package systemd tests signerd as systemd runs it: socket activation and
// sd_notify with systemd-socket-activate and a NOTIFY_SOCKET the test
// reads, and the shipped units under a real systemd 252 booted in a
// container.
package systemd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/server"
	"github.com/signerd/signerd/test/testenv"
)

// activated is a signerd started by systemd-socket-activate.
type activated struct {
	cmd    *exec.Cmd
	dir    string
	config string
	notify *testenv.NotifySocket
	caller *client.Client
	admin  *client.Client
	exited chan struct{}

	mu  sync.Mutex
	log bytes.Buffer
}

func (a *activated) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.Write(p)
}

func (a *activated) logText() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.String()
}

func startActivated(t *testing.T, cfg testConfig) *activated {
	t.Helper()
	activate, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not found; run make test-deps")
	}
	bin := filepath.Join(testenv.Binaries(t), "signerd")

	dir := testenv.ShortTempDir(t)
	cfg.Dir = dir
	a := &activated{dir: dir, config: filepath.Join(dir, "signerd.yaml"), exited: make(chan struct{})}
	cfg.write(t, a.config)
	a.notify = testenv.ListenNotify(t, filepath.Join(dir, "notify.sock"))

	a.cmd = exec.Command(activate,
		"-l", filepath.Join(dir, "caller.sock"),
		"-l", filepath.Join(dir, "admin.sock"),
		"--fdname=signerd:signerd-admin",
		"-E", "NOTIFY_SOCKET="+a.notify.Path,
		"-E", "WATCHDOG_USEC=600000",
		bin, "--config", a.config)
	a.cmd.Stdout, a.cmd.Stderr = a, a
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.exited) }()
	t.Cleanup(func() {
		a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.exited:
		case <-time.After(20 * time.Second):
			a.cmd.Process.Kill()
			<-a.exited
		}
		if t.Failed() {
			t.Logf("signerd log:\n%s", a.logText())
		}
	})

	// systemd-socket-activate binds the sockets first and starts signerd
	// on the first connection; wait for the files, not for signerd.
	for _, name := range []string{"caller.sock", "admin.sock"} {
		waitForFile(t, filepath.Join(dir, name), a.exited)
	}

	a.caller = client.New(filepath.Join(dir, "caller.sock"))
	a.admin = client.New(filepath.Join(dir, "admin.sock"))
	t.Cleanup(a.caller.Close)
	t.Cleanup(a.admin.Close)
	return a
}

func TestSocketActivationAndNotify(t *testing.T) {
	metricsAddr := freeLoopbackPort(t)
	a := startActivated(t, testConfig{Tenant: "first", UID: os.Getuid(), MetricsAt: metricsAddr})
	ctx := context.Background()

	// systemd-socket-activate starts signerd on the first connection;
	// the request waits in the socket's backlog until signerd serves it.
	w, err := a.caller.WhoAmI(ctx)
	if err != nil {
		t.Fatalf("first request through the activated socket: %v", err)
	}
	if w.Tenant != "first" {
		t.Fatalf("tenant = %q, want first", w.Tenant)
	}
	ready := a.notify.WaitLines(t, "READY=1", "STATUS=serving 1 tenants")
	if !strings.Contains(ready, "key file ok") {
		t.Errorf("READY status %q does not report the key backend's health", ready)
	}
	if !strings.Contains(a.logText(), `"msg":"using socket from systemd"`) {
		t.Errorf("signerd did not report using the activated sockets:\n%s", a.logText())
	}

	t.Run("watchdog", func(t *testing.T) {
		// The loop pings only after a request over the caller socket
		// succeeded.
		a.notify.WaitLines(t, "WATCHDOG=1", "STATUS=serving")
	})

	t.Run("self-check header from a caller is logged", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(a.dir, "caller.sock"))
			},
		}}
		req, _ := http.NewRequest(http.MethodGet, "http://"+api.Host+api.PathHealthz, nil)
		req.Header.Set(server.HeaderSelfCheck, "1")
		req.Header.Set(api.HeaderCorrelationID, "spoofed-self-check")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		waitForLog(t, a, `"correlation_id":"spoofed-self-check"`)
	})

	t.Run("reload on SIGHUP", func(t *testing.T) {
		testConfig{Dir: a.dir, Tenant: "second", UID: os.Getuid(), MetricsAt: metricsAddr}.write(t, a.config)
		a.cmd.Process.Signal(syscall.SIGHUP)

		msg := a.notify.WaitLines(t, "RELOADING=1")
		if !strings.Contains(msg, "MONOTONIC_USEC=") {
			t.Errorf("RELOADING message %q has no MONOTONIC_USEC", msg)
		}
		a.notify.WaitLines(t, "READY=1", "STATUS=serving")

		w, err := a.caller.WhoAmI(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if w.Tenant != "second" {
			t.Fatalf("tenant after reload = %q, want second", w.Tenant)
		}
	})

	t.Run("broken config keeps the old one", func(t *testing.T) {
		testConfig{Dir: a.dir, Tenant: "third", UID: os.Getuid(), MetricsAt: metricsAddr, Broken: true}.write(t, a.config)
		a.cmd.Process.Signal(syscall.SIGHUP)

		a.notify.WaitLines(t, "RELOADING=1")
		msg := a.notify.WaitLines(t, "READY=1", "STATUS=")
		if !strings.Contains(msg, "last reload failed") || !strings.Contains(msg, "Not-A-Valid-Name") {
			t.Errorf("STATUS after a failed reload = %q, want the reload error", msg)
		}

		w, err := a.caller.WhoAmI(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if w.Tenant != "second" {
			t.Fatalf("tenant after a failed reload = %q, want the old tenant second", w.Tenant)
		}

		s, err := a.admin.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(s.LastReloadError, "Not-A-Valid-Name") {
			t.Errorf("status lastReloadError = %q, want the validation error", s.LastReloadError)
		}

		_, err = a.admin.Reload(ctx)
		if !client.IsCode(err, api.CodeReloadFailed) {
			t.Fatalf("POST /v1/reload with a broken config: err = %v, want code %s", err, api.CodeReloadFailed)
		}
	})

	t.Run("reload on the admin socket", func(t *testing.T) {
		testConfig{Dir: a.dir, Tenant: "fourth", UID: os.Getuid(), MetricsAt: metricsAddr}.write(t, a.config)
		r, err := a.admin.Reload(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != "reloaded" || r.Summary.Tenants != 1 {
			t.Fatalf("reload response = %+v", r)
		}
		a.notify.WaitLines(t, "READY=1")

		s, err := a.admin.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.LastReloadError != "" {
			t.Errorf("lastReloadError after a good reload = %q, want empty", s.LastReloadError)
		}
		if s.Reloads != 4 {
			t.Errorf("reloads = %d, want 4 (two by SIGHUP, two by POST)", s.Reloads)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		body := scrape(t, a.dir, metricsAddr)
		for _, want := range []string{
			`signerd_reloads_total{result="success"} 2`,
			`signerd_reloads_total{result="failure"} 2`,
			`signerd_requests_total{code="none",endpoint="/v1/whoami",outcome="allowed",tenant="second"} 2`,
			`signerd_config_last_reload_successful 1`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})

	t.Run("stopping drains a request in flight", func(t *testing.T) {
		body := `{"subjects":[{"name":"a","digest":{"sha256":"` + strings.Repeat("ab", 32) + `"}}],` +
			`"predicateType":"https://example.com/drain/v1","predicate":{"k":"v"}}`
		conn, err := net.Dial("unix", filepath.Join(a.dir, "caller.sock"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()

		// Headers and half the body: the request is in flight until the
		// rest arrives.
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
			api.PathSignDSSE, api.Host, len(body))
		io.WriteString(conn, body[:len(body)/2])
		waitForStatus(t, a.admin, func(s *api.StatusResponse) bool { return s.RequestsInFlight == 1 })

		a.cmd.Process.Signal(syscall.SIGTERM)
		msg := a.notify.WaitLines(t, "STOPPING=1")
		if !strings.Contains(msg, "draining 1 requests") {
			t.Errorf("STOPPING message %q does not report the request in flight", msg)
		}

		io.WriteString(conn, body[len(body)/2:])
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("in-flight request after SIGTERM: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("in-flight request after SIGTERM: HTTP %d, want 200", resp.StatusCode)
		}

		select {
		case <-a.exited:
		case <-time.After(30 * time.Second):
			t.Fatal("signerd did not exit within 30s of SIGTERM")
		}
		if code := a.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("exit status %d after SIGTERM, want 0", code)
		}
	})
}

// scrape reads /metrics from the admin socket and checks that the
// loopback TCP listener serves the same metric names.
func scrape(t *testing.T, dir, tcpAddr string) string {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(dir, "admin.sock"))
		},
	}}
	resp, err := hc.Get("http://" + api.Host + api.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics on the admin socket: HTTP %d: %s", resp.StatusCode, body)
	}

	tcp, err := http.Get("http://" + tcpAddr + api.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Body.Close()
	tcpBody, _ := io.ReadAll(tcp.Body)
	if tcp.StatusCode != http.StatusOK || !bytes.Contains(tcpBody, []byte("signerd_reloads_total")) {
		t.Fatalf("GET /metrics on %s: HTTP %d: %.300s", tcpAddr, tcp.StatusCode, tcpBody)
	}
	return string(body)
}

func TestMetricsListenerGuards(t *testing.T) {
	metricsAddr := freeLoopbackPort(t)
	a := startActivated(t, testConfig{Tenant: "first", UID: os.Getuid(), MetricsAt: metricsAddr})
	if _, err := a.caller.WhoAmI(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.notify.WaitLines(t, "READY=1")

	cases := []struct {
		name   string
		method string
		path   string
		header map[string]string
		want   int
	}{
		{"scrape", http.MethodGet, "/metrics", nil, http.StatusOK},
		{"rebound host", http.MethodGet, "/metrics", map[string]string{"Host": "evil.example:9464"}, http.StatusForbidden},
		{"browser origin", http.MethodGet, "/metrics", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"other path", http.MethodGet, "/v1/status", nil, http.StatusNotFound},
		{"post", http.MethodPost, "/metrics", nil, http.StatusMethodNotAllowed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, "http://"+metricsAddr+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.header {
				if k == "Host" {
					req.Host = v
					continue
				}
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("%s %s: HTTP %d, want %d", c.method, c.path, resp.StatusCode, c.want)
			}
		})
	}
}

func TestAdminSocketRejectsOtherUsers(t *testing.T) {
	testenv.RequireRoot(t)
	a := startActivated(t, testConfig{Tenant: "first", UID: os.Getuid()})
	if _, err := a.caller.WhoAmI(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.notify.WaitLines(t, "READY=1")

	// Open the socket file to everyone, so only the daemon's own uid check
	// keeps another user from the admin endpoints.
	admin := filepath.Join(a.dir, "admin.sock")
	if err := os.Chmod(admin, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(a.dir, 0o755); err != nil {
		t.Fatal(err)
	}

	for _, cmd := range []string{"status", "reload"} {
		t.Run(cmd, func(t *testing.T) {
			c := exec.Command(filepath.Join(testenv.Binaries(t), "signerctl"), "--admin-socket", admin, cmd)
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 4242, Gid: 4242}}
			out, err := c.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("signerctl %s as uid 4242: err = %v, want a non-zero exit\n%s", cmd, err, out)
			}
			if !strings.Contains(string(out), "forbidden") || !strings.Contains(string(out), "uid 4242") {
				t.Fatalf("signerctl %s as uid 4242 printed %q, want a forbidden error naming uid 4242", cmd, out)
			}
		})
	}

	// Root still may.
	if _, err := a.admin.Status(context.Background()); err != nil {
		t.Fatalf("status as root: %v", err)
	}
}

func waitForStatus(t *testing.T, admin *client.Client, cond func(*api.StatusResponse) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := admin.Status(context.Background())
		if err == nil && cond(s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status did not reach the expected state within 10s: %+v (%v)", s, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitForLog(t *testing.T, a *activated, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(a.logText(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log has no %s", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitForFile(t *testing.T, path string, exited <-chan struct{}) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("systemd-socket-activate exited before creating %s", path)
		case <-deadline:
			t.Fatalf("%s did not appear within 30s", path)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
