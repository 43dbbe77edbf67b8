// Package health keeps the daemon's component checks: each component
// (the key backend, the audit trail, ...) reports its latest result, and
// GET /v1/healthz, GET /v1/status and the systemd STATUS line read them.
//
// A component that has never reported is not listed. The daemon is
// "degraded" while any listed component reports an error. It keeps
// serving, and each stage decides for itself whether it can work: the
// audit trail, for example, fails closed.
package health

import (
	"maps"
	"sync"
)

var (
	mu     sync.Mutex
	checks = map[string]string{}
)

// OK is the value of a passing check.
const OK = "ok"

// Set records the result of component's latest check: nil for passing,
// otherwise the error, whose text says why.
func Set(component string, err error) {
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		checks[component] = err.Error()
		return
	}
	checks[component] = OK
}

// Snapshot returns the checks and "ok" or "degraded".
func Snapshot() (status string, out map[string]string) {
	mu.Lock()
	defer mu.Unlock()
	out = maps.Clone(checks)
	status = "ok"
	for _, v := range out {
		if v != OK {
			status = "degraded"
		}
	}
	return status, out
}
