package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// FormatVersion is the record format this package writes and verifies.
const FormatVersion = 1

// Outcomes of a decision.
const (
	OutcomeAllowed = "allowed"
	OutcomeDenied  = "denied"
	OutcomeError   = "error"
)

// ZeroHash is the prev of the first record of a chain: 64 zeros.
var ZeroHash = hex.EncodeToString(make([]byte, sha256.Size))

// hashSuffixLen is the length of the last member of every line,
// `,"hash":"<64 hex>"}`.
const hashSuffixLen = len(`,"hash":"`) + 2*sha256.Size + len(`"}`)

// MaxReasonBytes bounds the error message kept in a record, so a caller
// cannot make records arbitrarily large.
const MaxReasonBytes = 1024

// MaxSubjects bounds the subject digests kept in a record.
const MaxSubjects = 1024

// Record is one decision about one sign request. The pipeline fills the
// request fields; Append sets Version, Seq, ID, Time, Prev and Hash. Stages
// that did not run leave their fields empty.
type Record struct {
	Version int    `json:"v"`
	Seq     uint64 `json:"seq"`

	// ID names the record in the sign response. It is Seq in decimal.
	ID string `json:"id"`

	// Time is when the record was sequenced, RFC 3339 in UTC.
	Time string `json:"time"`

	CorrelationID string  `json:"correlationId,omitempty"`
	Caller        *Caller `json:"caller,omitempty"`
	Tenant        string  `json:"tenant,omitempty"`

	Request *Request `json:"request,omitempty"`

	// Release is the verdict of the scanner release check.
	Release *Verdict `json:"release,omitempty"`

	// Extensions are the verdicts of the tenant's extensions, in order.
	Extensions []ExtensionVerdict `json:"extensions,omitempty"`

	// KeyHint is the Sigstore key hint of the signing key, and KeyID the
	// backend's name for it (its URI without secrets).
	KeyHint string `json:"keyHint,omitempty"`
	KeyID   string `json:"keyId,omitempty"`

	// BundleSHA256 is the hex SHA-256 of the bundle returned to the
	// caller, so a bundle can be matched to its record.
	BundleSHA256 string `json:"bundleSha256,omitempty"`

	// Outcome is allowed, denied or error; Code is the API error code and
	// Reason its message when the request failed.
	Outcome string `json:"outcome"`
	Code    string `json:"code,omitempty"`
	Reason  string `json:"reason,omitempty"`

	// Prev is the hex hash of the record before this one, ZeroHash for
	// the first record of the chain.
	Prev string `json:"prev"`

	// Hash is the hex SHA-256 of this record's line without its hash
	// member; see Encode.
	Hash string `json:"hash,omitempty"`
}

// Caller is the kernel identity of the caller.
type Caller struct {
	PID int32  `json:"pid"`
	UID uint32 `json:"uid"`
	GID uint32 `json:"gid"`

	Executable       string `json:"exe,omitempty"`
	ExecutableSHA256 string `json:"exeSha256,omitempty"`
	SystemdUnit      string `json:"unit,omitempty"`
	ContainerID      string `json:"containerId,omitempty"`
}

// Request holds digests of what the caller asked to sign, never the
// predicate itself.
type Request struct {
	// Subjects are the subjects' digests as "sha256:HEX".
	Subjects []string `json:"subjects,omitempty"`

	// SubjectsOmitted counts subjects beyond MaxSubjects.
	SubjectsOmitted int `json:"subjectsOmitted,omitempty"`

	PredicateType string `json:"predicateType,omitempty"`

	// PredicateSHA256 is the hex SHA-256 of the predicate bytes exactly
	// as the caller sent them.
	PredicateSHA256 string `json:"predicateSha256,omitempty"`

	// Scanner is the scanner the caller declared, unchecked.
	Scanner *Scanner `json:"scanner,omitempty"`
}

// Scanner is the caller's declaration of the tool that made the
// predicate.
type Scanner struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	Image   string `json:"image,omitempty"`
}

// Verdict is the result of one check.
type Verdict struct {
	// Result is allow, deny or error.
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// ExtensionVerdict is one extension's verdict.
type ExtensionVerdict struct {
	Name string `json:"name"`
	Verdict
}

// Encode returns the record's line, with its trailing newline, and sets
// rec.Hash. The canonical bytes that are hashed are the output of
// encoding/json for rec with Hash empty, a JSON object whose last member
// is "prev". The line is those bytes with their closing brace replaced by
// `,"hash":"HEX"}`. A verifier therefore never re-encodes a record: it
// removes the last member of the stored line, closes the object, and
// hashes the result.
func Encode(rec *Record) ([]byte, error) {
	return AppendLine(nil, rec), nil
}

// Decode parses one line (without its newline), checks that its hash
// matches its content, and returns the record.
func Decode(line []byte) (*Record, error) {
	if len(line) < hashSuffixLen+2 || !bytes.HasPrefix(line[len(line)-hashSuffixLen:], []byte(`,"hash":"`)) ||
		!bytes.HasSuffix(line, []byte(`"}`)) {
		return nil, errors.New(`line does not end with a "hash" member`)
	}
	stored := string(line[len(line)-hashSuffixLen+len(`,"hash":"`) : len(line)-2])

	body := make([]byte, 0, len(line)-hashSuffixLen+1)
	body = append(body, line[:len(line)-hashSuffixLen]...)
	body = append(body, '}')
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); got != stored {
		return nil, fmt.Errorf("record hash is %s but its content hashes to %s; the record was changed", stored, got)
	}

	var rec Record
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return nil, fmt.Errorf("record is not valid JSON: %w", err)
	}
	if rec.Hash != stored {
		return nil, errors.New(`record has more than one "hash" member`)
	}
	if rec.Version != FormatVersion {
		return nil, fmt.Errorf("record format version %d is not supported (want %d)", rec.Version, FormatVersion)
	}
	if len(rec.Prev) != 2*sha256.Size {
		return nil, fmt.Errorf("record prev %q is not a hex SHA-256", rec.Prev)
	}
	return &rec, nil
}

// TruncateReason shortens an error message to MaxReasonBytes.
func TruncateReason(s string) string {
	if len(s) <= MaxReasonBytes {
		return s
	}
	return s[:MaxReasonBytes] + "..."
}
