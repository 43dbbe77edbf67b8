package guard

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
)

// Environment of the test binary when it runs as a client in another
// cgroup and under another uid.
const (
	envClientSocket = "GUARD_TEST_CLIENT_SOCKET"
	envClientHTTP   = "GUARD_TEST_CLIENT_HTTP"
)

// clientResult is what a client process prints on stdout.
type clientResult struct {
	// Connect is "ok", "EPERM" or another error text.
	Connect string `json:"connect"`
	Status  int    `json:"status,omitempty"`
	Code    string `json:"code,omitempty"`
}

func TestMain(m *testing.M) {
	if path := os.Getenv(envClientSocket); path != "" {
		os.Exit(runClient(path, os.Getenv(envClientHTTP) != ""))
	}
	os.Exit(m.Run())
}

// runClient connects to path and, when sendSign is set, sends a sign
// request and records the response's status and error code.
func runClient(path string, sendSign bool) int {
	var res clientResult
	conn, err := net.Dial("unix", path)
	switch {
	case errors.Is(err, syscall.EPERM):
		res.Connect = "EPERM"
	case err != nil:
		res.Connect = err.Error()
	default:
		res.Connect = "ok"
		defer conn.Close()
		if sendSign {
			res.Status, res.Code = signOver(conn)
		}
	}
	json.NewEncoder(os.Stdout).Encode(&res)
	return 0
}

func signOver(conn net.Conn) (int, string) {
	body := `{"predicateType":"https://example.com/p","predicate":{},"subjects":[{"name":"a","digest":{"sha256":"` +
		strings.Repeat("ab", 32) + `"}}]}`
	fmt.Fprintf(conn, "POST /v1/sign/dsse HTTP/1.1\r\nHost: signer.localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return -1, err.Error()
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(data, &e) // a success body has no error code
	return resp.StatusCode, e.Error.Code
}
