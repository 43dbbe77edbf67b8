// Command sbomgate is a signerd extension that allows an SBOM predicate
// only when it is complete enough to be useful: it lists components, and
// enough of them carry a version and a package URL (purl).
//
// It reads CycloneDX JSON (predicate type https://cyclonedx.org/bom and
// versioned forms) and SPDX 2.x JSON (https://spdx.dev/Document...).
//
// Config (all optional):
//
//	min_components: 1       # fewer components is a deny
//	max_components: 50000   # more is a deny (a runaway or padded SBOM)
//	min_coverage: 1.0       # share of components that need version and purl
//	component_types: [library, framework]  # CycloneDX types counted
//	other_predicates: allow # allow or deny predicates that are not SBOMs
package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/signerd/signerd/guest"
)

// Config is the extension's policy config.
type Config struct {
	MinComponents   *int     `json:"min_components"`
	MaxComponents   *int     `json:"max_components"`
	MinCoverage     *float64 `json:"min_coverage"`
	ComponentTypes  []string `json:"component_types"`
	OtherPredicates string   `json:"other_predicates"`
}

func init() { guest.Handle(check) }

func main() {}

// component is what the gate needs of one SBOM entry.
type component struct {
	name, version, purl string
}

// maxListedProblems caps the components named in a denial.
const maxListedProblems = 5

func check(req *guest.Request) guest.Decision {
	cfg := Config{}
	if err := req.DecodeConfig(&cfg); err != nil {
		return guest.Deny("%v", err)
	}
	minN, maxN, cov := intOr(cfg.MinComponents, 1), intOr(cfg.MaxComponents, 50000), 1.0
	if cfg.MinCoverage != nil {
		cov = *cfg.MinCoverage
	}
	if cov < 0 || cov > 1 || minN < 0 || maxN < minN {
		return guest.Deny("sbomgate config is inconsistent: need 0 <= min_coverage <= 1 and 0 <= min_components <= max_components")
	}
	types := cfg.ComponentTypes
	if len(types) == 0 {
		types = []string{"library", "framework"}
	}

	var comps []component
	var err error
	switch {
	case strings.HasPrefix(req.PredicateType, "https://cyclonedx.org/bom"):
		if req.PredicateOmitted {
			return tooLarge()
		}
		comps, err = cyclonedx(req.Predicate, types)
	case strings.HasPrefix(req.PredicateType, "https://spdx.dev/Document"):
		if req.PredicateOmitted {
			return tooLarge()
		}
		comps, err = spdx(req.Predicate)
	default:
		if cfg.OtherPredicates == "deny" {
			return guest.Deny("predicate type %q is not an SBOM this gate reads (CycloneDX or SPDX JSON)", req.PredicateType)
		}
		return guest.Allow("not an SBOM; gate does not apply")
	}
	if err != nil {
		return guest.Deny("%v", err)
	}

	if len(comps) < minN {
		return guest.Deny("SBOM lists %d component(s); the tenant requires at least %d", len(comps), minN)
	}
	if len(comps) > maxN {
		return guest.Deny("SBOM lists %d components; the tenant allows at most %d", len(comps), maxN)
	}
	var bad []string
	complete := 0
	for _, c := range comps {
		var missing []string
		if c.version == "" {
			missing = append(missing, "version")
		}
		if !strings.HasPrefix(c.purl, "pkg:") {
			missing = append(missing, "purl")
		}
		if len(missing) == 0 {
			complete++
			continue
		}
		if len(bad) < maxListedProblems {
			bad = append(bad, fmt.Sprintf("%s lacks %s", c.name, strings.Join(missing, " and ")))
		}
	}
	share := 1.0
	if len(comps) > 0 {
		share = float64(complete) / float64(len(comps))
	}
	if share < cov {
		return guest.DenyAll(append([]string{fmt.Sprintf("%d of %d components have a version and a purl; the tenant requires %.0f%%",
			complete, len(comps), cov*100)}, bad...))
	}
	return guest.Allow(fmt.Sprintf("%d of %d components have a version and a purl", complete, len(comps)))
}

func tooLarge() guest.Decision {
	return guest.Deny("the SBOM is larger than the extension's max_predicate_bytes, so the gate cannot read it; raise the limit")
}

func intOr(p *int, d int) int {
	if p == nil {
		return d
	}
	return *p
}

type cdxComponent struct {
	Type       string         `json:"type"`
	Name       string         `json:"name"`
	Group      string         `json:"group"`
	Version    string         `json:"version"`
	Purl       string         `json:"purl"`
	Components []cdxComponent `json:"components"`
}

// maxDepth bounds how deep nested components are followed.
const maxDepth = 32

func cyclonedx(pred json.RawMessage, types []string) ([]component, error) {
	var bom struct {
		BOMFormat  string         `json:"bomFormat"`
		Components []cdxComponent `json:"components"`
	}
	if err := json.Unmarshal(pred, &bom); err != nil {
		return nil, fmt.Errorf("CycloneDX predicate is not valid JSON: %v", err)
	}
	if bom.BOMFormat != "CycloneDX" {
		return nil, fmt.Errorf("predicate has bomFormat %q; expected CycloneDX", bom.BOMFormat)
	}
	want := map[string]bool{}
	for _, t := range types {
		want[t] = true
	}
	var out []component
	var walk func([]cdxComponent, int) error
	walk = func(cs []cdxComponent, depth int) error {
		if depth > maxDepth {
			return fmt.Errorf("CycloneDX components nest deeper than %d levels", maxDepth)
		}
		for _, c := range cs {
			if want[c.Type] {
				name := c.Name
				if c.Group != "" {
					name = c.Group + "/" + c.Name
				}
				out = append(out, component{name: name, version: c.Version, purl: c.Purl})
			}
			if err := walk(c.Components, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(bom.Components, 0)
}

func spdx(pred json.RawMessage) ([]component, error) {
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name         string `json:"name"`
			VersionInfo  string `json:"versionInfo"`
			ExternalRefs []struct {
				Type    string `json:"referenceType"`
				Locator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(pred, &doc); err != nil {
		return nil, fmt.Errorf("SPDX predicate is not valid JSON: %v", err)
	}
	if !strings.HasPrefix(doc.SPDXVersion, "SPDX-2.") {
		return nil, fmt.Errorf("predicate has spdxVersion %q; this gate reads SPDX 2.x JSON", doc.SPDXVersion)
	}
	out := make([]component, 0, len(doc.Packages))
	for _, p := range doc.Packages {
		c := component{name: p.Name, version: p.VersionInfo}
		for _, r := range p.ExternalRefs {
			if r.Type == "purl" {
				c.purl = r.Locator
				break
			}
		}
		out = append(out, c)
	}
	return out, nil
}
