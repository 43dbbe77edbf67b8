package listener

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// shortDir returns a directory under /tmp with mode 0700, short enough for
// socket paths.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "lst-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestBindSetsMode(t *testing.T) {
	for _, mode := range []os.FileMode{0o600, 0o660} {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(shortDir(t), "s.sock")
			l, err := Bind(BindOptions{Path: path, Mode: mode, GID: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()

			st, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Type() != os.ModeSocket {
				t.Errorf("%s is %v, want a socket", path, st.Mode().Type())
			}
			if got := st.Mode().Perm(); got != mode {
				t.Errorf("socket mode = %04o, want %04o", got, mode)
			}
		})
	}
}

// TestBindModeUnderWideUmask checks that a permissive umask does not widen
// the socket beyond the configured mode at bind time.
func TestBindModeUnderWideUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	path := filepath.Join(shortDir(t), "s.sock")
	l, err := Bind(BindOptions{Path: path, Mode: 0o600, GID: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	st, _ := os.Lstat(path)
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("socket mode with umask 0 = %04o, want 0600", got)
	}
}

func TestBindReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(shortDir(t), "s.sock")

	// A socket file that nobody listens on, as a crash leaves it.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	l, err := Bind(BindOptions{Path: path, Mode: 0o600, GID: -1})
	if err != nil {
		t.Fatalf("Bind over a stale socket: %v", err)
	}
	defer l.Close()

	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial the new socket: %v", err)
	}
	conn.Close()
}

func TestBindRejectsLiveSocket(t *testing.T) {
	path := filepath.Join(shortDir(t), "s.sock")
	live, err := Bind(BindOptions{Path: path, Mode: 0o600, GID: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()

	_, err = Bind(BindOptions{Path: path, Mode: 0o600, GID: -1})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("Bind over a live socket: error = %v, want ErrInUse", err)
	}

	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the live socket no longer answers: %v", err)
	}
	conn.Close()
}

func TestBindRejects(t *testing.T) {
	dir := shortDir(t)

	regular := filepath.Join(dir, "file")
	os.WriteFile(regular, nil, 0o600)

	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)

	tests := []struct {
		name string
		path string
		want string
	}{
		{"path over the kernel limit", "/tmp/" + strings.Repeat("a", MaxPathLen), "over the kernel's limit of 107"},
		{"missing parent of the directory", filepath.Join(dir, "nope", "deeper", "s.sock"), "no such file"},
		{"world-writable directory", filepath.Join(open, "s.sock"), "group or others could replace the socket"},
		{"regular file in the way", regular, "is not a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Bind(BindOptions{Path: tt.path, Mode: 0o600, GID: -1})
			if err == nil {
				l.Close()
				t.Fatalf("Bind(%q) succeeded, want an error containing %q", tt.path, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Bind(%q) error = %q, want it to contain %q", tt.path, err, tt.want)
			}
		})
	}

	if _, err := os.Stat(regular); err != nil {
		t.Errorf("Bind removed a regular file in its way: %v", err)
	}
}

func TestCloseRemovesSocket(t *testing.T) {
	path := filepath.Join(shortDir(t), "s.sock")
	l, err := Bind(BindOptions{Path: path, Mode: 0o600, GID: -1})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file still exists after Close: %v", err)
	}
}

func TestBindCreatesMissingDirectory(t *testing.T) {
	dir := filepath.Join(shortDir(t), "run")
	l, err := Bind(BindOptions{Path: filepath.Join(dir, "s.sock"), Mode: 0o600, GID: -1})
	if err != nil {
		t.Fatalf("Bind in a missing directory: %v", err)
	}
	defer l.Close()

	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o750 {
		t.Errorf("created directory has mode %04o, want 0750", got)
	}
}
