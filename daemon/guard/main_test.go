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
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// Environment of the test binary when it runs as a client in another
// cgroup and under another uid.
const (
	envClientSocket = "GUARD_TEST_CLIENT_SOCKET"
	envClientHTTP   = "GUARD_TEST_CLIENT_HTTP"

	// envClientAddrLen selects the address length the client passes:
	// "exact" (the path without a NUL), "full" (all of sockaddr_un, as
	// many C clients pass), or empty for Go's default (the path and a NUL).
	envClientAddrLen = "GUARD_TEST_CLIENT_ADDRLEN"
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
		os.Exit(runClient(path, os.Getenv(envClientHTTP) != "", os.Getenv(envClientAddrLen)))
	}
	code := m.Run()
	if clientBin != "" {
		os.RemoveAll(filepath.Dir(clientBin))
	}
	os.Exit(code)
}

// runClient connects to path and, when sendSign is set, sends a sign
// request and records the response's status and error code.
func runClient(path string, sendSign bool, addrLen string) int {
	var res clientResult
	var conn net.Conn
	var err error
	if addrLen == "" {
		conn, err = net.Dial("unix", path)
	} else {
		conn, err = dialRaw(path, addrLen)
	}
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

// dialRaw connects with an explicit address length, which net.Dial does
// not allow.
func dialRaw(path, addrLen string) (net.Conn, error) {
	var sa syscall.RawSockaddrUnix
	sa.Family = syscall.AF_UNIX
	for i := 0; i < len(path); i++ {
		sa.Path[i] = int8(path[i])
	}
	size := uintptr(2 + len(path))
	if addrLen == "full" {
		size = unsafe.Sizeof(sa)
	}

	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	_, _, errno := syscall.Syscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), size)
	if errno != 0 {
		syscall.Close(fd)
		return nil, errno
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	return net.FileConn(f)
}
