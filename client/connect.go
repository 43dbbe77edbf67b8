package client

import (
	"errors"
	"fmt"
	"syscall"
)

// ConnectError is a failure to connect to the daemon's socket. Its message
// names the socket and the usual fix for the cause. Unwrap returns the
// dial error, so errors.Is(err, syscall.ECONNREFUSED) and the like work.
type ConnectError struct {
	Socket string
	Err    error
}

func (e *ConnectError) Error() string {
	var errno syscall.Errno
	if !errors.As(e.Err, &errno) {
		return fmt.Sprintf("cannot connect to signerd at %s: %v", e.Socket, e.Err)
	}

	var hint string
	switch errno {
	case syscall.ENOENT:
		hint = "start signerd or set --socket or $SIGNERD_SOCKET"
	case syscall.ECONNREFUSED:
		hint = "is signerd running?"
	case syscall.EACCES:
		hint = "the socket's group must include your user"
	default:
		return fmt.Sprintf("cannot connect to signerd at %s: %v", e.Socket, errno)
	}
	return fmt.Sprintf("cannot connect to signerd at %s: %v; %s", e.Socket, errno, hint)
}

func (e *ConnectError) Unwrap() error { return e.Err }
