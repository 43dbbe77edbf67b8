//go:build !wasip1

package guest

import "log"

// Log writes one line to the daemon's log; off wasip1 (in tests) it goes
// to the standard logger.
func Log(line string) { log.Print(line) }
