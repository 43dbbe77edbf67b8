// Package release decides whether a scanner image was released and signed
// by a trusted publisher, before signerd signs on the scanner's behalf.
//
// The image is named by digest. The checker lists the digest's referrers
// through the OCI 1.1 Referrers API and the sha256-HEX referrers tag, the
// tag alone where a registry lacks the API, and reads the legacy cosign
// sha256-HEX.sig tag.
// It verifies every Sigstore bundle and cosign signature it finds against
// the tenant's trusted keys, and returns one verdict with the evidence.
//
// Security model: registries and layout directories are untrusted. Only a
// signature that a trusted key verifies, over exactly the image digest,
// counts. An in-toto attestation counts only with the tenant's pinned
// predicate type. The checker fails closed: only the verdict verified lets
// signing go on. Verified needs at least one accepted signature and no
// rejected one, because a rejected signature next to a good one means that
// someone with push access disagrees with the release. Network failures,
// timeouts and registry responses that contradict themselves never yield
// verified.
package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/singleflight"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/logkey"
)

// Checker computes and caches release verdicts. It is safe for concurrent
// use.
type Checker struct {
	insecure     map[string]bool
	layouts      map[string]*layoutSource
	registry     source
	cache        *verdictCache
	checkTimeout time.Duration

	// flight lets concurrent requests for one uncached image share one
	// check instead of each reading the registry.
	flight singleflight.Group
}

// NewChecker builds a Checker from the release section of the config. It
// opens every configured layout directory and fails if one is unusable.
func NewChecker(cfg *config.ReleaseConfig) (*Checker, error) {
	c := &Checker{
		insecure: map[string]bool{},
		layouts:  map[string]*layoutSource{},
		cache: newVerdictCache(cfg.Cache.MaxEntries,
			time.Duration(cfg.Cache.PositiveTTL), time.Duration(cfg.Cache.NegativeTTL)),
		checkTimeout: time.Duration(cfg.CheckTimeout),
	}
	for _, host := range cfg.InsecureRegistries {
		c.insecure[host] = true
	}
	for _, l := range cfg.Layouts {
		src, err := newLayoutSource(l.Path)
		if err != nil {
			return nil, err
		}
		c.layouts[l.Repository] = src
	}
	c.registry = newRegistrySource(time.Duration(cfg.RequestTimeout), c.isInsecure)
	return c, nil
}

// isInsecure reports whether host (host or host:port) is listed as
// insecure. A listed bare host matches it on any port.
func (c *Checker) isInsecure(host string) bool {
	if c.insecure[host] {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		return c.insecure[h]
	}
	return false
}

// ParseImage parses ref with the checker's insecure-registry list.
func (c *Checker) ParseImage(ref string) (Image, error) {
	return ParseImage(ref, c.isInsecure)
}

// Check returns the release verdict of the image ref under policy p. Every
// outcome of the check itself is a verdict. The error, an *api.Error, is
// set only when ref is not a valid image reference by digest.
func (c *Checker) Check(ctx context.Context, p *Policy, ref string) (*api.ReleaseVerdict, error) {
	img, err := c.ParseImage(ref)
	if err != nil {
		return nil, api.FieldErrorf(api.CodeInvalidRequest, "scanner.image", "%v", err)
	}

	key := p.fingerprint + " " + img.String()
	if v, ok := c.cache.get(key); ok {
		v.Cached = true
		return v, nil
	}

	shared, _, _ := c.flight.Do(key, func() (any, error) {
		// The check outlives a caller that gives up, because other callers
		// may be waiting for the same result; check_timeout bounds it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.checkTimeout)
		defer cancel()

		v := c.check(cctx, p, img)
		c.cache.put(key, v)
		return v, nil
	})
	v := *shared.(*api.ReleaseVerdict)
	return &v, nil
}

