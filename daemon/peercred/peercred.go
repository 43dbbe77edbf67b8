// Package peercred reads the identity of a Unix socket's peer from the
// kernel.
//
// Security model: the daemon trusts only what the kernel recorded for the
// connection (SO_PEERCRED, taken when the peer called connect), never what
// the caller sends. A peer in another pid namespace (pid 0) or with an
// unmapped user or group (the overflow id 65534) cannot be verified and is
// rejected.
package peercred

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// OverflowID is the id the kernel reports for a uid or gid that has no
// mapping in the reader's user namespace.
const OverflowID = 65534

// Identity is what the kernel recorded about a peer.
type Identity struct {
	PID int32
	UID uint32
	GID uint32
}

// ErrUnverifiable is wrapped by errors about peers the daemon cannot
// identify.
var ErrUnverifiable = errors.New("caller identity cannot be verified")

// Read returns the peer identity of a Unix stream connection.
func Read(conn net.Conn) (*Identity, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("%w: connection is %T, not a Unix socket", ErrUnverifiable, conn)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}

	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if credErr != nil {
		return nil, fmt.Errorf("read SO_PEERCRED: %w", credErr)
	}

	id := &Identity{PID: cred.Pid, UID: cred.Uid, GID: cred.Gid}
	if err := id.check(); err != nil {
		return nil, err
	}
	return id, nil
}

func (id *Identity) check() error {
	if id.PID == 0 {
		return fmt.Errorf("%w: peer pid is 0, so it runs in another pid namespace", ErrUnverifiable)
	}
	if id.UID == OverflowID || id.GID == OverflowID {
		return fmt.Errorf("%w: peer uid %d gid %d is the overflow id of an unmapped user namespace", ErrUnverifiable, id.UID, id.GID)
	}
	return nil
}
