// Command scannerwindow is a signerd extension that allows a request only
// when the scanner version the caller declares lies inside the window its
// proof of entitlement (PoE) grants, and inside the tenant's own window
// when the config sets one.
//
// Config:
//
//	scanner: trivy            # the declared scanner name must match (optional)
//	min: 0.50.0               # tenant's own bounds, inclusive (optional)
//	max: 0.99.99
//	require_poe: true         # deny without PoE claims (default true)
//	match_predicate_tool: true  # a CycloneDX predicate's tool entry for the
//	                          # scanner must carry the declared version
//
// Versions are semantic versions (an optional leading "v"); a pre-release
// sorts before its release.
package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/signerd/signerd/guest"
)

// Config is the extension's policy config.
type Config struct {
	Scanner            string `json:"scanner"`
	Min                string `json:"min"`
	Max                string `json:"max"`
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
		return guest.Deny("the request declares no scanner version; send scanner.name and scanner.version")
	}
	declared, err := parseVersion(req.Scanner.Version)
	if err != nil {
		return guest.Deny("declared scanner version %q: %v", req.Scanner.Version, err)
	}
	if cfg.Scanner != "" && !strings.EqualFold(cfg.Scanner, req.Scanner.Name) {
		return guest.Deny("declared scanner %q is not %q", req.Scanner.Name, cfg.Scanner)
	}

	requirePoE := cfg.RequirePoE == nil || *cfg.RequirePoE
	if req.PoE == nil {
		if requirePoE {
			return guest.Deny("no proof of entitlement, so no scanner version window applies; the tenant requires one")
		}
	} else {
		if req.PoE.Scanner != "" && !strings.EqualFold(req.PoE.Scanner, req.Scanner.Name) {
			return guest.Deny("the entitlement covers scanner %q, not the declared %q", req.PoE.Scanner, req.Scanner.Name)
		}
		if d, ok := inWindow("the entitlement's", declared, req.Scanner.Version, req.PoE.ScannerVersionMin, req.PoE.ScannerVersionMax); !ok {
			return d
		}
	}
	if d, ok := inWindow("the tenant's", declared, req.Scanner.Version, cfg.Min, cfg.Max); !ok {
		return d
	}

	if cfg.MatchPredicateTool {
		if d, ok := matchTool(req, declared); !ok {
			return d
		}
	}
	return guest.Allow(fmt.Sprintf("scanner %s %s is inside the allowed window", req.Scanner.Name, req.Scanner.Version))
}

func inWindow(whose string, v version, raw, min, max string) (guest.Decision, bool) {
	if min != "" {
		lo, err := parseVersion(min)
		if err != nil {
			return guest.Deny("%s minimum scanner version %q: %v", whose, min, err), false
		}
		if v.compare(lo) < 0 {
			return guest.Deny("scanner version %s is older than %s minimum %s; upgrade the scanner", raw, whose, min), false
		}
	}
	if max != "" {
		hi, err := parseVersion(max)
		if err != nil {
			return guest.Deny("%s maximum scanner version %q: %v", whose, max, err), false
		}
		if v.compare(hi) > 0 {
			return guest.Deny("scanner version %s is newer than %s maximum %s; renew the entitlement or pin the scanner", raw, whose, max), false
		}
	}
	return guest.Decision{}, true
}

// matchTool checks the tool list of a CycloneDX predicate (1.4 list form
// and 1.5+ components form) against the declared scanner.
func matchTool(req *guest.Request, declared version) (guest.Decision, bool) {
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
	for _, t := range tools {
		if !strings.EqualFold(t.Name, req.Scanner.Name) {
			continue
		}
		v, err := parseVersion(t.Version)
		if err != nil || v.compare(declared) != 0 {
			return guest.Deny("the SBOM says it was made by %s %q, but the request declares %s", t.Name, t.Version, req.Scanner.Version), false
		}
		return guest.Decision{}, true
	}
	return guest.Deny("the SBOM's metadata.tools does not list scanner %q", req.Scanner.Name), false
}

// version is a parsed semantic version.
type version struct {
	nums [3]uint64
	pre  []string
}

func parseVersion(s string) (version, error) {
	var v version
	core := strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(core, '+'); i >= 0 {
		core = core[:i]
	}
	if i := strings.IndexByte(core, '-'); i >= 0 {
		v.pre = strings.Split(core[i+1:], ".")
		core = core[:i]
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("not a semantic version (want MAJOR.MINOR.PATCH)")
	}
	for i, p := range parts {
		if p == "" || len(p) > 9 {
			return v, fmt.Errorf("not a semantic version")
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return v, fmt.Errorf("not a semantic version")
			}
			v.nums[i] = v.nums[i]*10 + uint64(c-'0')
		}
	}
	return v, nil
}

func (a version) compare(b version) int {
	for i := range a.nums {
		if a.nums[i] != b.nums[i] {
			if a.nums[i] < b.nums[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a.pre) == 0 && len(b.pre) == 0:
		return 0
	case len(a.pre) == 0:
		return 1
	case len(b.pre) == 0:
		return -1
	}
	for i := 0; i < len(a.pre) && i < len(b.pre); i++ {
		if c := comparePre(a.pre[i], b.pre[i]); c != 0 {
			return c
		}
	}
	return compareInt(len(a.pre), len(b.pre))
}

func comparePre(a, b string) int {
	an, aok := numeric(a)
	bn, bok := numeric(b)
	switch {
	case aok && bok:
		return compareInt(an, bn)
	case aok:
		return -1
	case bok:
		return 1
	}
	return strings.Compare(a, b)
}

func numeric(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func compareInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
