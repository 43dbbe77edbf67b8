package e2e

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
	"syscall"
	"testing"
	"time"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/test/authority"
	"github.com/signerd/signerd/test/testenv"
)

const tenant = "scanners"

// setup is a daemon whose only tenant requires an OpTok with DPoP and a
// PoE, and the files a caller needs.
type setup struct {
	dir, socket, config string
	auth                *authority.Authority
	dpopKey, token, poe string
}

func newSetup(t *testing.T, quota string) *setup {
	t.Helper()
	dir := testenv.ShortTempDir(t)
	s := &setup{dir: dir, socket: filepath.Join(dir, "s.sock"), config: filepath.Join(dir, "signerd.yaml")}

	var err error
	if s.auth, err = authority.Init(filepath.Join(dir, "authority")); err != nil {
		t.Fatal(err)
	}
	key, err := authority.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	s.dpopKey = filepath.Join(dir, "dpop.key.json")
	if err := authority.WriteDPoPKey(s.dpopKey, key); err != nil {
		t.Fatal(err)
	}
	jkt, err := client.DPoPThumbprint(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	s.token = s.write(t, "optok.jwt", must(s.auth.MintOpTok(authority.OpTok{Tenant: tenant, Subject: "trivy", JKT: jkt})))
	s.poe = s.write(t, "poe.jwt", must(s.auth.MintPoE(authority.PoE{Tenant: tenant, Plan: "standard", ScannerVersions: ">=0.50.0, <0.60.0", QPS: 50, Burst: 50})))

	cfg := fmt.Sprintf(`socket:
  path: %[1]s/s.sock
  mode: "0600"
state_dir: %[1]s/state
key:
  uri: file://%[1]s/signing.key
  create: true
tenants:
  - name: %[2]s
    predicate_types: ["*"]
    callers:
      - uid: %[3]d
        auth: optok-dpop
entitlement:
  optok:
    issuer: %[4]s
    jwks_file: %[5]s
    leeway: 30s
  poe:
    issuer: %[6]s
    jwks_file: %[7]s
  tenants:
    %[2]s:
      require_poe: true
%[8]s
`, dir, tenant, os.Getuid(), authority.OpTokIssuer, s.auth.OpTokJWKS(), authority.PoEIssuer, s.auth.PoEJWKS(), quota)
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

func (s *setup) write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *setup) start(t *testing.T) *testenv.Daemon {
	t.Helper()
	return testenv.Start(t, s.socket, s.dir, "--config", s.config)
}

// signerctl runs signerctl sign with args and returns its exit status and
// standard error.
func (s *setup) signerctl(t *testing.T, args ...string) (int, string) {
	t.Helper()
	predicate := s.write(t, "predicate.json", `{"scanner":"trivy"}`)
	base := []string{"--socket", s.socket, "sign", "--predicate-type", "https://cyclonedx.org/bom",
		"--predicate", predicate, "--subject", "app@sha256:" + strings.Repeat("ab", 32), "-o", filepath.Join(s.dir, "bundle.json")}
	cmd := exec.Command(filepath.Join(testenv.Binaries(t), "signerctl"), append(base, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	}
	t.Fatalf("run signerctl: %v", err)
	return 0, ""
}

func TestSignWithOpTokDPoPAndPoE(t *testing.T) {
	s := newSetup(t, "")
	d := s.start(t)

	otherPoE := s.write(t, "other.jwt", must(s.auth.MintPoE(authority.PoE{Tenant: "other"})))
	expired := must(s.auth.MintOpTok(authority.OpTok{Tenant: tenant, Now: time.Now().Add(-2 * time.Hour), TTL: time.Hour}))
	forged := s.write(t, "forged.jwt", corruptSignature(expired))
	unbound := s.write(t, "unbound.jwt", must(s.auth.MintOpTok(authority.OpTok{Tenant: tenant})))

	tests := []struct {
		name     string
		args     []string
		wantCode api.Code
	}{
		{"all credentials", []string{"--token", s.token, "--dpop-key", s.dpopKey, "--poe", s.poe, "--scanner-version", "0.58.1"}, ""},
		{"no token", []string{"--poe", s.poe, "--scanner-version", "0.58.1"}, api.CodeTokenMissing},
		{"bound token as Bearer", []string{"--token", s.token, "--poe", s.poe, "--scanner-version", "0.58.1"}, api.CodeTokenInvalid},
		{"unbound token", []string{"--token", unbound, "--poe", s.poe, "--scanner-version", "0.58.1"}, api.CodeTokenInvalid},
		{"no PoE", []string{"--token", s.token, "--dpop-key", s.dpopKey, "--scanner-version", "0.58.1"}, api.CodePoEMissing},
		{"PoE of another tenant", []string{"--token", s.token, "--dpop-key", s.dpopKey, "--poe", otherPoE, "--scanner-version", "0.58.1"}, api.CodePoETenantMismatch},
		{"expired token with corrupted signature", []string{"--token", forged, "--poe", s.poe, "--scanner-version", "0.58.1"}, api.CodeTokenInvalid},
		{"scanner outside the PoE range", []string{"--token", s.token, "--dpop-key", s.dpopKey, "--poe", s.poe, "--scanner-version", "0.61.0"}, api.CodeScannerVersionNotEntitled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := s.signerctl(t, tc.args...)
			if tc.wantCode == "" {
				if code != 0 {
					t.Fatalf("signerctl exited %d: %s", code, stderr)
				}
				if _, err := os.Stat(filepath.Join(s.dir, "bundle.json")); err != nil {
					t.Errorf("no bundle written: %v", err)
				}
				return
			}
			if code != 1 {
				t.Errorf("signerctl exited %d, want 1", code)
			}
			if !strings.Contains(stderr, string(tc.wantCode)) {
				t.Errorf("stderr %q does not name %s", stderr, tc.wantCode)
			}
		})
	}

	d.WaitLine(t, "code=poe_tenant_mismatch")
	d.WaitLine(t, "signature verification failed")
	log := d.Log()
	if strings.Contains(log, "token_expired") {
		t.Errorf("daemon log reports a forged token as expired:\n%s", log)
	}
}

// rawPost sends one sign request with the given credential headers over
// the socket and returns the response.
func rawPost(t *testing.T, socket string, headers map[string]string) *http.Response {
	t.Helper()
	conn, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := `{"subjects":[{"name":"a","digest":{"sha256":"` + strings.Repeat("ab", 32) + `"}}],"predicateType":"https://cyclonedx.org/bom","predicate":{},"scanner":{"version":"0.58.1"}}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+api.Host+api.PathSignDSSE, strings.NewReader(body))
	req.Header.Set("Content-Type", api.MediaTypeJSON)
	for k, v := range headers {
		req.Header[k] = append(req.Header[k], v)
	}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestProofCapturedBeforeRestart(t *testing.T) {
	s := newSetup(t, "")
	d := s.start(t)

	tok := strings.TrimSpace(string(mustRead(t, s.token)))
	poe := strings.TrimSpace(string(mustRead(t, s.poe)))
	key, err := client.LoadDPoPKey(s.dpopKey)
	if err != nil {
		t.Fatal(err)
	}
	proof := func(nonce string) string {
		p, err := client.NewDPoPProof(key, http.MethodPost, api.DPoPBaseURL+api.PathSignDSSE, tok, nonce, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	headers := func(p string) map[string]string {
		return map[string]string{"Authorization": "DPoP " + tok, "Dpop": p, api.HeaderPoE: poe}
	}

	// The first proof has no nonce, so the daemon returns one.
	resp := rawPost(t, s.socket, headers(proof("")))
	nonce := resp.Header.Get(api.HeaderDPoPNonce)
	if resp.StatusCode != http.StatusUnauthorized || nonce == "" {
		t.Fatalf("proof without nonce: status %d, DPoP-Nonce %q; want 401 with a nonce", resp.StatusCode, nonce)
	}
	if !strings.Contains(resp.Header.Get("WWW-Authenticate"), "use_dpop_nonce") {
		t.Errorf("WWW-Authenticate = %q, want use_dpop_nonce", resp.Header.Get("WWW-Authenticate"))
	}

	used := proof(nonce)
	if resp := rawPost(t, s.socket, headers(used)); resp.StatusCode != http.StatusOK {
		t.Fatalf("proof with nonce: status %d, want 200", resp.StatusCode)
	}
	if resp := rawPost(t, s.socket, headers(used)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("same proof twice: status %d, want 401", resp.StatusCode)
	}

	// An attacker captures a fresh, unused proof, then the daemon restarts.
	captured := proof(nonce)
	stop(t, d)
	s.start(t)

	resp = rawPost(t, s.socket, headers(captured))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("proof captured before restart: status %d, want 401", resp.StatusCode)
	}
	if got := resp.Header.Get(api.HeaderDPoPNonce); got == "" || got == nonce {
		t.Errorf("nonce after restart = %q, want a new one (old %q)", got, nonce)
	}

	// The client library fetches the new nonce and signs a fresh proof.
	creds, err := client.LoadCredentials(s.token, s.dpopKey, s.poe)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(s.socket, client.WithCredentials(creds))
	defer c.Close()
	_, err = c.Sign(context.Background(), &api.SignRequest{
		Subjects:      []api.Subject{{Name: "a", Digest: map[string]string{"sha256": strings.Repeat("cd", 32)}}},
		PredicateType: "https://cyclonedx.org/bom", Predicate: []byte(`{}`),
		Scanner: &api.Scanner{Version: "0.58.1"},
	})
	if err != nil {
		t.Errorf("client sign after restart: %v", err)
	}
}

func TestQuotaRateLimitEndToEnd(t *testing.T) {
	s := newSetup(t, "      quota:\n        qps: 0.01\n        burst: 2")
	s.start(t)

	creds, err := client.LoadCredentials(s.token, s.dpopKey, s.poe)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(s.socket, client.WithCredentials(creds))
	defer c.Close()
	req := &api.SignRequest{
		Subjects:      []api.Subject{{Name: "a", Digest: map[string]string{"sha256": strings.Repeat("ef", 32)}}},
		PredicateType: "https://cyclonedx.org/bom", Predicate: []byte(`{}`),
		Scanner: &api.Scanner{Version: "0.58.1"},
	}

	for i := 0; i < 2; i++ {
		if _, err := c.Sign(context.Background(), req); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	_, err = c.Sign(context.Background(), req)
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Fatalf("request beyond the burst: %v, want a daemon error", err)
	}
	if ce.RetryAfter <= 0 || ce.RetryAfter != time.Duration(ce.API.RetryAfterSeconds)*time.Second {
		t.Errorf("Retry-After header gives %v, body %d s; want the same positive wait", ce.RetryAfter, ce.API.RetryAfterSeconds)
	}
	if ce.StatusCode != http.StatusTooManyRequests || ce.API.Code != api.CodeRateLimited {
		t.Errorf("status %d code %s, want 429 rate_limited", ce.StatusCode, ce.API.Code)
	}
	if ce.API.Quota != "rate" || ce.API.RetryAfterSeconds < 1 {
		t.Errorf("quota %q retry after %d, want rate and at least 1", ce.API.Quota, ce.API.RetryAfterSeconds)
	}
}

// corruptSignature flips the first character of a JWS's signature.
func corruptSignature(jws string) string {
	i := strings.LastIndex(jws, ".") + 1
	c := byte('A')
	if jws[i] == 'A' {
		c = 'B'
	}
	return jws[:i] + string(c) + jws[i+1:]
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stop sends SIGINT to the daemon and waits until the process is gone.
func stop(t *testing.T, d *testenv.Daemon) {
	t.Helper()
	pid := d.Cmd.Process.Pid
	if err := d.Cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("signerd %d did not stop", pid)
}

func TestReloadRereadsKeySet(t *testing.T) {
	s := newSetup(t, "")
	d := s.start(t)

	sign := func(tokenFile string) error {
		creds, err := client.LoadCredentials(tokenFile, s.dpopKey, s.poe)
		if err != nil {
			t.Fatal(err)
		}
		c := client.New(s.socket, client.WithCredentials(creds))
		defer c.Close()
		_, err = c.Sign(context.Background(), &api.SignRequest{
			Subjects:      []api.Subject{{Name: "a", Digest: map[string]string{"sha256": strings.Repeat("12", 32)}}},
			PredicateType: "https://cyclonedx.org/bom", Predicate: []byte(`{}`),
			Scanner: &api.Scanner{Version: "0.58.1"},
		})
		return err
	}
	if err := sign(s.token); err != nil {
		t.Fatalf("sign before key rotation: %v", err)
	}

	// The Authority rotates its key: the configured key set now holds
	// only the new authority's key.
	rotated, err := authority.Init(filepath.Join(s.dir, "rotated"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.auth.OpTokJWKS(), mustRead(t, rotated.OpTokJWKS()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(d.Log(), "config reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload within 15s:\n%s", d.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := sign(s.token); !client.IsCode(err, api.CodeTokenInvalid) {
		t.Errorf("token of the old key after reload: %v, want token_invalid", err)
	}
	key, err := client.LoadDPoPKey(s.dpopKey)
	if err != nil {
		t.Fatal(err)
	}
	jkt, err := client.DPoPThumbprint(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	fresh := s.write(t, "fresh.jwt", must(rotated.MintOpTok(authority.OpTok{Tenant: tenant, JKT: jkt})))
	if err := sign(fresh); err != nil {
		t.Errorf("token of the new key after reload: %v", err)
	}
}

// A DPoP nonce challenge is part of the protocol: one signature behind
// a challenge leaves one audit record, and the log calls the challenge
// what it is rather than a denial.
func TestDPoPChallengeIsNotADenial(t *testing.T) {
	s := newSetup(t, "")
	d := s.start(t)

	code, stderr := s.signerctl(t, "--token", s.token, "--dpop-key", s.dpopKey, "--poe", s.poe, "--scanner-version", "0.58.1")
	if code != 0 {
		t.Fatalf("signerctl exited %d: %s", code, stderr)
	}

	files, err := filepath.Glob(filepath.Join(s.dir, "state", "audit", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no audit file: %v", err)
	}
	var records []string
	for _, f := range files {
		for _, line := range strings.Split(strings.TrimSpace(string(mustRead(t, f))), "\n") {
			if line != "" {
				records = append(records, line)
			}
		}
	}
	if len(records) != 1 {
		t.Errorf("one signature left %d audit records, want 1:\n%s", len(records), strings.Join(records, "\n"))
	}
	if strings.Contains(records[0], "use_dpop_nonce") {
		t.Errorf("the audit record is the challenge, not the signature: %s", records[0])
	}

	d.WaitLine(t, "path=/v1/sign/dsse", "outcome=challenge")
	d.WaitLine(t, "path=/v1/sign/dsse", "outcome=allowed")
	log := d.Log()
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "use_dpop_nonce") && strings.Contains(line, "outcome=denied") {
			t.Errorf("the nonce challenge is logged as a denial: %s", line)
		}
	}

	// The retry after the challenge keeps the first attempt's correlation
	// id, so both log lines join on it.
	ids := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "path=/v1/sign/dsse") {
			continue
		}
		if i := strings.Index(line, "correlation_id="); i >= 0 {
			ids[strings.Fields(line[i:])[0]]++
		}
	}
	if len(ids) != 1 {
		t.Errorf("challenge and retry have %d correlation ids, want 1: %v", len(ids), ids)
	}
}
