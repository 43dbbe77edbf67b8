// Package guest is the Go SDK for signerd extensions: tenant checks that
// the daemon runs as sandboxed WebAssembly modules before it signs.
//
// An extension author writes one function from a typed Request to a
// Decision and registers it with Handle in an init function:
//
//	package main
//
//	import "github.com/signerd/signerd/guest"
//
//	func init() { guest.Handle(check) }
//
//	func check(req *guest.Request) guest.Decision {
//		if req.Tenant != "team-a" {
//			return guest.Deny("tenant %q is not team-a", req.Tenant)
//		}
//		return guest.Allow()
//	}
//
//	func main() {}
//
// and builds a reactor module:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o check.wasm .
//
// The package hides the ABI (exports, memory and JSON framing). Off wasip1
// it builds without the exports, so the check function can be tested with
// go test like any other Go code. The sandbox gives the module no files,
// no network, fixed clocks and a fixed random source: use RequestTime, not
// time.Now, and expect the same answer for the same request.
package guest

import (
	"encoding/json"
	"fmt"
	"time"
)

// ABIVersion is the extension ABI this SDK implements.
const ABIVersion = 1

// Request is a sign request with its context, as the daemon passes it to
// the module.
type Request struct {
	ABIVersion int    `json:"abiVersion"`
	Tenant     string `json:"tenant"`
	Caller     Caller `json:"caller"`

	PredicateType string    `json:"predicateType"`
	Subjects      []Subject `json:"subjects"`

	// PredicateSHA256 is the hex SHA-256 of the canonical predicate.
	PredicateSHA256 string `json:"predicateSha256"`

	// Predicate is the predicate JSON, absent (and PredicateOmitted true)
	// when it is larger than the policy's max_predicate_bytes.
	Predicate        json.RawMessage `json:"predicate,omitempty"`
	PredicateOmitted bool            `json:"predicateOmitted,omitempty"`

	// Scanner is the caller's own, unverified declaration.
	Scanner *Scanner `json:"scanner,omitempty"`

	// PoE holds the verified claims of the caller's proof of entitlement,
	// nil when the tenant uses none.
	PoE *PoE `json:"poe"`

	// RequestTime is when the daemon accepted the request. The module's
	// own clock is fixed, so use this instead of time.Now.
	RequestTime time.Time `json:"requestTime"`

	// Config is the extension's config object from the daemon's policy.
	Config json.RawMessage `json:"config"`
}

// DecodeConfig decodes the policy's config object into v, refusing fields
// v does not have so that a misspelt setting is an error, not a default.
// The config is the same on every request until the policy changes, so
// when v points to a zero value of a plain struct, DecodeConfig decodes it
// once and afterwards gives v a copy of that result.
func (r *Request) DecodeConfig(v any) error {
	if len(r.Config) == 0 || string(r.Config) == "null" {
		return nil
	}
	return decodeConfigCached(r.Config, v)
}

// Caller is the calling process as the kernel reported it.
type Caller struct {
	PID              int32    `json:"pid"`
	UID              uint32   `json:"uid"`
	GID              uint32   `json:"gid"`
	Groups           []uint32 `json:"groups,omitempty"`
	Executable       string   `json:"executable,omitempty"`
	ExecutableSHA256 string   `json:"executableSha256,omitempty"`
	Cgroup           string   `json:"cgroup,omitempty"`
	SystemdUnit      string   `json:"systemdUnit,omitempty"`
	ContainerID      string   `json:"containerId,omitempty"`
}

// Subject is one artifact the attestation is about.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// Scanner is the tool the caller says produced the predicate.
type Scanner struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	Image   string `json:"image,omitempty"`
}

// PoE are the verified claims of the caller's proof of entitlement.
type PoE struct {
	Issuer    string     `json:"iss"`
	Subject   string     `json:"sub,omitempty"`
	Tenant    string     `json:"tenant"`
	Plan      string     `json:"plan,omitempty"`
	ExpiresAt *time.Time `json:"exp,omitempty"`

	// ScannerVersions is the semantic version range the entitlement
	// covers, in github.com/Masterminds/semver/v3 constraint syntax such as
	// ">=0.50.0, <0.60.0"; empty allows any version.
	ScannerVersions string `json:"scannerVersions,omitempty"`
}

// Decision is the module's reply. The daemon signs only when every
// extension of the tenant allows.
type Decision struct {
	Allow   bool     `json:"allow"`
	Reasons []string `json:"reasons"`
}

// Allow returns an allowing decision with optional notes.
func Allow(reasons ...string) Decision {
	if reasons == nil {
		reasons = []string{}
	}
	return Decision{Allow: true, Reasons: reasons}
}

// Deny returns a denying decision. The reason reaches the caller and the
// daemon's log, so it should name what was wrong and what to do.
func Deny(format string, args ...any) Decision {
	return Decision{Allow: false, Reasons: []string{fmt.Sprintf(format, args...)}}
}

// DenyAll returns a denying decision with several reasons.
func DenyAll(reasons []string) Decision {
	return Decision{Allow: false, Reasons: reasons}
}

var handler func(*Request) Decision

// Handle registers the module's check. Call it once, from init.
func Handle(f func(*Request) Decision) { handler = f }

// Run decodes a request, runs the registered check and encodes the reply.
// The exported signer_check calls it; tests may call it to exercise the
// same framing. A request that does not decode is denied.
func Run(input []byte) []byte {
	var d Decision
	var req Request
	switch {
	case handler == nil:
		d = Deny("the extension registered no check; call guest.Handle in init")
	default:
		if err := decodeRequest(input, &req); err != nil {
			d = Deny("extension cannot decode the request: %v", err)
		} else if req.ABIVersion != ABIVersion {
			d = Deny("extension speaks ABI %d, the daemon sent ABI %d", ABIVersion, req.ABIVersion)
		} else {
			d = handler(&req)
		}
	}
	return encodeDecision(d)
}
