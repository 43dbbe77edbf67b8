package peercred

import (
	"errors"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// socketCreds are the credentials the kernel recorded on the socket.
type socketCreds struct {
	cred   *unix.Ucred
	groups []uint32

	// pidfd is -1 when the kernel has no SO_PEERPIDFD or wantPIDFD is
	// false.
	pidfd int
}

// readSocket reads SO_PEERCRED, SO_PEERGROUPS and, when wantPIDFD is set,
// SO_PEERPIDFD from a Unix stream connection.
func readSocket(conn net.Conn, wantPIDFD bool) (*socketCreds, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("%w: connection is %T, not a Unix socket", ErrUnverifiable, conn)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnverifiable, err)
	}

	out := &socketCreds{pidfd: -1}
	var readErr error
	ctlErr := raw.Control(func(fd uintptr) {
		out.cred, readErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if readErr != nil {
			readErr = fmt.Errorf("read SO_PEERCRED: %w", readErr)
			return
		}

		out.groups, readErr = peerGroups(int(fd))
		if readErr != nil {
			readErr = fmt.Errorf("read SO_PEERGROUPS: %w", readErr)
			return
		}

		if wantPIDFD {
			out.pidfd, readErr = peerPIDFD(int(fd))
		}
	})
	if ctlErr != nil {
		readErr = ctlErr
	}
	if readErr != nil {
		if out.pidfd >= 0 {
			unix.Close(out.pidfd)
		}
		return nil, fmt.Errorf("%w: %v", ErrUnverifiable, readErr)
	}
	return out, nil
}

// peerGroups reads SO_PEERGROUPS, growing the buffer when the kernel
// reports ERANGE with the length it needs.
func peerGroups(fd int) ([]uint32, error) {
	n := 64
	for range 4 {
		buf := make([]uint32, n)
		size := uint32(len(buf) * 4)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch errno {
		case 0:
			return buf[:size/4], nil
		case unix.ERANGE:
			n = int(size/4) + 1
		default:
			return nil, errno
		}
	}
	return nil, errors.New("group list kept growing while it was read")
}

// peerPIDFD returns a pidfd for the peer, or -1 when the kernel does not
// support SO_PEERPIDFD.
func peerPIDFD(fd int) (int, error) {
	pidfd, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PEERPIDFD)
	switch {
	case errors.Is(err, unix.ENOPROTOOPT):
		return -1, nil
	case errors.Is(err, unix.ESRCH):
		return -1, errors.New("read SO_PEERPIDFD: the peer process has already exited")
	case err != nil:
		return -1, fmt.Errorf("read SO_PEERPIDFD: %w", err)
	}

	// The descriptor must not leak into processes the daemon starts.
	if _, err := unix.FcntlInt(uintptr(pidfd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
		unix.Close(pidfd)
		return -1, fmt.Errorf("set close-on-exec on pidfd: %w", err)
	}
	return pidfd, nil
}

// pidfdExited reports whether the process behind pidfd has exited. A
// pidfd becomes readable when its process exits. Polling works for any
// process, while pidfd_send_signal with signal 0 fails with EPERM when an
// unprivileged daemon checks another user's process.
func pidfdExited(pidfd int) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, err
		}
		if n == 0 {
			return false, nil
		}
		if fds[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0 {
			return true, nil
		}
		return false, fmt.Errorf("unexpected poll events %#x", fds[0].Revents)
	}
}
