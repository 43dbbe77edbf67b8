package server

import (
	"net/http"
	"os"
)

// HeaderSelfCheck marks the watchdog's probe requests. The server honours
// it only from a connection whose peer is the daemon's own process, so a
// caller cannot use it to keep its requests out of the log.
const HeaderSelfCheck = "X-Signerd-Self-Check"

// isSelfCheck reports whether r is the watchdog's probe: the daemon's own
// process requesting over a real connection, to prove that the accept
// loop and handlers work.
func isSelfCheck(r *http.Request) bool {
	if r.Header.Get(HeaderSelfCheck) == "" {
		return false
	}
	id, err := callerFrom(r.Context())
	return err == nil && id != nil && int(id.PID) == os.Getpid()
}
