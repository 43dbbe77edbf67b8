// Package api defines the JSON wire format of signerd's Unix socket: the
// request and response bodies, the error envelope and its stable codes.
//
// The daemon and the Go client both import this package, so a field or code
// changes in one place. Error codes are part of the public contract: scripts
// match on them, so a code is never renamed once released.
package api

import "encoding/json"

// Host is the only non-empty Host header the daemon accepts. Browsers never
// send it for a page on another origin, which blocks DNS-rebinding and
// cross-site requests that reach the socket through a local proxy.
const Host = "signer.localhost"

// Paths of the caller socket.
const (
	PathSignDSSE = "/v1/sign/dsse"
	PathKeys     = "/v1/keys"
	PathWhoAmI   = "/v1/whoami"
	PathHealthz  = "/v1/healthz"
)

// Media types used in requests and responses.
const (
	MediaTypeJSON     = "application/json"
	MediaTypeInToto   = "application/vnd.in-toto+json"
	MediaTypeBundle03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
	StatementTypeV1   = "https://in-toto.io/Statement/v1"

	// StatementTypePrefix starts the _type of every in-toto Statement
	// version (v0.1 and v1).
	StatementTypePrefix = "https://in-toto.io/Statement/"
)

// HeaderCorrelationID carries the correlation id of a request in both
// directions.
const HeaderCorrelationID = "X-Correlation-ID"

// Subject is one artifact that the attestation is about.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// SignRequest is the body of POST /v1/sign/dsse. The daemon builds the
// in-toto Statement from it. Callers never send a Statement of their own,
// so no field reaches the signature without validation.
type SignRequest struct {
	Subjects      []Subject       `json:"subjects"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`

	// Scanner describes the tool that produced the predicate, as the
	// caller declares it. Policies that check scanner versions or release
	// signatures require it; the daemon never trusts it without such a
	// check.
	Scanner *Scanner `json:"scanner,omitempty"`
}

// Scanner is the caller's declaration of the tool that made the predicate.
type Scanner struct {
	// Name is the scanner's name, for example "trivy".
	Name string `json:"name,omitempty"`

	// Version is the scanner's semantic version, for example "0.58.1".
	Version string `json:"version,omitempty"`

	// Image is the scanner's container image by digest,
	// REGISTRY/REPOSITORY@sha256:HEX.
	Image string `json:"image,omitempty"`
}

// SignResponse is the body of a successful POST /v1/sign/dsse.
type SignResponse struct {
	// Bundle is a Sigstore bundle v0.3 holding the DSSE envelope.
	Bundle json.RawMessage `json:"bundle"`

	// KeyHint is the standard base64 SHA-256 of the DER public key, as in
	// the bundle's verificationMaterial.publicKey.hint.
	KeyHint string `json:"keyHint"`

	// RecordID names the audit record of this signature.
	RecordID string `json:"recordId"`

	CorrelationID string `json:"correlationId"`

	// SignedAt is the daemon's clock at signing, RFC 3339 in UTC.
	SignedAt string `json:"signedAt"`

	// Release is the scanner image's release verdict, set when the
	// tenant requires release integrity.
	Release *ReleaseVerdict `json:"release,omitempty"`
}

// KeyResponse is the body of GET /v1/keys.
type KeyResponse struct {
	// PublicKeyPEM is the PKIX public key in PEM form.
	PublicKeyPEM string `json:"publicKeyPem"`
	KeyHint      string `json:"keyHint"`

	// Algorithm is one of "ecdsa-p256-sha256" or "ed25519".
	Algorithm string `json:"algorithm"`

	// URI names the key backend and key, without any secret.
	URI string `json:"uri"`
}

