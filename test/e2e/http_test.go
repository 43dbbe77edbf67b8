package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/test/testenv"
)

// startWithConfig writes a config for a daemon in a new directory and
// starts it. The directory is 0755 so clients under other uids can reach
// the socket, subject to the socket's own mode.
func startWithConfig(t *testing.T, socketExtra, body string) *testenv.Daemon {
	t.Helper()
	dir := testenv.ShortTempDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "signerd.sock")
	text := fmt.Sprintf("socket:\n  path: %s\n%sstate_dir: %s/state\nkey:\n  uri: file://%s/signing.key\n%s", socket, socketExtra, dir, dir, body)
	cfgPath := filepath.Join(dir, "signerd.yaml")
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return testenv.Start(t, socket, dir, "--config", cfgPath)
}

// rawRequest writes req on a new connection and returns the response.
func rawRequest(t *testing.T, socket, req string) (*http.Response, api.ErrorBody) {
	t.Helper()
	conn, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}

	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)

	var body api.ErrorBody
	if resp.StatusCode != http.StatusOK {
		if err := json.Unmarshal(data, &body); err != nil || body.Error == nil {
			t.Fatalf("error response is not a JSON error body: %v\n%s", err, data)
		}
	}
	return resp, body
}

func checkHealthy(t *testing.T, socket string) {
	t.Helper()
	resp, _ := rawRequest(t, socket, "GET /v1/healthz HTTP/1.1\r\nHost: signer.localhost\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("daemon no longer serves: healthz status %d", resp.StatusCode)
	}
}

const guardTenant = `http:
  max_body_bytes: 4096
  read_header_timeout: 1s
tenants:
  - name: local
    predicate_types: ["https://example.com/allowed"]
    callers:
      - uid: 0
`

func signBody(extra string) string {
	return `{"subjects":[{"name":"a","digest":{"sha256":"` + strings.Repeat("a", 64) + `"}}],` +
		`"predicateType":"https://example.com/allowed","predicate":{}` + extra + `}`
}

func post(path, headers, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: signer.localhost\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		path, headers, len(body), body)
}

func TestHTTPGuards(t *testing.T) {
	testenv.RequireRoot(t)
	d := startWithConfig(t, "", guardTenant)
	jsonCT := "Content-Type: application/json\r\n"

	tests := []struct {
		name       string
		request    string
		wantStatus int
		wantCode   api.Code
		wantText   string
	}{
		{"wrong Host", "GET /v1/healthz HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n", 403, api.CodeForbidden, "evil.example"},
		{"Origin header", "GET /v1/whoami HTTP/1.1\r\nHost: signer.localhost\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n", 403, api.CodeForbidden, "Origin"},
		{"Referer header", "GET /v1/keys HTTP/1.1\r\nHost: signer.localhost\r\nReferer: https://evil.example/x\r\nConnection: close\r\n\r\n", 403, api.CodeForbidden, "Referer"},
		{"absolute-form target", "GET http://evil.example/v1/healthz HTTP/1.1\r\nHost: signer.localhost\r\nConnection: close\r\n\r\n", 400, api.CodeInvalidRequest, "origin form"},
		{"absolute-form to own host", "GET http://signer.localhost/v1/healthz HTTP/1.1\r\nHost: signer.localhost\r\nConnection: close\r\n\r\n", 400, api.CodeInvalidRequest, "origin form"},
		{"wrong content type", post(api.PathSignDSSE, "Content-Type: text/plain\r\n", signBody("")), 415, api.CodeUnsupportedMediaType, "text/plain"},
		{"missing content type", post(api.PathSignDSSE, "", signBody("")), 415, api.CodeUnsupportedMediaType, "application/json"},
		{"non-UTF-8 charset", post(api.PathSignDSSE, "Content-Type: application/json; charset=latin1\r\n", signBody("")), 415, api.CodeUnsupportedMediaType, "latin1"},
		{"oversized body by length", post(api.PathSignDSSE, jsonCT, signBody(`,"pad":"`+strings.Repeat("x", 5000)+`"`)), 413, api.CodePayloadTooLarge, "4096"},
		{"oversized chunked body", "POST /v1/sign/dsse HTTP/1.1\r\nHost: signer.localhost\r\n" + jsonCT + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", 5000, strings.Repeat("x", 5000)), 413, api.CodePayloadTooLarge, "4096"},
		{"unknown field", post(api.PathSignDSSE, jsonCT, signBody(`,"extra":1`)), 400, api.CodeInvalidRequest, `"extra"`},
		{"not JSON", post(api.PathSignDSSE, jsonCT, `{"subjects":`), 400, api.CodeInvalidRequest, "not valid JSON"},
		{"two JSON objects", post(api.PathSignDSSE, jsonCT, signBody("")+"{}"), 400, api.CodeInvalidRequest, "after the JSON object"},
		{"wrong field type", post(api.PathSignDSSE, jsonCT, `{"subjects":"a"}`), 400, api.CodeInvalidRequest, "subjects"},
		{"predicate type not allowed", post(api.PathSignDSSE, jsonCT, strings.Replace(signBody(""), "allowed", "other", 1)), 403, api.CodeForbidden, "may not sign predicate type"},
		{"unknown path", "GET /v1/nope HTTP/1.1\r\nHost: signer.localhost\r\nConnection: close\r\n\r\n", 404, api.CodeNotFound, "/v1/nope"},
		{"wrong method", "DELETE /v1/keys HTTP/1.1\r\nHost: signer.localhost\r\nConnection: close\r\n\r\n", 405, api.CodeMethodNotAllowed, "DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawRequest(t, d.Socket, tt.request)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if body.Error == nil {
				t.Fatal("no error body")
			}
			if body.Error.Code != tt.wantCode {
				t.Errorf("code = %q, want %q", body.Error.Code, tt.wantCode)
			}
			if !strings.Contains(body.Error.Message, tt.wantText) {
				t.Errorf("message %q does not contain %q", body.Error.Message, tt.wantText)
			}
			id := resp.Header.Get(api.HeaderCorrelationID)
			if id == "" {
				t.Fatal("response has no correlation id")
			}
			// The log line names the caller, whichever check rejected it.
			d.WaitLine(t, "correlation_id="+id, "caller_uid=", "caller_pid=")
			checkHealthy(t, d.Socket)
		})
	}
}

