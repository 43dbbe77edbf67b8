package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/audit"
	"github.com/signerd/signerd/daemon/metrics"
	"github.com/signerd/signerd/daemon/peercred"
)

// Recorder makes audit records durable; *audit.Trail implements it.
type Recorder interface {
	// Append returns nil only once rec is durable.
	Append(ctx context.Context, rec *audit.Record) error

	// Health returns why records cannot be written, or nil.
	Health() error
}

// maxDigestBytes bounds each subject digest copied into a record before
// validation has checked its length.
const maxDigestBytes = 128

// Sign runs the pipeline for req and records the decision, allowed or
// denied, in req.Audit. A signature is returned only after its record is
// durable. When the record cannot be written, the signature is discarded
// and the request fails with unavailable. Every error is an *api.Error.
func (s *State) Sign(ctx context.Context, req *Request) (*Result, error) {
	if req.Audit == nil {
		return nil, api.Errorf(api.CodeUnavailable, "no audit trail is open, so signing is stopped; this is a bug in the daemon's setup")
	}

	rec := requestRecord(req)
	res, err := s.sign(ctx, req, rec)
	setOutcome(rec, err)
	if err == nil {
		sum := sha256.Sum256(res.Bundle)
		rec.BundleSHA256 = hex.EncodeToString(sum[:])
	}

	// A DPoP nonce challenge decides nothing: the client retries at once
	// with a proof that names the nonce, and that request is recorded.
	if api.IsCode(err, api.CodeUseDPoPNonce) {
		return res, err
	}

	auditTimer := timeStage(metrics.StageAudit)
	aerr := req.Audit.Append(ctx, rec)
	auditTimer.done()
	if err != nil {
		// The denial is returned whether or not its record was written,
		// because a failure to record it shows in the trail's health and
		// log. A stage may return a partial Result with its error, for the
		// log. When it returned none, the tenant and the record id still
		// go to the log line, so a tenant's denials can be found by tenant.
		if res == nil && (rec.Tenant != "" || aerr == nil) {
			res = &Result{Tenant: rec.Tenant}
		}
		if aerr == nil && res != nil {
			res.RecordID = rec.ID
		}
		return res, err
	}
	if aerr != nil {
		return nil, &api.Error{
			Code:              api.CodeUnavailable,
			Message:           "signing is stopped because the audit record could not be written (" + aerr.Error() + "); it resumes when the audit trail can be written again",
			RetryAfterSeconds: 1,
		}
	}
	res.RecordID = rec.ID
	return res, nil
}

// RejectionRecord returns the record of a sign request that was rejected
// before the pipeline ran, for example by a guard or because its body
// did not decode. caller may be nil.
func RejectionRecord(correlationID string, caller *peercred.Identity, err *api.Error) *audit.Record {
	rec := &audit.Record{CorrelationID: correlationID, Caller: auditCaller(caller)}
	setOutcome(rec, err)
	return rec
}

func requestRecord(req *Request) *audit.Record {
	rec := &audit.Record{CorrelationID: req.CorrelationID, Caller: auditCaller(req.Caller)}
	if req.Body == nil {
		return rec
	}

	b := req.Body
	r := &audit.Request{PredicateType: clip(b.PredicateType, 1024)}
	for i, sub := range b.Subjects {
		if i == audit.MaxSubjects {
			r.SubjectsOmitted = len(b.Subjects) - i
			break
		}
		r.Subjects = append(r.Subjects, "sha256:"+clip(sub.Digest["sha256"], maxDigestBytes))
	}
	if len(b.Predicate) > 0 {
		sum := sha256.Sum256(b.Predicate)
		r.PredicateSHA256 = hex.EncodeToString(sum[:])
	}
	if sc := b.Scanner; sc != nil {
		r.Scanner = &audit.Scanner{Name: clip(sc.Name, 256), Version: clip(sc.Version, 256), Image: clip(sc.Image, 1024)}
	}
	rec.Request = r
	return rec
}

func auditCaller(id *peercred.Identity) *audit.Caller {
	if id == nil {
		return nil
	}
	return &audit.Caller{
		PID:              id.PID,
		UID:              id.UID,
		GID:              id.GID,
		Executable:       clip(id.Exe.Path, 4096),
		ExecutableSHA256: id.Exe.SHA256,
		SystemdUnit:      id.Cgroup.SystemdUnit,
		ContainerID:      id.Cgroup.ContainerID,
	}
}

// setOutcome sets the record's outcome from the pipeline's error:
// internal and unavailable are errors, other codes are denials.
func setOutcome(rec *audit.Record, err error) {
	if err == nil {
		rec.Outcome = audit.OutcomeAllowed
		return
	}
	var e *api.Error
	if !errors.As(err, &e) {
		e = api.Errorf(api.CodeInternal, "%v", err)
	}
	rec.Outcome = audit.OutcomeDenied
	if e.Code == api.CodeInternal || e.Code == api.CodeUnavailable {
		rec.Outcome = audit.OutcomeError
	}
	rec.Code = string(e.Code)
	rec.Reason = audit.TruncateReason(e.Message)
}

// clip returns at most the first n bytes of s.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
