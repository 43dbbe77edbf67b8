package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/test/testenv"
)

// lastJSONLine decodes the last line of bench --json output.
func lastJSONLine(t *testing.T, stdout string) benchResult {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var res benchResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line of %q is not a bench summary: %v", stdout, err)
	}
	return res
}

func TestBenchSignsAgainstDaemon(t *testing.T) {
	d := testenv.StartDev(t)

	code, stdout, stderr := runCLI(t, "--socket", d.Socket, "bench", "--duration", "500ms", "--concurrency", "3", "--json")
	if code != 0 {
		t.Fatalf("exit status %d, stderr: %s", code, stderr)
	}
	res := lastJSONLine(t, stdout)
	if res.Requests == 0 {
		t.Fatal("no requests counted")
	}
	if res.Errors != 0 {
		t.Errorf("%d errors %v, stderr: %s", res.Errors, res.ErrorsByCode, stderr)
	}
	if res.ThroughputRPS <= 0 || res.P50MS <= 0 || res.P99MS < res.P50MS {
		t.Errorf("summary %+v has impossible throughput or percentiles", res)
	}
}

// TestBenchCountsDenialsByCode runs the bench against a daemon whose only
// tenant may not sign the bench's predicate type.
func TestBenchCountsDenialsByCode(t *testing.T) {
	dir := testenv.ShortTempDir(t)
	socket := filepath.Join(dir, "s.sock")
	cfg := fmt.Sprintf(`socket:
  path: %[1]s
  mode: "0600"
state_dir: %[2]s/state
key:
  uri: file://%[2]s/signing.key
  create: true
tenants:
  - name: narrow
    predicate_types: ["https://example.com/allowed/v1"]
    callers:
      - uid: %[3]d
`, socket, dir, os.Getuid())
	cfgPath := filepath.Join(dir, "signerd.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := testenv.Start(t, socket, dir, "--config", cfgPath)

	code, stdout, stderr := runCLI(t, "--socket", d.Socket, "bench", "--duration", "300ms", "--concurrency", "2",
		"--predicate-type", "https://example.com/denied/v1", "--json")
	if code != 1 {
		t.Errorf("exit status %d, want 1 when no request succeeds", code)
	}
	res := lastJSONLine(t, stdout)
	if res.Errors == 0 || res.Errors != res.Requests {
		t.Fatalf("%d errors of %d requests, want every request to fail", res.Errors, res.Requests)
	}
	if got := res.ErrorsByCode[string(api.CodeForbidden)]; got != res.Errors {
		t.Errorf("errors_by_code %v, want all %d under %s", res.ErrorsByCode, res.Errors, api.CodeForbidden)
	}
	if !strings.Contains(stderr, "errors with code forbidden, for example: ") {
		t.Errorf("stderr lacks an example of the forbidden error: %s", stderr)
	}
}

func TestCheckSignResponse(t *testing.T) {
	tests := []struct {
		name    string
		resp    client.RawResponse
		wantErr string
	}{
		{"complete", client.RawResponse{CorrelationID: "c1", Body: []byte(`{"bundle":{"x":1},"correlationId":"c1"}`)}, ""},
		{"no header", client.RawResponse{Body: []byte(`{"bundle":{},"correlationId":"c1"}`)}, "no X-Correlation-ID header"},
		{"other id in body", client.RawResponse{CorrelationID: "c1", Body: []byte(`{"bundle":{},"correlationId":"c2"}`)}, `does not contain correlation id "c1"`},
		{"no id in body", client.RawResponse{CorrelationID: "c1", Body: []byte(`{"bundle":{}}`)}, `does not contain correlation id "c1"`},
		{"null bundle", client.RawResponse{CorrelationID: "c1", Body: []byte(`{"bundle":null,"correlationId":"c1"}`)}, "no bundle object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSignResponse(tt.resp)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if got := errorCode(err); got != "bad_response" {
				t.Errorf("errorCode = %q, want bad_response", got)
			}
		})
	}
}
