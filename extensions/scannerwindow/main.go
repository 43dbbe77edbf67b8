// Command scannerwindow is a signerd extension that allows a request only
// when the scanner version the caller declares lies inside the range its
// proof of entitlement (PoE) grants, and inside the tenant's own range when
// the config sets one.
//
// Config:
//
//	scanner: trivy              # the declared scanner name must match (optional)
//	versions: ">=0.50.0, <0.70.0"  # the tenant's own range (optional)
//	require_poe: true           # deny without PoE claims (default true)
//	match_predicate_tool: true  # a CycloneDX predicate's tool entry for the
//	                            # scanner must carry the declared version
//
// Ranges use the constraint syntax of github.com/Masterminds/semver/v3, the
// library the daemon uses for the PoE's own check, so both read a range the
// same way.
package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/signerd/signerd/guest"
)

// Config is the extension's policy config.
type Config struct {
	Scanner            string `json:"scanner"`
	Versions           string `json:"versions"`
	RequirePoE         *bool  `json:"require_poe"`
	MatchPredicateTool bool   `json:"match_predicate_tool"`
}

func init() { guest.Handle(check) }

func main() {}

func check(req *guest.Request) guest.Decision {
	var cfg Config
	if err := req.DecodeConfig(&cfg); err != nil {
		return guest.Deny("%v", err)
	}
	if req.Scanner == nil || req.Scanner.Version == "" {
		return guest.Deny("the request declares no scanner version; send scanner.version (signerctl sign --scanner-version)")
	}
	declared, err := semver.StrictNewVersion(strings.TrimPrefix(req.Scanner.Version, "v"))
	if err != nil {
		return guest.Deny("declared scanner version %q is not a semantic version: %v", req.Scanner.Version, err)
	}
	if cfg.Scanner != "" && !strings.EqualFold(cfg.Scanner, req.Scanner.Name) {
		return guest.Deny("declared scanner %q is not %q", req.Scanner.Name, cfg.Scanner)
	}

	requirePoE := cfg.RequirePoE == nil || *cfg.RequirePoE
	switch {
	case req.PoE == nil && requirePoE:
		return guest.Deny("no proof of entitlement, so no scanner version range applies; the tenant requires one")
	case req.PoE != nil:
		if d, ok := inRange("the entitlement's", declared, req.Scanner.Version, req.PoE.ScannerVersions); !ok {
			return d
		}
	}
	if d, ok := inRange("the tenant's", declared, req.Scanner.Version, cfg.Versions); !ok {
		return d
	}

	if cfg.MatchPredicateTool {
		if d, ok := matchTool(req, declared); !ok {
			return d
		}
	}
	return guest.Allow(fmt.Sprintf("scanner version %s is inside the allowed range", req.Scanner.Version))
}

func inRange(whose string, v *semver.Version, raw, constraint string) (guest.Decision, bool) {
	if constraint == "" {
		return guest.Decision{}, true
	}
	c, err := parseConstraint(constraint)
	if err != nil {
		return guest.Deny("%s scanner version range %q is invalid: %v", whose, constraint, err), false
	}
	if ok, errs := c.Validate(v); !ok {
		why := make([]string, len(errs))
		for i, e := range errs {
			why[i] = e.Error()
		}
		return guest.Deny("scanner version %s is outside %s range %q (%s); use a scanner release inside it",
			raw, whose, constraint, strings.Join(why, "; ")), false
	}
	return guest.Decision{}, true
}

// constraints caches parsed ranges by their text. Parsing runs
// Masterminds/semver's regular expressions, the larger part of a check's
// time in WebAssembly, while a tenant's ranges rarely change. The cache is
// cleared when full, so a caller cannot grow it without bound. A parsed
// range is never modified, so a cached one gives the same result.
var constraints = map[string]*semver.Constraints{}

const maxCachedConstraints = 64

func parseConstraint(text string) (*semver.Constraints, error) {
	if c, ok := constraints[text]; ok {
		return c, nil
	}
	c, err := semver.NewConstraint(text)
	if err != nil {
		return nil, err
	}
	if len(constraints) >= maxCachedConstraints {
		clear(constraints)
	}
	constraints[text] = c
	return c, nil
}

// matchTool checks the tool list of a CycloneDX predicate (1.4 list form
// and 1.5+ components form) against the declared scanner.
func matchTool(req *guest.Request, declared *semver.Version) (guest.Decision, bool) {
	if !strings.HasPrefix(req.PredicateType, "https://cyclonedx.org/bom") {
		return guest.Decision{}, true
	}
	if req.PredicateOmitted {
		return guest.Deny("the predicate is too large for this check to read; raise max_predicate_bytes"), false
	}
	var bom struct {
		Metadata struct {
			Tools json.RawMessage `json:"tools"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(req.Predicate, &bom); err != nil {
		return guest.Deny("CycloneDX predicate: %v", err), false
	}
	type tool struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	var tools []tool
	var modern struct {
		Components []tool `json:"components"`
	}
	if err := json.Unmarshal(bom.Metadata.Tools, &tools); err != nil {
		if err := json.Unmarshal(bom.Metadata.Tools, &modern); err == nil {
			tools = modern.Components
		}
	}

	name := req.Scanner.Name
	for _, t := range tools {
		if name != "" && !strings.EqualFold(t.Name, name) {
			continue
		}
		v, err := semver.StrictNewVersion(strings.TrimPrefix(t.Version, "v"))
		if err == nil && v.Equal(declared) {
			return guest.Decision{}, true
		}
		if name != "" {
			return guest.Deny("the SBOM says it was made by %s %q, but the request declares %s", t.Name, t.Version, req.Scanner.Version), false
		}
	}
	if name == "" {
		return guest.Deny("no tool in the SBOM's metadata.tools has the declared version %s", req.Scanner.Version), false
	}
	return guest.Deny("the SBOM's metadata.tools does not list scanner %q", name), false
}
