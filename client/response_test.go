package client

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name         string
		raw          string
		wantStatus   int
		wantBody     string
		wantReusable bool
		wantID       string
		wantNonce    string
		wantErr      string
	}{
		{
			name:       "content length",
			raw:        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Correlation-Id: c-1\r\n\r\nhello",
			wantStatus: 200, wantBody: "hello", wantReusable: true, wantID: "c-1",
		},
		{
			name:       "chunked with trailer",
			raw:        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\nX-Trailer: 1\r\n\r\n",
			wantStatus: 200, wantBody: "hello", wantReusable: true,
		},
		{
			name:       "error with nonce",
			raw:        "HTTP/1.1 401 Unauthorized\r\nDPoP-Nonce:  n-1 \r\nContent-Length: 2\r\n\r\n{}",
			wantStatus: 401, wantBody: "{}", wantReusable: true, wantNonce: "n-1",
		},
		{
			name:       "connection close",
			raw:        "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok",
			wantStatus: 200, wantBody: "ok", wantReusable: false,
		},
		{
			name:       "body until end of stream",
			raw:        "HTTP/1.1 200 OK\r\n\r\nall of it",
			wantStatus: 200, wantBody: "all of it", wantReusable: false,
		},
		{
			name:       "HTTP/1.0",
			raw:        "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
			wantStatus: 200, wantBody: "ok", wantReusable: false,
		},
		{
			name:       "no content",
			raw:        "HTTP/1.1 204 No Content\r\n\r\n",
			wantStatus: 204, wantBody: "", wantReusable: true,
		},
		{name: "informational", raw: "HTTP/1.1 100 Continue\r\n\r\n", wantErr: "unexpected status line"},
		{name: "not HTTP", raw: "SSH-2.0-OpenSSH\r\n", wantErr: "malformed status line"},
		{name: "bad status", raw: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: "unexpected status line"},
		{name: "bad content length", raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", wantErr: "invalid Content-Length"},
		{name: "conflicting content lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", wantErr: "invalid Content-Length"},
		{name: "unknown coding", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", wantErr: "unsupported Transfer-Encoding"},
		{name: "folded header", raw: "HTTP/1.1 200 OK\r\nX-A: 1\r\n continued\r\n\r\n", wantErr: "malformed header line"},
		{name: "short body", raw: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", wantErr: "unexpected EOF"},
		{name: "cut in headers", raw: "HTTP/1.1 200 OK\r\nContent-Le", wantErr: "unexpected EOF"},
		{name: "cut in chunk", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc", wantErr: "unexpected EOF"},
		{name: "empty", raw: "", wantErr: "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, reusable, err := readResponse(bufio.NewReader(strings.NewReader(tt.raw)), []byte("pre:"))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.status != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.status, tt.wantStatus)
			}
			if got := string(resp.body); got != "pre:"+tt.wantBody {
				t.Errorf("body %q, want %q after the buffer's prefix", got, tt.wantBody)
			}
			if reusable != tt.wantReusable {
				t.Errorf("reusable %v, want %v", reusable, tt.wantReusable)
			}
			if resp.correlationID != tt.wantID {
				t.Errorf("correlation id %q, want %q", resp.correlationID, tt.wantID)
			}
			if resp.dpopNonce != tt.wantNonce {
				t.Errorf("nonce %q, want %q", resp.dpopNonce, tt.wantNonce)
			}
		})
	}
}

// TestReadResponseLeavesNextResponse checks that a response is read to
// its exact end, so the next one on the connection starts cleanly.
func TestReadResponseLeavesNextResponse(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\ncd"
	br := bufio.NewReader(strings.NewReader(raw))
	for _, want := range []string{"ab", "cd"} {
		resp, _, err := readResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.body) != want {
			t.Errorf("body %q, want %q", resp.body, want)
		}
	}
	if br.Buffered() != 0 {
		t.Errorf("%d bytes left over", br.Buffered())
	}
}
