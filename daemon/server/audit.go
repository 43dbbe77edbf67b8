package server

import (
	"errors"
	"log/slog"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/pipeline"
)

// recordRejection records a sign request that failed before the pipeline
// ran: a guard, the caller's identity, the method, or the body. Such a
// request is a decision (nothing was signed for this caller), so it has
// a record like a denial in the pipeline. A failure to write it leaves
// the rejection standing and is logged.
// NOTE: any process that can connect can add records this way; group
// commit bounds the fsyncs, but only rotation and the disk bound the size.
func (s *Server) recordRejection(x *exchange, e *api.Error) {
	if s.audit == nil {
		return
	}
	// A guard may reject the request before routing has set x.caller;
	// the connection's identity was read at accept either way.
	caller := x.caller
	if caller == nil {
		caller, _ = callerFrom(x.r.Context())
	}
	rec := pipeline.RejectionRecord(x.correlationID, caller, e)
	if err := s.audit.Append(x.r.Context(), rec); err != nil {
		s.log.Error("audit record of a rejected sign request could not be written",
			slog.String(logkey.CorrelationID, x.correlationID), slog.String(logkey.Error, err.Error()))
		return
	}
	x.attrs = append(x.attrs, slog.String(logkey.RecordID, rec.ID))
}

func (s *Server) auditHealth() error {
	if s.audit == nil {
		return errors.New("no audit trail is open, so signing is stopped")
	}
	return s.audit.Health()
}
