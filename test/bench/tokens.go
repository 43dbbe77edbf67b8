package main

import (
	"os"
	"path/filepath"
	"time"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/test/authority"
)

const tokenTenants = `tenants:
  - name: bench
    predicate_types: ["*"]
    callers:
      - uid: %d
        auth: optok-dpop
`

// setupTokens mints an OpTok bound to a DPoP key and a PoE with quotas
// far above what the machine can reach, so the scenario measures the
// checks and not a rate limit.
func setupTokens(_ *run, dir string) (string, []string, error) {
	authDir := filepath.Join(dir, "authority")
	a, err := authority.Init(authDir)
	if err != nil {
		return "", nil, err
	}

	dpopKey, err := authority.NewDPoPKey()
	if err != nil {
		return "", nil, err
	}
	dpopPath := filepath.Join(dir, "dpop.key.json")
	if err := authority.WriteDPoPKey(dpopPath, dpopKey); err != nil {
		return "", nil, err
	}
	jkt, err := client.DPoPThumbprint(dpopKey.Public())
	if err != nil {
		return "", nil, err
	}

	token, err := a.MintOpTok(authority.OpTok{Tenant: "bench", Subject: "bench", JKT: jkt, TTL: 2 * time.Hour})
	if err != nil {
		return "", nil, err
	}
	poe, err := a.MintPoE(authority.PoE{Tenant: "bench", Plan: "bench", QPS: 1e6, Burst: 1e6, Concurrency: 4096,
		ScannerVersions: ">=0.50.0", TTL: 2 * time.Hour})
	if err != nil {
		return "", nil, err
	}
	tokenPath := filepath.Join(dir, "optok.jwt")
	poePath := filepath.Join(dir, "poe.jwt")
	if err := os.WriteFile(tokenPath, []byte(token), 0o600); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(poePath, []byte(poe), 0o600); err != nil {
		return "", nil, err
	}

	cfg := `entitlement:
  optok:
    issuer: ` + authority.OpTokIssuer + `
    jwks_file: ` + a.OpTokJWKS() + `
  poe:
    issuer: ` + authority.PoEIssuer + `
    jwks_file: ` + a.PoEJWKS() + `
  dpop:
    replay_cache_size: 2000000
  tenants:
    bench:
      require_poe: true
`
	args := []string{"--token", tokenPath, "--dpop-key", dpopPath, "--poe", poePath, "--scanner-version", "0.58.1"}
	return cfg, args, nil
}
