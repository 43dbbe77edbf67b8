// Package e2e runs signerd as a user would: a real daemon process, the
// Go client and signerctl.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/signerd/signerd/daemon/audit"
	"github.com/signerd/signerd/test/testenv"
)

func signRequest(n int) *api.SignRequest {
	sum := sha256.Sum256([]byte(fmt.Sprintf("artifact %d", n)))
	return &api.SignRequest{
		Subjects:      []api.Subject{{Name: fmt.Sprintf("app-%d.tar", n), Digest: map[string]string{"sha256": hex.EncodeToString(sum[:])}}},
		PredicateType: "https://cyclonedx.org/bom",
		Predicate:     json.RawMessage(fmt.Sprintf(`{"bomFormat":"CycloneDX","specVersion":"1.6","serial":%d}`, n)),
	}
}

// startDaemon runs signerd --dev dir, reusing dir's key and state.
func startDaemon(t *testing.T, dir string) *testenv.Daemon {
	t.Helper()
	return testenv.Start(t, filepath.Join(dir, "signerd.sock"), dir, "--dev", dir)
}

// waitExit waits until the daemon process is gone; testenv reaps it.
func waitExit(t *testing.T, d *testenv.Daemon) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for syscall.Kill(d.Cmd.Process.Pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("signerd pid %d did not exit", d.Cmd.Process.Pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog waits until the daemon's log contains text. The log reaches
// the test through a pipe, so a line the daemon wrote before it began
// serving may arrive after the socket accepts connections.
func waitLog(t *testing.T, d *testenv.Daemon, text string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(d.Log(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("signerd log has no %q:\n%s", text, d.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readTrail returns every record in the trail directory by id.
func readTrail(t *testing.T, dir string) map[string]*audit.Record {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*audit.Record{}
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range bytes.Split(data, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			rec, err := audit.Decode(line)
			if err != nil {
				t.Fatalf("%s line %d: %v", name, i+1, err)
			}
			out[rec.ID] = rec
		}
	}
	return out
}

// verifyTrail runs signerctl audit verify on dir and fails unless the
// chain verifies.
func verifyTrail(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(testenv.Binaries(t), "signerctl"), "audit", "verify", dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("signerctl audit verify %s: %v\n%s", dir, err, out)
	}
	if !strings.Contains(string(out), "chain verified") {
		t.Fatalf("signerctl audit verify printed no verdict:\n%s", out)
	}
	return string(out)
}

type received struct {
	resp   *api.SignResponse
	bundle [32]byte
}

// checkReceived fails unless every signature a client received has an
// allowed record for the same bundle and correlation id.
func checkReceived(t *testing.T, auditDir string, got []received) {
	t.Helper()
	records := readTrail(t, auditDir)
	for _, r := range got {
		rec, ok := records[r.resp.RecordID]
		if !ok {
			t.Errorf("signature with record id %s (correlation id %s) has no record", r.resp.RecordID, r.resp.CorrelationID)
			continue
		}
		if rec.Outcome != audit.OutcomeAllowed {
			t.Errorf("record %s has outcome %q, want allowed", rec.ID, rec.Outcome)
		}
		if rec.CorrelationID != r.resp.CorrelationID {
			t.Errorf("record %s has correlation id %q, response %q", rec.ID, rec.CorrelationID, r.resp.CorrelationID)
		}
		if rec.BundleSHA256 != hex.EncodeToString(r.bundle[:]) {
			t.Errorf("record %s has bundle digest %s, the received bundle is %x", rec.ID, rec.BundleSHA256, r.bundle)
		}
	}
}

// TestAuditSurvivesKillUnderLoad kills the daemon with SIGKILL while
// several clients sign, restarts it, and checks that every signature a
// client received has its record and that the chain verifies.
func TestAuditSurvivesKillUnderLoad(t *testing.T) {
	const rounds, workers, perRound = 5, 4, 40
	dir := testenv.ShortTempDir(t)
	auditDir := filepath.Join(dir, "state", "audit")

	var mu sync.Mutex
	var got []received
	next := 0
	for round := range rounds {
		d := startDaemon(t, dir)
		if round > 0 {
			waitLog(t, d, "audit trail opened")
			verifyTrail(t, auditDir)
			checkReceived(t, auditDir, got)
		}

		ctx, cancel := context.WithCancel(context.Background())
		okThisRound := make(chan struct{}, perRound*workers)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := client.New(d.Socket)
				defer c.Close()
				for ctx.Err() == nil {
					mu.Lock()
					n := next
					next++
					mu.Unlock()
					resp, err := c.Sign(ctx, signRequest(n), client.WithCorrelationID(fmt.Sprintf("kill-%d", n)))
					if err != nil {
						continue
					}
					mu.Lock()
					got = append(got, received{resp: resp, bundle: sha256Sum(resp.Bundle)})
					mu.Unlock()
					okThisRound <- struct{}{}
				}
			}()
		}

		// The timeout only turns a hang into a failure with the log.
		for range perRound {
			select {
			case <-okThisRound:
			case <-time.After(60 * time.Second):
				cancel()
				t.Fatalf("round %d: no signature for 60s\n%s", round, d.Log())
			}
		}
		if err := d.Cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		waitExit(t, d)
		cancel()
		wg.Wait()
	}

	startDaemon(t, dir)
	out := verifyTrail(t, auditDir)
	checkReceived(t, auditDir, got)
	if len(got) < rounds*perRound {
		t.Fatalf("clients received %d signatures, want at least %d", len(got), rounds*perRound)
	}
	t.Logf("%d signatures received across %d kills; %s", len(got), rounds, strings.TrimSpace(out))
}

// TestAuditRecordsDenials checks that requests rejected in the pipeline
// and before it have records too.
func TestAuditRecordsDenials(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	d := startDaemon(t, dir)
	c := client.New(d.Socket)
	defer c.Close()
	ctx := context.Background()

	bad := signRequest(1)
	bad.Subjects[0].Digest["sha256"] = "not-hex"
	if _, err := c.Sign(ctx, bad, client.WithCorrelationID("denied-invalid")); !client.IsCode(err, api.CodeInvalidRequest) {
		t.Fatalf("sign with a bad digest: %v, want invalid_request", err)
	}

	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.Socket)
	}}}
	req, _ := http.NewRequest(http.MethodPost, "http://"+api.Host+api.PathSignDSSE, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set(api.HeaderCorrelationID, "denied-origin")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("request with Origin: HTTP %d, want 403", resp.StatusCode)
	}

	// A request to another endpoint is not a signing decision.
	if _, err := c.WhoAmI(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sign(ctx, signRequest(2), client.WithCorrelationID("allowed")); err != nil {
		t.Fatal(err)
	}

	byCorrelation := map[string]*audit.Record{}
	records := readTrail(t, filepath.Join(dir, "state", "audit"))
	for _, rec := range records {
		byCorrelation[rec.CorrelationID] = rec
	}
	if len(records) != 3 {
		t.Errorf("trail has %d records, want 3 (two denials and one signature)", len(records))
	}
	tests := []struct {
		correlationID, outcome, code string
		wantRequest                  bool
	}{
		{"denied-invalid", audit.OutcomeDenied, string(api.CodeInvalidRequest), true},
		{"denied-origin", audit.OutcomeDenied, string(api.CodeForbidden), false},
		{"allowed", audit.OutcomeAllowed, "", true},
	}
	for _, tt := range tests {
		rec, ok := byCorrelation[tt.correlationID]
		if !ok {
			t.Errorf("no record with correlation id %s", tt.correlationID)
			continue
		}
		if rec.Outcome != tt.outcome || rec.Code != tt.code {
			t.Errorf("record %s: outcome %q code %q, want %q %q", tt.correlationID, rec.Outcome, rec.Code, tt.outcome, tt.code)
		}
		if rec.Caller == nil || rec.Caller.UID != uint32(os.Getuid()) {
			t.Errorf("record %s: caller %+v, want uid %d", tt.correlationID, rec.Caller, os.Getuid())
		}
		if (rec.Request != nil) != tt.wantRequest {
			t.Errorf("record %s: request digests %+v, want present=%v", tt.correlationID, rec.Request, tt.wantRequest)
		}
	}
	if rec := byCorrelation["allowed"]; rec != nil {
		if rec.Tenant != "dev" || rec.KeyHint == "" || rec.Request.PredicateSHA256 == "" || len(rec.Request.Subjects) != 1 {
			t.Errorf("allowed record lacks tenant, key or digests: %+v %+v", rec, rec.Request)
		}
		if rec.Caller == nil || rec.Caller.Executable == "" || len(rec.Caller.ExecutableSHA256) != 64 {
			t.Errorf("allowed record lacks the caller's executable and its hash: %+v", rec.Caller)
		}
	}
	verifyTrail(t, filepath.Join(dir, "state", "audit"))
}

