package pipeline

import (
	"context"
	"fmt"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/audit"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/peercred"
	"github.com/signerd/signerd/daemon/release"
)

// releaseStage checks the scanner image's release signature for tenants
// that require it.
//
// NOTE: the verdict cache lives in the Checker, so a reload starts with an
// empty cache.
type releaseStage struct {
	checker *release.Checker

	// policies maps a tenant name to its compiled policy; tenants without
	// a release_integrity section are absent.
	policies map[string]*release.Policy
}

func newReleaseStage(cfg *config.Config) (*releaseStage, error) {
	checker, err := release.NewChecker(&cfg.Release)
	if err != nil {
		return nil, err
	}
	rs := &releaseStage{checker: checker, policies: map[string]*release.Policy{}}
	for _, t := range cfg.Tenants {
		if t.ReleaseIntegrity == nil {
			continue
		}
		p, err := release.CompilePolicy(t.ReleaseIntegrity)
		if err != nil {
			return nil, fmt.Errorf("tenant %q: %w", t.Name, err)
		}
		rs.policies[t.Name] = p
	}
	return rs, nil
}

// checkRelease runs the release-integrity stage for a sign request. It
// returns a nil verdict when the tenant does not require release integrity,
// and a release_unverified error, carrying the verdict, unless the image
// is verified.
func (s *State) checkRelease(ctx context.Context, tenant string, body *api.SignRequest) (*api.ReleaseVerdict, error) {
	p := s.releaseCheck.policies[tenant]
	if p == nil || !p.Required {
		return nil, nil
	}
	if body.Scanner == nil || body.Scanner.Image == "" {
		return nil, api.FieldErrorf(api.CodeInvalidRequest, "scanner.image",
			"tenant %q requires release integrity, so the request must name the scanner image as scanner.image = REGISTRY/REPOSITORY@sha256:HEX", tenant)
	}

	v, err := s.releaseCheck.checker.Check(ctx, p, body.Scanner.Image)
	if err != nil {
		return nil, err
	}
	if v.Verdict != api.ReleaseVerified {
		e := api.FieldErrorf(api.CodeReleaseUnverified, "scanner.image",
			"scanner image %s is not a verified release (%s: %s); ask the publisher to sign it with a key that tenant %q trusts",
			v.Image, v.Verdict, v.Reason, tenant)
		e.Release = v
		return v, e
	}
	return v, nil
}

// VerifyRelease returns the release verdict of image under the policy of
// the caller's tenant. The error is an *api.Error.
func (s *State) VerifyRelease(ctx context.Context, caller *peercred.Identity, image string) (*api.ReleaseVerdict, string, error) {
	tenant, reason := s.Policy.Match(caller)
	if tenant == nil {
		return nil, "", api.Errorf(api.CodeForbidden, "%s", reason)
	}
	p := s.releaseCheck.policies[tenant.Name]
	if p == nil {
		return nil, tenant.Name, api.Errorf(api.CodeInvalidRequest,
			"tenant %q has no release_integrity policy, so there are no trusted release keys to verify against; an administrator can add one", tenant.Name)
	}
	v, err := s.releaseCheck.checker.Check(ctx, p, image)
	if err != nil {
		return nil, tenant.Name, err
	}
	return v, tenant.Name, nil
}

// auditVerdict condenses a release verdict for the audit record: verified
// is allow, unreachable is error (the check could not be made), and every
// other verdict is deny. It returns nil when no check ran.
func auditVerdict(v *api.ReleaseVerdict) *audit.Verdict {
	if v == nil {
		return nil
	}
	// The audit record's verdict results are "allow", "deny" and "error".
	result := "deny"
	switch v.Verdict {
	case api.ReleaseVerified:
		result = "allow"
	case api.ReleaseUnreachable:
		result = "error"
	}
	reason := fmt.Sprintf("%s %s: %s", v.Verdict, v.Image, v.Reason)
	if v.SignerKeyID != "" {
		reason = fmt.Sprintf("%s %s by key %s (%s): %s", v.Verdict, v.Image, v.SignerKeyID, v.SignatureKind, v.Reason)
	}
	return &audit.Verdict{Result: result, Reason: audit.TruncateReason(reason)}
}
