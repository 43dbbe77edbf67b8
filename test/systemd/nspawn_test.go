package systemd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/signerd/signerd/daemon/api"
)

// TestUnitsUnderSystemd installs the shipped units into a container
// running systemd 252 and checks what an administrator relies on. The
// subtests share one container and run in order.
func TestUnitsUnderSystemd(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a container; skipped with -short")
	}
	c := bootContainer(t)
	const service = "signerd.service"

	t.Run("first request starts the service", func(t *testing.T) {
		c.mustExec("systemctl", "start", "signerd.socket", "signerd-admin.socket")
		if state := c.property(service, "ActiveState"); state != "inactive" {
			t.Fatalf("signerd.service is %s right after the sockets started, want inactive until a request", state)
		}

		out, err := c.run(nil, "/opt/signerd/bin/signerctl", "whoami")
		if err != nil {
			t.Fatalf("signerctl whoami: %v\n%s", err, out)
		}
		var w api.WhoAmIResponse
		if err := json.Unmarshal([]byte(out), &w); err != nil || w.Tenant != "root" {
			t.Fatalf("whoami = %q (%v), want tenant root", out, err)
		}
		if state := c.property(service, "ActiveState"); state != "active" {
			t.Fatalf("signerd.service is %s after the first request, want active", state)
		}
		if user := c.property(service, "User"); user != "signerd" {
			t.Errorf("service user = %q, want signerd", user)
		}
	})

	t.Run("socket files", func(t *testing.T) {
		cases := []struct {
			path  string
			mode  os.FileMode
			group string
		}{
			{"/run/signerd/signerd.sock", 0o660, "signerd-clients"},
			{"/run/signerd/admin.sock", 0o600, "signerd"},
			// Only callers may search the directory, so a link to the
			// caller socket still needs the group.
			{"/run/signerd", 0o750, "signerd-clients"},
		}
		for _, tc := range cases {
			out := strings.Fields(c.mustExec("stat", "-c", "%a %U %G", tc.path))
			if len(out) != 3 {
				t.Fatalf("stat %s: %q", tc.path, out)
			}
			if out[0] != strconv.FormatUint(uint64(tc.mode), 8) || out[1] != "signerd" || out[2] != tc.group {
				t.Errorf("%s is %v, want mode %o owner signerd group %s", tc.path, out, tc.mode, tc.group)
			}
		}
	})

	t.Run("status line", func(t *testing.T) {
		out, _ := c.exec("systemctl", "status", "--no-pager", service)
		if !strings.Contains(out, "Status: \"serving 1 tenants, 0 extensions, key file ok") {
			t.Fatalf("systemctl status lacks the STATUS line:\n%s", out)
		}
	})

	t.Run("signerctl status on the admin socket", func(t *testing.T) {
		out, err := c.run(nil, "/opt/signerd/bin/signerctl", "status", "--json")
		if err != nil {
			t.Fatalf("signerctl status: %v\n%s", err, out)
		}
		var s api.StatusResponse
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("status output %q: %v", out, err)
		}
		if s.Status != "ok" || s.Summary.Tenants != 1 || s.Summary.KeyBackend != "file" {
			t.Errorf("status = %+v", s)
		}
	})

	t.Run("reload under load drops no request", func(t *testing.T) {
		var wg sync.WaitGroup
		var out string
		var err error
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err = c.run([]string{loadgenEnv + "=1"}, "/opt/signerd-test/systemd.test")
		}()

		started := c.hostPath(loadgenStarted)
		c.waitFor("the load generator's first signature", func() bool { return exists(started) })

		const reloads = 5
		for i := range reloads {
			c.mustExec("systemctl", "reload", service)
			c.waitFor("reload "+strconv.Itoa(i+1)+" to finish", func() bool {
				return c.reloadCount(t) == i+1 && c.property(service, "ActiveState") == "active"
			})
		}

		os.WriteFile(c.hostPath(loadgenStop), nil, 0o644)
		wg.Wait()

		var res loadgenResult
		if jerr := json.Unmarshal([]byte(lastLine(out)), &res); jerr != nil {
			t.Fatalf("load generator output %q (%v): %v", out, err, jerr)
		}
		if res.Failed != 0 || err != nil {
			t.Fatalf("%d of %d requests failed across %d reloads: %q", res.Failed, res.OK+res.Failed, reloads, res.Errors)
		}
		if res.OK == 0 {
			t.Fatal("the load generator signed nothing")
		}
		t.Logf("%d signatures, none failed, across %d reloads", res.OK, reloads)
	})

	t.Run("journal fields", func(t *testing.T) {
		out := c.journal("loadgen-1", "-o", "json", "-u", service, "CORRELATION_ID=loadgen-1")
		var entry map[string]any
		if err := json.Unmarshal([]byte(firstLine(out)), &entry); err != nil {
			t.Fatalf("journalctl found no entry for CORRELATION_ID=loadgen-1: %q", out)
		}
		want := map[string]string{
			"MESSAGE":        "request",
			"PATH":           api.PathSignDSSE,
			"OUTCOME":        "allowed",
			"TENANT":         "root",
			"CALLER_UID":     "0",
			"PREDICATE_TYPE": "https://example.com/loadgen/v1",
			"CORRELATION_ID": "loadgen-1",
		}
		for k, v := range want {
			if got, _ := entry[k].(string); got != v {
				t.Errorf("journal field %s = %q, want %q", k, got, v)
			}
		}
		if _, ok := entry["RECORD_ID"]; !ok {
			t.Error("journal entry has no RECORD_ID field")
		}
	})

	t.Run("reload with a broken policy keeps the old one", func(t *testing.T) {
		cfg := filepath.Join(c.stage, "etc", "signerd", "signerd.yaml")
		broken := strings.Replace(containerConfig, "name: root", "name: Root Tenant", 1)
		if err := os.WriteFile(cfg, []byte(broken), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.WriteFile(cfg, []byte(containerConfig), 0o644) })

		before := c.reloadCount(t)
		c.mustExec("systemctl", "reload", service)
		c.waitFor("the broken reload to finish", func() bool { return c.reloadCount(t) == before+1 })

		status := c.property(service, "StatusText")
		if !strings.Contains(status, "last reload failed") || !strings.Contains(status, "Root Tenant") {
			t.Errorf("StatusText after a broken reload = %q, want the reload error", status)
		}
		out, err := c.run(nil, "/opt/signerd/bin/signerctl", "whoami")
		if err != nil || !strings.Contains(out, `"tenant": "root"`) {
			t.Fatalf("whoami after a broken reload: %v\n%s", err, out)
		}
		logs := c.journal("reload failed", "-u", service, "MESSAGE=reload failed, keeping the running config")
		if !strings.Contains(logs, "reload failed") {
			t.Errorf("journal has no reload failure:\n%s", logs)
		}
	})

	t.Run("watchdog restarts a hung daemon", func(t *testing.T) {
		dropin := filepath.Join(c.stage, "etc", "systemd", "system", service+".d")
		if err := os.MkdirAll(dropin, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, dropin, "watchdog.conf", "[Service]\nWatchdogSec=3s\nTimeoutAbortSec=2s\n")
		c.mustExec("systemctl", "daemon-reload")
		c.mustExec("systemctl", "restart", service)

		pid := c.property(service, "MainPID")
		restarts := c.property(service, "NRestarts")
		c.mustExec("kill", "-STOP", pid)

		c.waitFor("systemd to restart the stopped daemon", func() bool {
			p := c.property(service, "MainPID")
			return p != pid && p != "0" && c.property(service, "ActiveState") == "active"
		})
		if n := c.property(service, "NRestarts"); n == restarts {
			t.Errorf("NRestarts stayed %s after the watchdog fired", n)
		}
		logs := c.journal("Watchdog timeout", "-u", service)
		if !strings.Contains(logs, "Watchdog timeout") {
			t.Errorf("journal does not show a watchdog timeout:\n%s", tail([]byte(logs), 2000))
		}
		if out, err := c.run(nil, "/opt/signerd/bin/signerctl", "whoami"); err != nil {
			t.Fatalf("whoami after the restart: %v\n%s", err, out)
		}
	})

	t.Run("stopping keeps the sockets", func(t *testing.T) {
		c.mustExec("systemctl", "stop", service)
		if state := c.property(service, "ActiveState"); state != "inactive" {
			t.Fatalf("service is %s after stop", state)
		}
		for _, p := range []string{"/run/signerd/signerd.sock", "/run/signerd/admin.sock"} {
			if !exists(c.hostPath(p)) {
				t.Errorf("%s vanished when the service stopped", p)
			}
		}
		logs := c.journal("signerd stopped", "-u", service, "-n", "20")
		if !strings.Contains(logs, "signerd stopped") {
			t.Errorf("journal lacks the stop message:\n%s", logs)
		}

		// The next request starts it again.
		if out, err := c.run(nil, "/opt/signerd/bin/signerctl", "health"); err != nil {
			t.Fatalf("health after stop: %v\n%s", err, out)
		}
		if state := c.property(service, "ActiveState"); state != "active" {
			t.Fatalf("service is %s after a request on the stopped service's socket", state)
		}
	})
}

// reloadCount returns how many reloads the daemon has done, from
// signerctl status on the admin socket.
func (c *container) reloadCount(t *testing.T) int {
	t.Helper()
	out, err := c.run(nil, "/opt/signerd/bin/signerctl", "status", "--json")
	if err != nil {
		return -1
	}
	var s api.StatusResponse
	if json.Unmarshal([]byte(out), &s) != nil {
		return -1
	}
	return s.Reloads
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
