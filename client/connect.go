package client

import (
	"errors"
	"fmt"
	"os"
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
		if kind := notSocketKind(e.Socket); kind != "" {
			hint = "it is " + kind + ", not a socket; set --socket or $SIGNERD_SOCKET to signerd's socket, such as /run/signerd/signerd.sock"
		}
	case syscall.EACCES:
		hint = "the socket's mode or group does not let your user connect; ask the administrator to add you to the socket's group, or call as the socket's owner"
	default:
		return fmt.Sprintf("cannot connect to signerd at %s: %v", e.Socket, errno)
	}
	return fmt.Sprintf("cannot connect to signerd at %s: %v; %s", e.Socket, errno, hint)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// notSocketKind names what path is when it exists but is not a socket,
// and returns "" otherwise.
func notSocketKind(path string) string {
	fi, err := os.Stat(path)
	switch {
	case err != nil || fi.Mode()&os.ModeSocket != 0:
		return ""
	case fi.IsDir():
		return "a directory"
	case fi.Mode().IsRegular():
		return "a regular file"
	}
	return "a " + fi.Mode().Type().String() + " file"
}
