package listener

import (
	"fmt"
	"net"
	"os"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"
)

// Activated returns the listening sockets that systemd passed, keyed by
// their FileDescriptorName. It returns an empty map when the daemon was not
// socket-activated. go-systemd clears the activation environment, so only
// the first call in a process sees the sockets.
//
// Sockets that are not listening (Accept=yes units pass connected ones)
// are rejected: accepting on them would spin on EINVAL.
func Activated() (map[string]*net.UnixListener, error) {
	files := activation.Files(true)
	out := make(map[string]*net.UnixListener, len(files))

	for _, f := range files {
		name := f.Name()
		if err := checkListening(f); err != nil {
			closeAll(files)
			return nil, fmt.Errorf("socket %q from systemd: %w", name, err)
		}

		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("socket %q from systemd: %w", name, err)
		}
		ul, ok := l.(*net.UnixListener)
		if !ok {
			l.Close()
			return nil, fmt.Errorf("socket %q from systemd is %s, not a Unix stream socket", name, l.Addr().Network())
		}
		// systemd owns the socket file; the daemon must not remove it.
		ul.SetUnlinkOnClose(false)
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("systemd passed two sockets named %q; give each a distinct FileDescriptorName", name)
		}
		out[name] = ul
	}
	return out, nil
}

func checkListening(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var acceptConn, sockType int
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		acceptConn, sockErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
		if sockErr == nil {
			sockType, sockErr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TYPE)
		}
	})
	if err != nil {
		return err
	}
	if sockErr != nil {
		return fmt.Errorf("not a socket: %w", sockErr)
	}
	if sockType != unix.SOCK_STREAM {
		return fmt.Errorf("socket type %d is not SOCK_STREAM; use ListenStream=", sockType)
	}
	if acceptConn == 0 {
		return fmt.Errorf("socket is not listening; the socket unit must not set Accept=yes")
	}
	return nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
