package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/audit"
	"github.com/signerd/signerd/daemon/bundle"
	"github.com/signerd/signerd/daemon/dsse"
	"github.com/signerd/signerd/daemon/entitlement"
	"github.com/signerd/signerd/daemon/metrics"
	"github.com/signerd/signerd/daemon/peercred"
	"github.com/signerd/signerd/daemon/policy"
	"github.com/signerd/signerd/daemon/statement"
)

// Request is one sign request as the pipeline sees it.
type Request struct {
	CorrelationID string
	Caller        *peercred.Identity
	Body          *api.SignRequest

	// Method and Path are the HTTP method and routed path, which a DPoP
	// proof must name.
	Method string
	Path   string

	// Authorization, DPoP and PoE hold every value of those headers, so
	// a duplicate header is seen and rejected.
	Authorization []string
	DPoP          []string
	PoE           []string

	// BodyBytes is the size of the request body.
	BodyBytes int64

	// Audit receives the request's record. It outlives reloads, so it
	// is passed with each request instead of living in State.
	Audit Recorder

	// poeClaims are the verified PoE claims, set by the entitlement stage
	// when the tenant requires a PoE; the extensions receive them.
	poeClaims *entitlement.Claims
}

// Result is a completed signature.
type Result struct {
	Bundle   []byte
	KeyHint  string
	RecordID string
	SignedAt time.Time
	Tenant   string

	// LogAttrs are details for the request's log line.
	LogAttrs []slog.Attr
	// Release is the scanner image's release verdict, nil when the tenant
	// does not require release integrity.
	Release *api.ReleaseVerdict
}

// sign runs the stages for req and fills rec with what each stage
// decided. Every error is an *api.Error.
func (s *State) sign(ctx context.Context, req *Request, rec *audit.Record) (*Result, error) {
	identityTimer := timeStage(metrics.StageIdentity)
	tenant, err := s.authorize(req)
	identityTimer.done()
	if err != nil {
		return nil, err
	}
	rec.Tenant = tenant.Name

	entitlementTimer := timeStage(metrics.StageEntitlement)
	release, logAttrs, err := s.entitle(req)
	entitlementTimer.done()
	if err != nil {
		return &Result{Tenant: tenant.Name, LogAttrs: logAttrs}, err
	}
	defer release()

	stmt, err := statement.Validate(req.Body)
	if err != nil {
		return nil, err
	}
	if !tenant.AllowsPredicate(stmt.PredicateType) {
		return nil, api.FieldErrorf(api.CodeForbidden, "predicateType",
			"tenant %q may not sign predicate type %q; an administrator can add it to the tenant's predicate_types",
			tenant.Name, stmt.PredicateType)
	}

	releaseTimer := timeStage(metrics.StageRelease)
	verdict, err := s.checkRelease(ctx, tenant.Name, req.Body)
	releaseTimer.done()
	rec.Release = auditVerdict(verdict)
	if err != nil {
		return &Result{Tenant: tenant.Name, LogAttrs: logAttrs}, err
	}

	extensionsTimer := timeStage(metrics.StageExtensions)
	err = s.checkExtensions(ctx, tenant.Name, req, stmt, rec)
	extensionsTimer.done()
	if err != nil {
		return nil, err
	}

	if err := s.recheckCaller(req); err != nil {
		return nil, err
	}

	signingTimer := timeStage(metrics.StageSigning)
	keyStart := time.Now()
	env, err := dsse.Sign(ctx, s.Signer, api.MediaTypeInToto, stmt.Marshal())
	metrics.ObserveKeyOperation(s.keyBackend, "sign", time.Since(keyStart), err)
	if err != nil {
		signingTimer.done()
		e := api.Errorf(api.CodeUnavailable, "key backend %s failed to sign: %v; retry later, and an administrator can check signerctl health and the daemon log", s.Signer.URI(), err)
		e.RetryAfterSeconds = 5
		return nil, e
	}
	signedAt := time.Now().UTC()
	rec.KeyHint, rec.KeyID = s.KeyHint, s.Signer.URI()

	out, err := bundle.New(env, s.KeyHint).Marshal()
	signingTimer.done()
	if err != nil {
		return nil, api.Errorf(api.CodeInternal, "encode bundle: %v", err)
	}

	return &Result{
		Bundle:   out,
		KeyHint:  s.KeyHint,
		SignedAt: signedAt,
		Tenant:   tenant.Name,
		LogAttrs: logAttrs,
		Release:  verdict,
	}, nil
}

func (s *State) authorize(req *Request) (*policy.Tenant, error) {
	tenant, reason := s.Policy.Match(req.Caller)
	if tenant == nil {
		return nil, api.Errorf(api.CodeForbidden, "%s", reason)
	}
	return tenant, nil
}
