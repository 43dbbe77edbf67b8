package api

// Paths of the admin socket. The admin socket accepts only the daemon's
// own user and root.
const (
	PathAdminReload = "/v1/reload"
	PathAdminStatus = "/v1/status"
	PathMetrics     = "/metrics"
)

// CodeReloadFailed is returned by POST /v1/reload when the new config,
// policy or key could not be loaded; the previous state keeps serving.
const CodeReloadFailed Code = "reload_failed"

// ReloadResponse is the body of a successful POST /v1/reload.
type ReloadResponse struct {
	// Status is "reloaded".
	Status string `json:"status"`

	// Summary describes the state that serves now.
	Summary StateSummary `json:"summary"`
}

// StateSummary describes a loaded config, policy and key.
type StateSummary struct {
	Tenants    int    `json:"tenants"`
	Extensions int    `json:"extensions"`
	KeyBackend string `json:"keyBackend"`
	KeyHint    string `json:"keyHint"`

	// LoadedAt is when the state was built, RFC 3339 in UTC.
	LoadedAt string `json:"loadedAt"`
}

// StatusResponse is the body of GET /v1/status.
type StatusResponse struct {
	Version string `json:"version"`
	PID     int    `json:"pid"`

	// StartedAt is when the daemon started, RFC 3339 in UTC.
	StartedAt string `json:"startedAt"`

	// Status is "ok" or "degraded", as on GET /v1/healthz.
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`

	Summary StateSummary `json:"summary"`

	RequestsServed   uint64 `json:"requestsServed"`
	RequestsInFlight int64  `json:"requestsInFlight"`

	Reloads int `json:"reloads"`

	// LastReloadError is the error of the last reload when it failed, so
	// the previous config still serves; empty otherwise.
	LastReloadError string `json:"lastReloadError,omitempty"`

	// Guard is the kernel connect guard's state. Daemons from before the
	// field existed leave it out.
	Guard *GuardStatus `json:"guard,omitempty"`

	// Line is the one-line summary that systemctl status shows.
	Line string `json:"line"`
}

// States of the kernel connect guard in GuardStatus.
const (
	// GuardActive is an installed guard.
	GuardActive = "active"

	// GuardOff is a guard that guard.enabled turns off.
	GuardOff = "off"

	// GuardFailed is an enabled, optional guard that could not be
	// installed, so the daemon runs without it.
	GuardFailed = "failed"
)

// GuardStatus is the kernel connect guard's state as the daemon reports it.
type GuardStatus struct {
	// State is GuardActive, GuardOff or GuardFailed.
	State string `json:"state"`

	// Error is the install error, set only in GuardFailed.
	Error string `json:"error,omitempty"`

	// PolicyError is the error of the last policy update at reload, so the
	// active guard still enforces the previous allowed sets. The next
	// successful update clears it.
	PolicyError string `json:"policyError,omitempty"`
}
