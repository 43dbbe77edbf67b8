// Package policy maps a caller's kernel identity to exactly one tenant.
//
// Rules are compiled from the config once per load: user and group names
// are resolved to numeric ids then, so a rename on the node takes effect at
// the next reload, not in the middle of a request. A caller that matches no
// tenant is rejected; the daemon never signs for everyone by default.
package policy

import (
	"fmt"
	"slices"

	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/peercred"
)

// Tenant is a compiled tenant.
type Tenant struct {
	Name           string
	PredicateTypes []string
	rules          []rule
}

// AllowsPredicate reports whether the tenant may sign predicateType.
func (t *Tenant) AllowsPredicate(predicateType string) bool {
	for _, pt := range t.PredicateTypes {
		if pt == "*" || pt == predicateType {
			return true
		}
	}
	return false
}

type rule struct {
	uid  *uint32
	gid  *uint32
	auth string
}

func (r rule) matches(id *peercred.Identity) bool {
	if r.uid != nil && *r.uid != id.UID {
		return false
	}
	if r.gid != nil && *r.gid != id.GID {
		return false
	}
	return true
}

// Policy is a compiled set of tenants.
type Policy struct {
	tenants []*Tenant
}

// Compile builds a Policy from the config's tenants.
func Compile(tenants []config.Tenant) (*Policy, error) {
	p := &Policy{}
	for _, ct := range tenants {
		t := &Tenant{Name: ct.Name, PredicateTypes: slices.Clone(ct.PredicateTypes)}
		for i, cr := range ct.Callers {
			r, err := compileRule(cr)
			if err != nil {
				return nil, fmt.Errorf("tenant %q caller rule %d: %w", ct.Name, i, err)
			}
			t.rules = append(t.rules, r)
		}
		p.tenants = append(p.tenants, t)
	}
	return p, nil
}

func compileRule(cr config.CallerRule) (rule, error) {
	r := rule{auth: cr.Auth}
	switch {
	case cr.UID != nil:
		uid := *cr.UID
		r.uid = &uid
	case cr.User != "":
		uid, err := config.LookupUser(cr.User)
		if err != nil {
			return r, err
		}
		r.uid = &uid
	}
	switch {
	case cr.GID != nil:
		gid := *cr.GID
		r.gid = &gid
	case cr.Group != "":
		gid, err := config.LookupGroup(cr.Group)
		if err != nil {
			return r, err
		}
		r.gid = &gid
	}
	if r.uid == nil && r.gid == nil {
		return r, fmt.Errorf("rule sets no selector")
	}
	return r, nil
}

// Match returns the tenant whose rules admit id. When none does, it
// returns nil and a reason for the caller. When more than one does, it
// rejects the caller, because its tenant would be ambiguous.
func (p *Policy) Match(id *peercred.Identity) (*Tenant, string) {
	var found *Tenant
	for _, t := range p.tenants {
		for _, r := range t.rules {
			if !r.matches(id) {
				continue
			}
			if found != nil && found != t {
				return nil, fmt.Sprintf("caller uid %d gid %d matches tenants %q and %q; the policy must admit each caller to one tenant",
					id.UID, id.GID, found.Name, t.Name)
			}
			found = t
			break
		}
	}
	if found == nil {
		return nil, fmt.Sprintf("no tenant admits caller uid %d gid %d; add a caller rule for it to a tenant in the config", id.UID, id.GID)
	}
	return found, ""
}

// Tenants returns the compiled tenants in config order.
func (p *Policy) Tenants() []*Tenant { return p.tenants }
