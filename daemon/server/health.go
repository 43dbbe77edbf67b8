package server

import (
	"context"

	"github.com/signerd/signerd/daemon/health"
)

// Health returns "ok" or "degraded" and every component check, with the
// key and the audit trail checked now rather than as last reported.
// GET /v1/healthz, the admin status and the systemd status line share it,
// so no view of the daemon leaves a check out.
func (s *Server) Health(ctx context.Context) (status string, checks map[string]string) {
	status, checks = health.Snapshot()

	if err := s.state.Load().KeyHealth.Health(ctx); err != nil {
		status = "degraded"
		checks["key"] = err.Error()
	} else if _, reported := checks["key"]; !reported {
		checks["key"] = health.OK
	}

	if err := s.auditHealth(); err != nil {
		status = "degraded"
		checks["audit"] = err.Error()
	} else {
		checks["audit"] = health.OK
	}
	return status, checks
}