func TestHTTPSlowHeadersAreCut(t *testing.T) {
	testenv.RequireRoot(t)
	d := startWithConfig(t, "", guardTenant)

	conn, err := net.Dial("unix", d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /v1/healthz HTTP/1.1\r\nHost: signer.localhost\r\n")

	// The header is never finished; the daemon must close the connection
	// after read_header_timeout (1s here). The deadline below only stops a
	// broken daemon from hanging the test.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the daemon kept a connection open with an unfinished header for 30s")
	}

	checkHealthy(t, d.Socket)
}

func TestHTTPHeaderTooLarge(t *testing.T) {
	testenv.RequireRoot(t)
	d := startWithConfig(t, "", guardTenant)

	req := "GET /v1/healthz HTTP/1.1\r\nHost: signer.localhost\r\nX-Pad: " + strings.Repeat("p", 64<<10) + "\r\nConnection: close\r\n\r\n"
	conn, err := net.Dial("unix", d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	go io.WriteString(conn, req)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status = %d, want 431", resp.StatusCode)
	}

	checkHealthy(t, d.Socket)
}

// otherGroup returns an existing group other than the overflow gid, for
// running clients under another identity.
func otherGroup(t *testing.T) (string, uint32) {
	t.Helper()
	g, err := user.LookupGroup("users")
	if err != nil {
		t.Skip("group users not found; needed to run a client under another uid")
	}
	gid, _ := strconv.ParseUint(g.Gid, 10, 32)
	return g.Name, uint32(gid)
}

func TestCallerUIDPolicy(t *testing.T) {
	testenv.RequireRoot(t)
	group, gid := otherGroup(t)
	const allowedUID, refusedUID = 4243, 4242

	d := startWithConfig(t, fmt.Sprintf("  mode: \"0660\"\n  group: %s\n", group), fmt.Sprintf(`tenants:
  - name: scanners
    predicate_types: ["https://example.com/allowed"]
    callers:
      - uid: %d
`, allowedUID))
	signerctl := filepath.Join(testenv.Binaries(t), "signerctl")

	predicate := filepath.Join(d.Dir, "predicate.json")
	os.WriteFile(predicate, []byte(`{"ok":true}`), 0o644)

	signAs := func(uid uint32) (string, error) {
		cmd := exec.Command(signerctl, "--socket", d.Socket, "sign", "--predicate-type", "https://example.com/allowed",
			"--predicate", predicate, "--subject", "x@sha256:"+strings.Repeat("b", 64))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := signAs(refusedUID)
	if err == nil {
		t.Fatalf("uid %d signed, want forbidden:\n%s", refusedUID, out)
	}
	if !strings.Contains(out, "forbidden") || !strings.Contains(out, fmt.Sprint(refusedUID)) {
		t.Errorf("refused caller's error does not say forbidden with its uid:\n%s", out)
	}

	out, err = signAs(allowedUID)
	if err != nil {
		t.Fatalf("uid %d was refused: %v\n%s", allowedUID, err, out)
	}
	if !strings.Contains(out, "dsseEnvelope") {
		t.Errorf("allowed caller got no bundle:\n%s", out)
	}

	// root is in no tenant here, so it is refused too: the daemon never
	// signs for everyone by default.
	if out, err := exec.Command(signerctl, "--socket", d.Socket, "sign", "--predicate-type", "https://example.com/allowed",
		"--predicate", predicate, "--subject", "x@sha256:"+strings.Repeat("b", 64)).CombinedOutput(); err == nil {
		t.Errorf("root signed without a rule admitting it:\n%s", out)
	}
}