// Caller is the caller of a request as the daemon sees it: the snapshot
// taken from the kernel when the connection was accepted.
type Caller struct {
	PID    int32    `json:"pid"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`

	// StartTime is the process start time in clock ticks since boot.
	StartTime uint64 `json:"startTime,omitempty"`

	Executable       string `json:"executable,omitempty"`
	ExecutableDevice uint64 `json:"executableDevice,omitempty"`
	ExecutableInode  uint64 `json:"executableInode,omitempty"`
	ExecutableSize   int64  `json:"executableSize,omitempty"`
	ExecutableSHA256 string `json:"executableSha256,omitempty"`
	// ExecutableHashCached is true when the SHA-256 came from the daemon's
	// cache rather than a new read of the image.
	ExecutableHashCached bool `json:"executableHashCached,omitempty"`
	// ExecutableHashSkipped is the reason ExecutableSHA256 is empty.
	ExecutableHashSkipped string `json:"executableHashSkipped,omitempty"`
	// ExecutableDeleted is true when the running image was unlinked or
	// replaced on disk after the process started.
	ExecutableDeleted bool `json:"executableDeleted,omitempty"`
	// ExecutableUnavailable is the reason the daemon could not read the
	// executable. No executable selector matches such a caller.
	ExecutableUnavailable string `json:"executableUnavailable,omitempty"`

	Cgroup        string `json:"cgroup,omitempty"`
	CgroupVersion int    `json:"cgroupVersion,omitempty"`
	// CgroupOutsideNamespace is true when the caller's cgroup lies outside
	// the daemon's cgroup namespace, so no policy selects it by cgroup.
	CgroupOutsideNamespace bool   `json:"cgroupOutsideNamespace,omitempty"`
	SystemdUnit            string `json:"systemdUnit,omitempty"`
	SystemdUserUnit        string `json:"systemdUserUnit,omitempty"`
	ContainerID            string `json:"containerId,omitempty"`
	ContainerRuntime       string `json:"containerRuntime,omitempty"`
	PodUID                 string `json:"podUid,omitempty"`

	// PIDFD is true when the kernel provided a pidfd (SO_PEERPIDFD), so the
	// liveness check could not be fooled by PID reuse.
	PIDFD bool `json:"pidfd"`
}

// WhoAmIResponse is the body of GET /v1/whoami.
type WhoAmIResponse struct {
	Caller Caller `json:"caller"`

	// Tenant is the tenant the caller maps to, empty when none matched.
	Tenant string `json:"tenant,omitempty"`

	// Reason explains why no tenant matched. It is empty when one did.
	Reason string `json:"reason,omitempty"`

	// PredicateTypes lists what the tenant may sign.
	PredicateTypes []string `json:"predicateTypes,omitempty"`
}

// HealthResponse is the body of GET /v1/healthz.
type HealthResponse struct {
	// Status is "ok" or "degraded".
	Status string `json:"status"`

	// Checks maps a component to "ok" or to the reason it is failing.
	Checks map[string]string `json:"checks"`
}

// PathVerifyReferrers is GET /v1/verify/referrers?image=REF: the release
// verdict of a scanner image under the caller's tenant policy.
const PathVerifyReferrers = "/v1/verify/referrers"

// Release verdicts. Only ReleaseVerified lets a sign request go on.
const (
	ReleaseVerified    = "verified"
	ReleaseUnsigned    = "unsigned"
	ReleaseInvalid     = "invalid"
	ReleaseAmbiguous   = "ambiguous"
	ReleaseUnreachable = "unreachable"
)

// ReleaseVerdict is the outcome of checking a scanner image's release
// signatures, with the evidence it rests on.
type ReleaseVerdict struct {
	// Image is the image reference that was checked,
	// REGISTRY/REPOSITORY@sha256:HEX.
	Image string `json:"image"`

	// Verdict is one of verified, unsigned, invalid, ambiguous or
	// unreachable.
	Verdict string `json:"verdict"`

	// Reason explains the verdict in one sentence.
	Reason string `json:"reason"`

	// SignerKeyID is the base64 SHA-256 of the DER public key that
	// verified the release, set only with verified.
	SignerKeyID string `json:"signerKeyId,omitempty"`

	// SignatureKind is the kind of the accepted signature, set only with
	// verified: sigstore-bundle, sigstore-attestation or cosign-legacy.
	SignatureKind string `json:"signatureKind,omitempty"`

	// Discovery names how the signatures were found: referrers-api,
	// referrers-tag, legacy-sig-tag or oci-layout, joined by "+" when
	// several found some.
	Discovery string `json:"discovery,omitempty"`

	// Cached is true when the verdict came from the daemon's cache.
	Cached bool `json:"cached"`

	// CheckedAt is when the registry was read, RFC 3339 in UTC.
	CheckedAt string `json:"checkedAt"`

	// Evidence lists every signature artifact that was examined.
	Evidence []ReleaseEvidence `json:"evidence,omitempty"`
}

// ReleaseEvidence is one examined signature artifact and what came of it.
type ReleaseEvidence struct {
	// Source is the lookup that found the artifact: referrers-api,
	// referrers-tag, legacy-sig-tag or oci-layout.
	Source string `json:"source"`

	// Manifest is the digest of the artifact's manifest.
	Manifest string `json:"manifest,omitempty"`

	// Kind is sigstore-bundle, sigstore-attestation or cosign-legacy.
	Kind string `json:"kind,omitempty"`

	// PredicateType is the in-toto predicate type of a DSSE bundle.
	PredicateType string `json:"predicateType,omitempty"`

	// KeyID is the trusted key that verified the artifact, if one did.
	KeyID string `json:"keyId,omitempty"`

	// Result is accepted, rejected or ignored.
	Result string `json:"result"`

	// Reason explains the result.
	Reason string `json:"reason"`
}