// LogAttrs returns the log fields of a verdict: the verdict, its reason,
// the signer and one line per piece of evidence.
func LogAttrs(v *api.ReleaseVerdict) []any {
	evidence := make([]string, 0, len(v.Evidence))
	for _, ev := range v.Evidence {
		evidence = append(evidence, fmt.Sprintf("%s %s %s %s: %s", ev.Source, ev.Manifest, ev.Kind, ev.Result, ev.Reason))
	}
	return []any{
		slog.String(logkey.ReleaseImage, v.Image),
		slog.String(logkey.ReleaseVerdict, v.Verdict),
		slog.String(logkey.ReleaseReason, v.Reason),
		slog.String(logkey.ReleaseSignerKey, v.SignerKeyID),
		slog.String(logkey.ReleaseSignatureKind, v.SignatureKind),
		slog.String(logkey.ReleaseDiscovery, v.Discovery),
		slog.Bool(logkey.ReleaseCached, v.Cached),
		slog.Any(logkey.ReleaseEvidence, evidence),
	}
}

func (c *Checker) sourceFor(img Image) source {
	if l, ok := c.layouts[img.Repository.Name()]; ok {
		return l
	}
	return c.registry
}

// check reads the source and computes a fresh verdict.
func (c *Checker) check(ctx context.Context, p *Policy, img Image) *api.ReleaseVerdict {
	v := &api.ReleaseVerdict{
		Image:     img.String(),
		CheckedAt: time.Now().UTC().Format(time.RFC3339),
	}
	src := c.sourceFor(img)

	refs, discoveredBy, err := src.referrers(ctx, img)
	if err != nil {
		return failed(v, err, "list referrers")
	}
	discovery := []string{discoveredBy}
	v.Discovery = discoveredBy
	refs = uniqueReferrers(refs)
	if len(refs) > maxReferrers {
		return setVerdict(v, api.ReleaseAmbiguous, fmt.Sprintf("the image has %d referrers, over the limit of %d examined; refusing rather than guessing", len(refs), maxReferrers))
	}

	for _, r := range refs {
		ev, err := c.examineReferrer(ctx, p, src, img, r)
		if err != nil {
			v.Evidence = append(v.Evidence, api.ReleaseEvidence{Source: r.source, Manifest: r.descriptor.Digest.String(), Result: resultRejected, Reason: err.Error()})
			return failed(v, err, "read referrer "+r.descriptor.Digest.String())
		}
		if ev != nil {
			v.Evidence = append(v.Evidence, *ev)
		}
	}

	legacy, err := p.checkLegacy(ctx, src, img)
	if err != nil {
		return failed(v, err, "read legacy signature tag")
	}
	if len(legacy) > 0 {
		discovery = append(discovery, SourceLegacySigTag)
	}
	v.Evidence = append(v.Evidence, legacy...)
	v.Discovery = strings.Join(discovery, "+")

	return decide(v)
}

// uniqueReferrers drops repeated digests, keeping the first. A manifest
// can be listed by both the Referrers API and the tag index, or twice in
// a tag index when two writers raced to update it.
func uniqueReferrers(refs []referrer) []referrer {
	seen := map[v1.Hash]bool{}
	out := refs[:0]
	for _, r := range refs {
		if seen[r.descriptor.Digest] {
			continue
		}
		seen[r.descriptor.Digest] = true
		out = append(out, r)
	}
	return out
}

