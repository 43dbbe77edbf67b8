package extension

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/statement"
)

// ABIVersion is the only ABI version the host runs.
const ABIVersion = 1

// Names of the ABI's exports and of the optional log import.
const (
	ExportInitialize = "_initialize"
	ExportVersion    = "signer_abi_version"
	ExportAlloc      = "signer_alloc"
	ExportCheck      = "signer_check"
	ExportStart      = "_start"

	// HostModule is the import module of the host's own functions.
	HostModule = "signer"
	// HostLog is signer.log(ptr, len i32): one line for the daemon's log.
	HostLog = "log"
)

// Input is the JSON document a module's signer_check receives.
type Input struct {
	// ABIVersion is always ABIVersion.
	ABIVersion int `json:"abiVersion"`

	Tenant string     `json:"tenant"`
	Caller api.Caller `json:"caller"`

	PredicateType string        `json:"predicateType"`
	Subjects      []api.Subject `json:"subjects"`

	// PredicateSHA256 is the hex SHA-256 of the canonical predicate.
	PredicateSHA256 string `json:"predicateSha256"`

	// Predicate is the canonical predicate when it fits the extension's
	// max_predicate_bytes; otherwise it is absent and PredicateOmitted is
	// true.
	Predicate        json.RawMessage `json:"predicate,omitempty"`
	PredicateOmitted bool            `json:"predicateOmitted,omitempty"`

	// Scanner is the caller's own declaration, unverified.
	Scanner *api.Scanner `json:"scanner,omitempty"`

	// PoE holds the verified claims of the caller's proof of entitlement,
	// or null when the tenant does not use one.
	PoE *PoEClaims `json:"poe"`

	// RequestTime is when the daemon accepted the request (RFC 3339, UTC).
	// The guest's own clocks are fixed, so this is the time to use.
	RequestTime time.Time `json:"requestTime"`

	// Config is the extension's config object from the policy.
	Config json.RawMessage `json:"config"`
}

// PoEClaims are the claims of a verified proof of entitlement that a
// check may rely on.
type PoEClaims struct {
	Issuer    string     `json:"iss"`
	Subject   string     `json:"sub,omitempty"`
	Tenant    string     `json:"tenant"`
	Plan      string     `json:"plan,omitempty"`
	ExpiresAt *time.Time `json:"exp,omitempty"`

	// ScannerVersions is the semantic version range the entitlement
	// covers, such as ">=0.50.0, <0.60.0"; empty allows any version.
	ScannerVersions string `json:"scannerVersions,omitempty"`
}

// Decision is a module's reply.
type Decision struct {
	Allow   bool     `json:"allow"`
	Reasons []string `json:"reasons"`
}

// SHA256Hex returns the hex SHA-256 of b.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// VerifyPin checks that wasm has the SHA-256 the policy pinned.
func VerifyPin(wasm []byte, pinned string) error {
	got := SHA256Hex(wasm)
	if !strings.EqualFold(got, pinned) {
		return fmt.Errorf("module SHA-256 %s does not match the pinned %s; rebuild from the reviewed source or update the pin", got, pinned)
	}
	return nil
}

// Request is the daemon's view of a sign request when the extensions
// run.
type Request struct {
	Tenant    string
	Caller    api.Caller
	Statement *statement.Statement
	Scanner   *api.Scanner
	PoE       *PoEClaims
	Time      time.Time
}

// NewInput builds the input of one extension: the predicate goes in only
// when it is at most maxPredicate bytes.
func NewInput(r *Request, config json.RawMessage, maxPredicate int) Input {
	sum := sha256.Sum256(r.Statement.Predicate)
	in := Input{
		ABIVersion:      ABIVersion,
		Tenant:          r.Tenant,
		Caller:          r.Caller,
		PredicateType:   r.Statement.PredicateType,
		Subjects:        r.Statement.Subjects,
		PredicateSHA256: hex.EncodeToString(sum[:]),
		Predicate:       r.Statement.Predicate,
		Scanner:         r.Scanner,
		PoE:             r.PoE,
		RequestTime:     r.Time.UTC().Truncate(time.Millisecond),
		Config:          config,
	}
	if len(in.Config) == 0 {
		in.Config = json.RawMessage("{}")
	}
	if len(r.Statement.Predicate) > maxPredicate {
		in.Predicate, in.PredicateOmitted = nil, true
	}
	return in
}
