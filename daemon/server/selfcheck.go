package server

import (
	"context"
	"os"
)

// isSelfCheck reports whether the request comes from the daemon's own
// process: the watchdog probes the sockets over a real connection to
// prove that the accept loop and handlers work.
func isSelfCheck(ctx context.Context) bool {
	id, err := callerFrom(ctx)
	return err == nil && id != nil && int(id.PID) == os.Getpid()
}
