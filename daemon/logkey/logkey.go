// Package logkey names the structured log fields that every signerd
// package uses, so that logs and journald fields can be searched by one
// name. The names are stable: dashboards and alerts depend on them.
package logkey

// Field names.
const (
	CorrelationID = "correlation_id"
	RecordID      = "record_id"
	Method        = "method"
	Path          = "path"
	Status        = "status"
	Outcome       = "outcome"
	Code          = "code"
	DurationMS    = "duration_ms"
	Error         = "error"

	CallerPID    = "caller_pid"
	CallerUID    = "caller_uid"
	CallerGID    = "caller_gid"
	CallerExe    = "caller_exe"
	CallerUnit   = "caller_unit"
	CallerCgroup = "caller_cgroup"

	// Caller identity beyond uid and gid: supplementary groups, the
	// running image's SHA-256 and whether it was deleted on disk, the
	// container id from the cgroup, and the liveness check used
	// ("pidfd" or "starttime").
	CallerGroups     = "caller_groups"
	CallerExeSHA256  = "caller_exe_sha256"
	CallerExeDeleted = "caller_exe_deleted"
	CallerContainer  = "caller_container"
	CallerLiveness   = "caller_liveness"

	// Reason is why a caller was denied.
	Reason = "reason"

	Tenant = "tenant"

	TokenSubject  = "token_subject"
	TokenBound    = "token_bound"
	PoEPlan       = "poe_plan"
	WallClock     = "wall_clock"
	HighWaterMark = "high_water_mark"

	PredicateType  = "predicate_type"
	SubjectDigests = "subject_digests"
	KeyURI         = "key_uri"
	KeyHint        = "key_hint"
	Socket         = "socket"
	Config         = "config"

	// Connect guard fields.
	GuardCgroup = "guard_cgroup"
	GuardPinDir = "guard_pin_dir"

	// Audit trail fields.
	AuditDir  = "audit_dir"
	AuditFile = "audit_file"
	AuditSeq  = "audit_seq"

	// Release integrity fields.
	ReleaseImage         = "release_image"
	ReleaseVerdict       = "release_verdict"
	ReleaseReason        = "release_reason"
	ReleaseSignerKey     = "release_signer_key"
	ReleaseSignatureKind = "release_signature_kind"
	ReleaseDiscovery     = "release_discovery"
	ReleaseCached        = "release_cached"
	ReleaseEvidence      = "release_evidence"

	// Extension names a tenant's WASM extension and ExtensionSHA256 its
	// module digest. File is a file the message is about, and Line one
	// line an extension logged.
	Extension       = "extension"
	ExtensionSHA256 = "extension_sha256"
	File            = "file"
	Line            = "line"
)

// Outcomes of a request.
const (
	OutcomeAllowed = "allowed"
	OutcomeDenied  = "denied"
	OutcomeError   = "error"

	// OutcomeChallenge is a request that got a DPoP nonce to retry with,
	// which is part of the protocol, not a denial.
	OutcomeChallenge = "challenge"
)
