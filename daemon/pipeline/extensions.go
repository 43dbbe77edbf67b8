package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/audit"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/entitlement"
	"github.com/signerd/signerd/daemon/extension"
	"github.com/signerd/signerd/daemon/extension/source"
	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/metrics"
	"github.com/signerd/signerd/daemon/release"
	"github.com/signerd/signerd/daemon/statement"
)

// tenantExtension is one loaded extension of a tenant.
type tenantExtension struct {
	cfg *config.Extension
	mod *extension.Module
}

// Extension directories under the state directory. Both hold code or
// bytes the daemon runs, so they are created 0700 and checked at load.
const (
	extensionCompileCache = "extensions/compiled"
	extensionPullCache    = "extensions/pulled"
)

// loadExtensions fetches, pins and compiles every tenant's extensions,
// after checking the artifact signature of those with a signature key. A
// State with a module that cannot load is not built, so a reload with a
// broken extension keeps the old State serving.
func loadExtensions(ctx context.Context, cfg *config.Config, checker *release.Checker) (map[string][]tenantExtension, error) {
	out := map[string][]tenantExtension{}
	ok := false
	defer func() {
		if !ok {
			closeExtensions(out)
		}
	}()

	for ti := range cfg.Tenants {
		t := &cfg.Tenants[ti]
		for ei := range t.Extensions {
			e := &t.Extensions[ei]
			label := t.Name + "/" + e.Name
			if e.SignatureKey != nil {
				if err := verifyArtifact(ctx, checker, e); err != nil {
					return nil, fmt.Errorf("extension %s: %w", label, err)
				}
			}
			wasm, err := source.Fetch(ctx, e.Source, source.Options{
				CacheDir: filepath.Join(cfg.StateDir, extensionPullCache),
				SHA256:   e.SHA256,
			})
			if err != nil {
				return nil, fmt.Errorf("extension %s: %w", label, err)
			}
			if err := extension.VerifyPin(wasm, e.SHA256); err != nil {
				return nil, fmt.Errorf("extension %s from %s: %w", label, e.Source, err)
			}
			mod, err := extension.Load(ctx, wasm, extension.Options{
				Name:     label,
				CacheDir: filepath.Join(cfg.StateDir, extensionCompileCache),
				Logger:   slog.Default(),
				Limits: extension.Limits{
					MemoryPages: e.EffectiveMemoryPages(),
					Timeout:     e.EffectiveTimeout(),
				},
			})
			if err != nil {
				return nil, err
			}
			out[t.Name] = append(out[t.Name], tenantExtension{cfg: e, mod: mod})
			slog.Info("extension loaded", logkey.Tenant, t.Name, logkey.Extension, e.Name,
				logkey.ExtensionSHA256, mod.SHA256())
		}
	}
	ok = true

	// Compiling or loading a module from the cache leaves tens of MiB of
	// garbage in the Go heap. Return it to the kernel now, because the
	// runtime's background scavenger returns it only gradually.
	if len(out) > 0 {
		debug.FreeOSMemory()
	}
	return out, nil
}

// verifyArtifact checks that the manifest digest of e's OCI source carries
// a signature by e's signature key. It calls the release checker, which
// finds and verifies signatures of an artifact by digest the same way for
// a module as for a scanner image, and accepts only the verdict verified.
func verifyArtifact(ctx context.Context, checker *release.Checker, e *config.Extension) error {
	key := *e.SignatureKey
	if key.Name == "" {
		key.Name = e.Name
	}
	p, err := release.CompilePolicy(&config.ReleaseIntegrity{TrustedKeys: []config.TrustedKey{key}})
	if err != nil {
		return fmt.Errorf("signature_key: %w", err)
	}

	ref := strings.TrimPrefix(e.Source, source.Scheme)
	v, err := checker.Check(ctx, p, ref)
	if err != nil {
		return fmt.Errorf("artifact %s: %w", ref, err)
	}
	slog.Info("extension artifact signature checked", append([]any{slog.String(logkey.Extension, e.Name)}, release.LogAttrs(v)...)...)
	if v.Verdict != api.ReleaseVerified {
		return fmt.Errorf("artifact %s has no signature by signature_key (verdict %s: %s); sign its digest with the private half of key %s, for example with cosign sign --key, or correct signature_key",
			ref, v.Verdict, v.Reason, key.Name)
	}
	return nil
}

