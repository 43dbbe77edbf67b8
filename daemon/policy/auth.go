package policy

import (
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/peercred"
)

// authRank orders the auth modes from weakest to strongest.
var authRank = map[string]int{
	"":                   0,
	config.AuthPeerCred:  0,
	config.AuthOpTok:     1,
	config.AuthOpTokDPoP: 2,
}

// MatchAuth is Match that also returns what the caller must present
// besides its peer credentials (one of the config.Auth* values). When
// several of the tenant's rules admit the caller, the strongest
// requirement among them applies, so adding a rule never weakens another.
func (p *Policy) MatchAuth(id *peercred.Identity) (*Tenant, string, string) {
	t, reason := p.Match(id)
	if t == nil {
		return nil, "", reason
	}
	auth := config.AuthPeerCred
	for _, r := range t.rules {
		if r.matches(id) && authRank[r.auth] > authRank[auth] {
			auth = r.auth
		}
	}
	return t, auth, ""
}
