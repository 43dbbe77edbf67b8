package release

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/config"
)

// Media types of Sigstore artifacts in registries.
const (
	// MediaTypeBundle is the artifactType cosign v3 gives a bundle's
	// manifest, and the media type of its single layer.
	MediaTypeBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"

	mediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	mediaTypeInToto        = "application/vnd.in-toto+json"
)

// PredicateCosignSign is the predicate type of the in-toto Statement that
// `cosign sign` (v3, bundle format) signs in place of a bare signature.
const PredicateCosignSign = "https://sigstore.dev/cosign/sign/v1"

// Evidence kinds beyond the config's signature kinds.
const kindSigstoreAttestation = "sigstore-attestation"

// Evidence results.
const (
	resultAccepted = "accepted"
	resultRejected = "rejected"
	resultIgnored  = "ignored"
)

// isBundleManifest reports whether a referrer manifest is a Sigstore
// bundle as cosign v3 attaches it. Both artifactType fields are read,
// because some registries (go-containerregistry's among them) report the
// config media type as the descriptor's artifactType.
func isBundleManifest(m *v1.Manifest) bool {
	return m.ArtifactType == MediaTypeBundle || string(m.Config.MediaType) == MediaTypeBundle
}

// checkBundle verifies a Sigstore bundle against the policy's keys and
// the image digest. ev arrives with Source and Manifest set.
func (p *Policy) checkBundle(ev *api.ReleaseEvidence, data []byte, img Image) {
	var b bundle.Bundle
	if err := b.UnmarshalJSON(data); err != nil {
		reject(ev, "bundle is not a valid Sigstore bundle: %v", err)
		return
	}

	ev.Kind = config.SignatureKindSigstoreBundle
	env := b.GetDsseEnvelope()
	if env != nil {
		stmt, err := peekStatement(env.GetPayloadType(), env.GetPayload())
		if err != nil {
			reject(ev, "%v", err)
			return
		}
		ev.PredicateType = stmt.PredicateType
		if stmt.PredicateType != PredicateCosignSign {
			ev.Kind = kindSigstoreAttestation
		}
	}

	if !p.kinds[config.SignatureKindSigstoreBundle] {
		ignore(ev, "the tenant does not accept %s signatures", config.SignatureKindSigstoreBundle)
		return
	}
	// cosign verify accepts any key-signed attestation as a signature. Here
	// only the pinned predicate type counts, so an SBOM or a provenance
	// attestation never replaces a release signature.
	if ev.Kind == kindSigstoreAttestation {
		if p.attestationPredicateType == "" {
			ignore(ev, "attestation with predicate type %q; the tenant accepts no attestations as release signatures", ev.PredicateType)
			return
		}
		if ev.PredicateType != p.attestationPredicateType {
			ignore(ev, "attestation with predicate type %q, not the pinned %q", ev.PredicateType, p.attestationPredicateType)
			return
		}
	}

	var lastErr error
	for _, k := range p.keys {
		err := verifyBundleWithKey(&b, k, img)
		if err == nil {
			ev.KeyID = k.id
			ev.Result = resultAccepted
			ev.Reason = fmt.Sprintf("signature verified with trusted key %q and its subject is the image digest", k.name)
			return
		}
		if _, ok := err.(*subjectError); ok {
			// The signature is genuine, so no other key needs trying.
			ev.KeyID = k.id
			reject(ev, "%v", err)
			return
		}
		lastErr = err
	}
	if lastErr == nil {
		reject(ev, "no trusted keys are configured")
		return
	}
	reject(ev, "no trusted key verifies the signature (last error: %v)", lastErr)
}

// subjectError means a genuine signature covers something other than the
// image.
type subjectError struct{ msg string }

func (e *subjectError) Error() string { return e.msg }

// verifyBundleWithKey checks b's signature with one key, then checks that
// it covers exactly the image digest.
func verifyBundleWithKey(b *bundle.Bundle, k trustedKey, img Image) error {
	trusted := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
		return root.NewExpiringKey(k.verifier, time.Time{}, time.Time{}), nil
	})
	verifier, err := sgverify.NewVerifier(trusted, sgverify.WithNoObserverTimestamps())
	if err != nil {
		return err
	}

	digest, err := hex.DecodeString(img.Digest.Hex)
	if err != nil {
		return err
	}

	if b.GetDsseEnvelope() == nil {
		// A message signature signs the digest itself; sigstore-go checks
		// the signature against the digest we name.
		// A digest other than the image's is checked against the signature
		// first, so a genuine signature over another image is reported as
		// such rather than as an unknown key.
		if md := b.GetMessageSignature().GetMessageDigest(); md != nil && hex.EncodeToString(md.GetDigest()) != img.Digest.Hex {
			if _, err := verifier.Verify(b, sgverify.NewPolicy(sgverify.WithArtifactDigest("sha256", md.GetDigest()), sgverify.WithKey())); err == nil {
				return &subjectError{msg: fmt.Sprintf("message signature covers sha256:%x, not the image digest %s", md.GetDigest(), img.Digest)}
			}
		}
		_, err := verifier.Verify(b, sgverify.NewPolicy(sgverify.WithArtifactDigest("sha256", digest), sgverify.WithKey()))
		return err
	}

	// The DSSE signature is checked first, without an artifact, so that the
	// evidence can distinguish a genuine signature over another digest from
	// a forged one.
	res, err := verifier.Verify(b, sgverify.NewPolicy(sgverify.WithoutArtifactUnsafe(), sgverify.WithKey()))
	if err != nil {
		return err
	}
	if res.Statement == nil {
		return fmt.Errorf("bundle contains no in-toto Statement")
	}
	subjects := res.Statement.GetSubject()
	if len(subjects) != 1 {
		return &subjectError{msg: fmt.Sprintf("Statement names %d subjects; a release signature must name exactly the image", len(subjects))}
	}
	got := subjects[0].GetDigest()
	if len(got) != 1 || got["sha256"] != img.Digest.Hex {
		return &subjectError{msg: fmt.Sprintf("signed subject %v is not the image digest %s", got, img.Digest)}
	}
	return nil
}

// statementHeader is the part of an in-toto Statement read before the
// signature is verified, only to decide whether the bundle is in scope.
type statementHeader struct {
	Type          string `json:"_type"`
	PredicateType string `json:"predicateType"`
}

func peekStatement(payloadType string, payload []byte) (*statementHeader, error) {
	if payloadType != mediaTypeInToto {
		return nil, fmt.Errorf("DSSE payload type %q is not %s", payloadType, mediaTypeInToto)
	}
	var h statementHeader
	if err := json.Unmarshal(payload, &h); err != nil {
		return nil, fmt.Errorf("DSSE payload is not an in-toto Statement: %v", err)
	}
	return &h, nil
}

func reject(ev *api.ReleaseEvidence, format string, args ...any) {
	ev.Result = resultRejected
	ev.Reason = fmt.Sprintf(format, args...)
}

func ignore(ev *api.ReleaseEvidence, format string, args ...any) {
	ev.Result = resultIgnored
	ev.Reason = fmt.Sprintf(format, args...)
}

// decodeBase64 accepts standard base64 with or without padding.
func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}