// examineReferrer fetches one referrer and checks it when it is a Sigstore
// bundle. It returns nil evidence for referrers of other types (SBOMs and
// the like), and an error when the source fails or contradicts itself.
func (c *Checker) examineReferrer(ctx context.Context, p *Policy, src source, img Image, r referrer) (*api.ReleaseEvidence, error) {
	d := r.descriptor
	raw, err := src.manifest(ctx, img, d.Digest)
	if errors.Is(err, errNotFound) {
		return nil, inconsistentf("referrer %s is listed but its manifest is not found", d.Digest)
	}
	if err != nil {
		return nil, err
	}

	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, inconsistentf("referrer %s is not a valid manifest: %v", d.Digest, err)
	}
	if m.Subject == nil || m.Subject.Digest != img.Digest {
		return nil, inconsistentf("referrer %s is listed for %s but its subject is %v", d.Digest, img.Digest, subjectOf(&m))
	}
	if !isBundleManifest(&m) {
		return nil, nil
	}

	ev := &api.ReleaseEvidence{Source: r.source, Manifest: d.Digest.String(), Kind: config.SignatureKindSigstoreBundle}
	if len(m.Layers) != 1 || string(m.Layers[0].MediaType) != MediaTypeBundle {
		reject(ev, "bundle manifest must have exactly one layer of type %s", MediaTypeBundle)
		return ev, nil
	}
	data, err := src.blob(ctx, img, m.Layers[0].Digest)
	if errors.Is(err, errNotFound) {
		return nil, inconsistentf("bundle layer %s of referrer %s is not found", m.Layers[0].Digest, d.Digest)
	}
	if err != nil {
		return nil, err
	}
	p.checkBundle(ev, data, img)
	return ev, nil
}

func subjectOf(m *v1.Manifest) string {
	if m.Subject == nil {
		return "missing"
	}
	return m.Subject.Digest.String()
}

// failed turns a source error into the unreachable or ambiguous verdict.
func failed(v *api.ReleaseVerdict, err error, step string) *api.ReleaseVerdict {
	var inc *inconsistentError
	if errors.As(err, &inc) || errors.Is(err, errNotFound) {
		return setVerdict(v, api.ReleaseAmbiguous, fmt.Sprintf("%s: the registry answered inconsistently: %v", step, err))
	}
	return setVerdict(v, api.ReleaseUnreachable, fmt.Sprintf("%s: %v", step, err))
}

func setVerdict(v *api.ReleaseVerdict, verdict, reason string) *api.ReleaseVerdict {
	v.Verdict = verdict
	v.Reason = reason
	return v
}

// decide computes the verdict from the evidence: verified needs one
// accepted signature and no rejected one.
func decide(v *api.ReleaseVerdict) *api.ReleaseVerdict {
	var accepted, rejected []api.ReleaseEvidence
	for _, ev := range v.Evidence {
		switch ev.Result {
		case resultAccepted:
			accepted = append(accepted, ev)
		case resultRejected:
			rejected = append(rejected, ev)
		}
	}

	switch {
	case len(accepted) > 0 && len(rejected) > 0:
		return setVerdict(v, api.ReleaseAmbiguous, fmt.Sprintf(
			"%d signature(s) verified but %d were rejected (%s); signatures disagree, so the release is not trusted",
			len(accepted), len(rejected), rejected[0].Reason))
	case len(accepted) > 0:
		keys := map[string]bool{}
		for _, a := range accepted {
			keys[a.KeyID] = true
		}
		v.SignerKeyID = accepted[0].KeyID
		v.SignatureKind = accepted[0].Kind
		reason := fmt.Sprintf("%d signature(s) verified by trusted key(s)", len(accepted))
		if len(keys) > 1 {
			ids := make([]string, 0, len(keys))
			for k := range keys {
				ids = append(ids, k)
			}
			slices.Sort(ids)
			reason += " " + strings.Join(ids, ", ")
		}
		return setVerdict(v, api.ReleaseVerified, reason)
	case len(rejected) > 0:
		return setVerdict(v, api.ReleaseInvalid, fmt.Sprintf("no signature verified: %s", rejected[0].Reason))
	case len(v.Evidence) > 0:
		return setVerdict(v, api.ReleaseInvalid, fmt.Sprintf("signature artifacts exist but none applies to this tenant's policy: %s", v.Evidence[0].Reason))
	}
	return setVerdict(v, api.ReleaseUnsigned, "no release signature is attached to the image")
}
