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

	// Line is the one-line summary that systemctl status shows.
	Line string `json:"line"`
}
