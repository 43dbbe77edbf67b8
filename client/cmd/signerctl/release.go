package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/release"
)

// cmdVerifyRelease prints the daemon's release verdict for a scanner
// image. It exits 0 only for verified, so scripts can gate on it.
func cmdVerifyRelease(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("signerctl verify-release", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: signerctl verify-release [--json] REGISTRY/REPOSITORY@sha256:HEX")
		fmt.Fprintln(fs.Output(), "\nPrints the release verdict of a scanner image under your tenant's policy;")
		fmt.Fprintln(fs.Output(), "exits 0 when verified, 1 otherwise.")
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print the verdict and its evidence as JSON")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("verify-release needs exactly one image reference, REGISTRY/REPOSITORY@sha256:HEX")
	}
	// The daemon parses the reference only after it found the caller's
	// policy, so a malformed one would be blamed on the policy.
	if _, err := release.ParseImage(fs.Arg(0), nil); err != nil {
		return usageError("%v", err)
	}

	c := e.client()
	defer c.Close()
	v, err := c.VerifyRelease(ctx, fs.Arg(0))
	if err != nil {
		return err
	}

	if *asJSON {
		if err := printJSON(e, v); err != nil {
			return err
		}
	} else {
		printVerdict(e, v)
	}
	if v.Verdict != api.ReleaseVerified {
		return &exitError{code: 1, err: fmt.Errorf("release of %s is %s", v.Image, v.Verdict)}
	}
	return nil
}

func printVerdict(e *env, v *api.ReleaseVerdict) {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "image:\t%s\n", v.Image)
	fmt.Fprintf(tw, "verdict:\t%s\n", v.Verdict)
	fmt.Fprintf(tw, "reason:\t%s\n", v.Reason)
	if v.SignerKeyID != "" {
		fmt.Fprintf(tw, "signer key:\t%s\n", v.SignerKeyID)
		fmt.Fprintf(tw, "signature kind:\t%s\n", v.SignatureKind)
	}
	if v.Discovery != "" {
		fmt.Fprintf(tw, "discovery:\t%s\n", v.Discovery)
	}
	fmt.Fprintf(tw, "checked at:\t%s (cached: %t)\n", v.CheckedAt, v.Cached)
	tw.Flush()

	if len(v.Evidence) == 0 {
		return
	}
	fmt.Fprintln(e.stdout, "evidence:")
	for _, ev := range v.Evidence {
		fmt.Fprintf(e.stdout, "  - %s %s from %s\n", ev.Result, ev.Kind, ev.Source)
		if ev.Manifest != "" {
			fmt.Fprintf(e.stdout, "    manifest: %s\n", ev.Manifest)
		}
		if ev.PredicateType != "" {
			fmt.Fprintf(e.stdout, "    predicate type: %s\n", ev.PredicateType)
		}
		if ev.KeyID != "" {
			fmt.Fprintf(e.stdout, "    key: %s\n", ev.KeyID)
		}
		fmt.Fprintf(e.stdout, "    reason: %s\n", ev.Reason)
	}
}
