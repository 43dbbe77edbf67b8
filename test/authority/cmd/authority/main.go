// Command authority is the test authority of signerd: it mints operator
// tokens, DPoP keys and Proofs-of-Entitlement for tests and examples.
//
// Usage:
//
//	go run ./test/authority/cmd/authority init -dir DIR
//	go run ./test/authority/cmd/authority dpop-key -out FILE
//	go run ./test/authority/cmd/authority optok -dir DIR -tenant NAME [-dpop-key FILE] [-ttl 1h] -out FILE
//	go run ./test/authority/cmd/authority poe -dir DIR -tenant NAME [-plan P] [-qps N] [-burst N]
//	    [-concurrency N] [-max-artifact-bytes N] [-scanner-versions RANGE] [-ttl 720h] -out FILE
//
// init prints the issuers and key set paths to put in signerd's config.
// Never use it to issue real tokens: its keys are plain files.
package main

import (
	"crypto"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/test/authority"
)

const usage = `authority mints test tokens for signerd. Never use it to issue real
tokens: its keys are plain files.

Usage:
  authority init -dir DIR
      create the authority's keys in DIR and print the issuers and key
      set files to put in signerd's config
  authority dpop-key -out FILE
      create a DPoP key for a client and print its thumbprint (cnf.jkt)
  authority optok -dir DIR -tenant NAME [-dpop-key FILE] [-ttl 1h] -out FILE
      mint an operator token, bound to the DPoP key when one is given
  authority poe -dir DIR -tenant NAME [-plan P] [-qps N] [-burst N]
      [-concurrency N] [-max-artifact-bytes N] [-scanner-versions RANGE]
      [-ttl 720h] -out FILE
      mint a Proof-of-Entitlement with the given plan and quotas

Flags:
`

var commands = []string{"init", "dpop-key", "optok", "poe"}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "authority: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("missing command; use init, dpop-key, optok or poe (authority help shows them all)")
	}
	fs := flag.NewFlagSet("authority "+args[0], flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprint(stdout, usage)
		fs.PrintDefaults()
	}
	switch {
	case args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
		fs.Usage()
		return nil
	case !slices.Contains(commands, args[0]):
		return fmt.Errorf("unknown command %q; use init, dpop-key, optok or poe (authority help shows them all)", args[0])
	}
	dir := fs.String("dir", "", "authority `directory` holding its keys")
	out := fs.String("out", "", "output `file`")
	tenant := fs.String("tenant", "", "tenant `name` the token is for")
	ttl := fs.Duration("ttl", 0, "lifetime of the token (default 1h for an OpTok, 720h for a PoE)")
	dpopKey := fs.String("dpop-key", "", "DPoP key `file` to bind the OpTok to (cnf.jkt)")
	subject := fs.String("subject", "scanner", "OpTok subject")
	scope := fs.String("scope", "", "OpTok scope (default signer.sign)")
	plan := fs.String("plan", "standard", "PoE plan name")
	qps := fs.Float64("qps", 0, "PoE quota: requests per second (0: none)")
	burst := fs.Int("burst", 0, "PoE quota: burst (0: none)")
	concurrency := fs.Int("concurrency", 0, "PoE quota: requests in flight (0: none)")
	maxBytes := fs.Int64("max-artifact-bytes", 0, "PoE quota: largest request body in bytes (0: none)")
	versions := fs.String("scanner-versions", "", "PoE scanner version `range`, for example \">=0.50.0, <0.60.0\"")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if args[0] != "init" && *out == "" {
		return fmt.Errorf("%s needs -out FILE", args[0])
	}
	if (args[0] == "optok" || args[0] == "poe") && *tenant == "" {
		return fmt.Errorf("%s needs -tenant NAME", args[0])
	}
	if args[0] != "dpop-key" && *dir == "" {
		return fmt.Errorf("%s needs -dir DIR", args[0])
	}

	switch args[0] {
	case "init":
		a, err := authority.Init(*dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "optok issuer:    %s\noptok jwks_file: %s\npoe issuer:      %s\npoe jwks_file:   %s\n",
			authority.OpTokIssuer, a.OpTokJWKS(), authority.PoEIssuer, a.PoEJWKS())
		return nil

	case "dpop-key":
		key, err := authority.NewDPoPKey()
		if err != nil {
			return err
		}
		if err := authority.WriteDPoPKey(*out, key); err != nil {
			return err
		}
		jkt, err := client.DPoPThumbprint(key.Public())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "DPoP key written to %s, thumbprint (cnf.jkt) %s\n", *out, jkt)
		return nil

	case "optok":
		a, err := authority.Load(*dir)
		if err != nil {
			return err
		}
		o := authority.OpTok{Tenant: *tenant, Subject: *subject, Scope: *scope, TTL: *ttl}
		if *dpopKey != "" {
			key, err := client.LoadDPoPKey(*dpopKey)
			if err != nil {
				return err
			}
			if o.JKT, err = client.DPoPThumbprint(key.Public().(crypto.PublicKey)); err != nil {
				return err
			}
		}
		tok, err := a.MintOpTok(o)
		if err != nil {
			return err
		}
		return os.WriteFile(*out, []byte(tok+"\n"), 0o600)

	case "poe":
		a, err := authority.Load(*dir)
		if err != nil {
			return err
		}
		tok, err := a.MintPoE(authority.PoE{
			Tenant: *tenant, Plan: *plan, QPS: *qps, Burst: *burst, Concurrency: *concurrency,
			MaxArtifactBytes: *maxBytes, ScannerVersions: *versions, TTL: *ttl,
		})
		if err != nil {
			return err
		}
		return os.WriteFile(*out, []byte(tok+"\n"), 0o600)
	}
	return fmt.Errorf("unknown command %q", args[0])
}