// TestAuditTornTailRepairedAtStart writes half a record after a clean
// stop, as a crash in the middle of a write would leave it, and checks
// that the next start truncates it, logs it, and continues the chain.
func TestAuditTornTailRepairedAtStart(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	auditDir := filepath.Join(dir, "state", "audit")
	d := startDaemon(t, dir)
	c := client.New(d.Socket)
	for i := range 3 {
		if _, err := c.Sign(context.Background(), signRequest(i)); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	d.Cmd.Process.Signal(os.Interrupt)
	waitExit(t, d)

	files, _ := filepath.Glob(filepath.Join(auditDir, "audit-*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("want one trail file, got %v", files)
	}
	f, err := os.OpenFile(files[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"v":1,"seq":4,"id":"4","time":"2026-`)
	f.Close()
	cmd := exec.Command(filepath.Join(testenv.Binaries(t), "signerctl"), "audit", "verify", auditDir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "torn write") {
		t.Fatalf("verify of a torn trail: %v, want exit 1 naming the torn write\n%s", err, out)
	}

	d = startDaemon(t, dir)
	waitLog(t, d, "torn line")
	c = client.New(d.Socket)
	defer c.Close()
	resp, err := c.Sign(context.Background(), signRequest(4))
	if err != nil {
		t.Fatal(err)
	}
	if resp.RecordID != "4" {
		t.Errorf("record id after repair is %s, want 4", resp.RecordID)
	}
	verifyTrail(t, auditDir)
}

// TestAuditReloadKeepsTrail checks that SIGHUP swaps the state but not
// the trail: the chain continues and the trail is opened once.
func TestAuditReloadKeepsTrail(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	d := startDaemon(t, dir)
	c := client.New(d.Socket)
	defer c.Close()
	if _, err := c.Sign(context.Background(), signRequest(1)); err != nil {
		t.Fatal(err)
	}

	d.Cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "config reloaded")

	resp, err := c.Sign(context.Background(), signRequest(2))
	if err != nil {
		t.Fatal(err)
	}
	if resp.RecordID != "2" {
		t.Errorf("record id after reload is %s, want 2", resp.RecordID)
	}
	if n := strings.Count(d.Log(), "audit trail opened"); n != 1 {
		t.Errorf("trail opened %d times, want once across a reload", n)
	}
	verifyTrail(t, filepath.Join(dir, "state", "audit"))
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
