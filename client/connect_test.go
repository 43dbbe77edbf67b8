package client

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestConnectErrors(t *testing.T) {
	dir := t.TempDir()

	// A socket file with no listener refuses connections.
	refused := filepath.Join(dir, "refused.sock")
	l, err := net.Listen("unix", refused)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()

	notSocket := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(notSocket, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		socket    string
		wantErrno syscall.Errno
		wantMsg   string
	}{
		{"missing", filepath.Join(dir, "nope.sock"), syscall.ENOENT, "no such file or directory; start signerd or set --socket or $SIGNERD_SOCKET"},
		{"refused", refused, syscall.ECONNREFUSED, "connection refused; is signerd running?"},
		{"not a socket", notSocket, syscall.ECONNREFUSED, "connection refused; it is a regular file, not a socket; set --socket"},
		{"directory", dir, syscall.ECONNREFUSED, "connection refused; it is a directory, not a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.socket)
			defer c.Close()
			_, err := c.Health(context.Background())
			if err == nil {
				t.Fatal("Health succeeded without a daemon")
			}
			if !errors.Is(err, tt.wantErrno) {
				t.Errorf("errors.Is(err, %v) is false for %v", tt.wantErrno, err)
			}
			var ce *ConnectError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *ConnectError: %v", err, err)
			}
			want := "cannot connect to signerd at " + tt.socket + ": "
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

// TestConnectErrorPermission checks the EACCES message without a real
// permission failure, because the tests run as root, which any socket
// mode admits.
func TestConnectErrorPermission(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}
	err := error(&ConnectError{Socket: "/run/signerd/signerd.sock", Err: dialErr})

	want := "cannot connect to signerd at /run/signerd/signerd.sock: permission denied; the socket's mode or group does not let your user connect; ask the administrator to add you to the socket's group, or call as the socket's owner"
	if err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
	if !errors.Is(err, syscall.EACCES) {
		t.Errorf("errors.Is(err, EACCES) is false")
	}
}
