// Package listener opens the daemon's Unix sockets, either passed by
// systemd socket activation or bound by the daemon itself.
//
// A self-bound socket is created safely:
//   - the path must fit the kernel's sun_path limit, reported at start;
//   - the parent directory must be owned by the daemon's user and not
//     writable by group or others, so no other user can swap the socket
//     file. A missing directory is created with mode 0750 when its
//     parent exists;
//   - an existing socket is dialled first: if a live daemon accepts the
//     connection, Bind fails, and if nothing listens (a crash left it),
//     it is replaced;
//   - the socket's mode is set with fchmod on the unbound socket, which
//     Linux applies at bind, so the file never exists with a wider mode.
package listener

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MaxPathLen is the longest path Linux accepts in sun_path (108 bytes
// including the terminating NUL).
const MaxPathLen = 107

// BindOptions describe a socket the daemon binds itself.
type BindOptions struct {
	Path string

	// Mode is the permission bits of the socket file.
	Mode os.FileMode

	// GID, when not -1, becomes the socket file's group.
	GID int
}

// ErrInUse is returned when a live process already serves the socket.
var ErrInUse = errors.New("socket is in use by a running process")

// Bind creates, binds and listens on a Unix socket as the package doc
// describes.
func Bind(opts BindOptions) (*net.UnixListener, error) {
	if len(opts.Path) > MaxPathLen {
		return nil, fmt.Errorf("socket path %q is %d bytes, over the kernel's limit of %d; choose a shorter path",
			opts.Path, len(opts.Path), MaxPathLen)
	}
	if err := checkParentDir(filepath.Dir(opts.Path)); err != nil {
		return nil, err
	}
	if err := clearStale(opts.Path); err != nil {
		return nil, err
	}

	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("create socket: %w", err)
	}
	closeFD := true
	defer func() {
		if closeFD {
			unix.Close(fd)
		}
	}()

	// Linux creates the socket file with the socket inode's mode minus the
	// umask, so fchmod before bind sets the mode with no wider window.
	if err := unix.Fchmod(fd, uint32(opts.Mode.Perm())); err != nil {
		return nil, fmt.Errorf("set socket mode before bind: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: opts.Path}); err != nil {
		return nil, fmt.Errorf("bind %s: %w", opts.Path, err)
	}

	// The umask may have narrowed the mode at bind; chmod restores exactly
	// the configured bits, which are never wider than requested.
	if err := os.Chmod(opts.Path, opts.Mode.Perm()); err != nil {
		os.Remove(opts.Path)
		return nil, fmt.Errorf("chmod %s: %w", opts.Path, err)
	}
	if opts.GID >= 0 {
		if err := os.Lchown(opts.Path, -1, opts.GID); err != nil {
			os.Remove(opts.Path)
			return nil, fmt.Errorf("chown %s to gid %d: %w", opts.Path, opts.GID, err)
		}
	}

	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		os.Remove(opts.Path)
		return nil, fmt.Errorf("listen on %s: %w", opts.Path, err)
	}

	f := os.NewFile(uintptr(fd), opts.Path)
	closeFD = false
	defer f.Close() // FileListener dups the descriptor

	l, err := net.FileListener(f)
	if err != nil {
		os.Remove(opts.Path)
		return nil, fmt.Errorf("listener for %s: %w", opts.Path, err)
	}
	ul := l.(*net.UnixListener)
	// The listener removes the socket file on Close, as net.Listen would.
	ul.SetUnlinkOnClose(true)
	return ul, nil
}

// checkParentDir rejects a directory that others could use to replace the
// socket: it must exist, be owned by the daemon's effective uid (or root),
// and be writable by no other user.
func checkParentDir(dir string) error {
	st, err := os.Lstat(dir)
	if errors.Is(err, os.ErrNotExist) {
		// Create only the last element, as systemd's RuntimeDirectory=
		// would; a missing parent above it is a configuration mistake.
		if mkErr := os.Mkdir(dir, 0o750); mkErr != nil {
			return fmt.Errorf("create socket directory %s: %w; create it owned by the daemon's user and not writable by group or others (for example mode 0750)", dir, mkErr)
		}
		st, err = os.Lstat(dir)
	}
	if err != nil {
		return fmt.Errorf("socket directory %s: %w; create it owned by the daemon's user and not writable by group or others (for example mode 0750)", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("socket directory %s is not a directory", dir)
	}
	sys := st.Sys().(*syscall.Stat_t)
	euid := uint32(os.Geteuid())
	if sys.Uid != euid && sys.Uid != 0 {
		return fmt.Errorf("socket directory %s is owned by uid %d, not by the daemon's uid %d; chown it to the daemon's user",
			dir, sys.Uid, euid)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("socket directory %s has mode %04o, so group or others could replace the socket; run chmod go-w %s",
			dir, st.Mode().Perm(), dir)
	}
	return nil
}

// clearStale removes a socket file that no process listens on. It fails
// when a live process answers or when the path is not a socket.
func clearStale(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; remove it or choose another socket path", path)
	}

	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("%s: %w; is another signerd running? stop it first", path, ErrInUse)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("probe existing socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}