func closeExtensions(m map[string][]tenantExtension) {
	for _, list := range m {
		for _, e := range list {
			_ = e.mod.Close(context.Background())
		}
	}
}

// checkExtensions runs the tenant's extensions in order. The first that
// denies, fails or returns a malformed reply stops the request (fail
// closed). Each extension that ran adds its verdict to rec.
func (s *State) checkExtensions(ctx context.Context, tenant string, req *Request, stmt *statement.Statement, rec *audit.Record) error {
	list := s.extensions[tenant]
	if len(list) == 0 {
		return nil
	}

	r := &extension.Request{
		Tenant:    tenant,
		Statement: stmt,
		Scanner:   req.Body.Scanner,
		PoE:       poeClaims(req.poeClaims),
		Time:      time.Now(),
	}
	if req.Caller != nil {
		r.Caller = req.Caller.Caller()
	}

	for _, e := range list {
		in := extension.NewInput(r, e.cfg.Config.JSON, e.cfg.EffectiveMaxPredicate())
		input, err := json.Marshal(&in)
		if err != nil {
			return api.Errorf(api.CodeInternal, "encode extension input: %v", err)
		}

		start := time.Now()
		d, err := e.mod.Check(ctx, input)
		metrics.ObserveExtensionCall(tenant, e.cfg.Name, extensionResult(d, err), time.Since(start))
		rec.Extensions = append(rec.Extensions, extensionVerdict(e.cfg.Name, d, err))
		if err != nil {
			slog.Warn("extension failed; request denied", logkey.CorrelationID, req.CorrelationID,
				logkey.Tenant, tenant, logkey.Extension, e.cfg.Name, logkey.Error, err)
			code := api.CodeForbidden
			if errors.Is(err, context.Canceled) {
				code = api.CodeUnavailable
			}
			return api.FieldErrorf(code, "extensions."+e.cfg.Name,
				"extension %q of tenant %q failed, so the request is denied: %v; an administrator can check the module with signerctl ext test",
				e.cfg.Name, tenant, err)
		}
		if !d.Allow {
			reasons := "no reason given"
			if len(d.Reasons) > 0 {
				reasons = strings.Join(d.Reasons, "; ")
			}
			return api.FieldErrorf(api.CodeForbidden, "extensions."+e.cfg.Name,
				"extension %q of tenant %q denied the request: %s", e.cfg.Name, tenant, reasons)
		}
	}
	return nil
}

// extensionResult names an extension call's outcome for its metrics.
func extensionResult(d extension.Decision, err error) string {
	switch {
	case errors.Is(err, extension.ErrDeadline):
		return metrics.ExtensionTimeout
	case err != nil:
		return metrics.ExtensionError
	case d.Allow:
		return metrics.ExtensionAllow
	default:
		return metrics.ExtensionDeny
	}
}

// extensionVerdict turns an extension's outcome into its audit verdict.
func extensionVerdict(name string, d extension.Decision, err error) audit.ExtensionVerdict {
	v := audit.ExtensionVerdict{Name: name}
	switch {
	case err != nil:
		v.Result, v.Reason = "error", audit.TruncateReason(err.Error())
	case d.Allow:
		v.Result = "allow"
	default:
		v.Result, v.Reason = "deny", audit.TruncateReason(strings.Join(d.Reasons, "; "))
	}
	return v
}

// poeClaims copies the claims extensions may see; nil when the tenant
// requires no PoE.
func poeClaims(c *entitlement.Claims) *extension.PoEClaims {
	if c == nil {
		return nil
	}
	out := &extension.PoEClaims{
		Issuer:          c.Issuer,
		Subject:         c.Subject,
		Tenant:          c.Tenant,
		Plan:            c.Plan,
		ScannerVersions: c.ScannerVersions,
	}
	if c.Expiry != nil {
		exp := c.Expiry.Time().UTC()
		out.ExpiresAt = &exp
	}
	return out
}
