package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/signerd/signerd/daemon/audit"
)

// DefaultAuditDir is the audit trail of a system installation.
const DefaultAuditDir = "/var/lib/signerd/audit"

func cmdAudit(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || isHelp(args[0]) {
		w := e.stdout
		if len(args) == 0 {
			w = e.stderr
		}
		fmt.Fprintln(w, "Usage: signerctl audit verify [--json] [DIR]")
		fmt.Fprintln(w, "\nverify checks the hash chain of the audit trail in DIR (default "+DefaultAuditDir+")")
		fmt.Fprintln(w, "and reports the first break. Exit status: 0 verified, 1 broken, 2 usage or unreadable.")
		if len(args) == 0 {
			return usageError("audit needs a subcommand: verify")
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "verify":
		return cmdAuditVerify(ctx, e, args[1:])
	}
	return usageError("unknown audit subcommand %q; use verify", args[0])
}

func cmdAuditVerify(_ context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("signerctl audit verify", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: signerctl audit verify [--json] [DIR]")
		fmt.Fprintln(fs.Output(), "\nChecks the audit trail in DIR (default "+DefaultAuditDir+") and reports the first break.")
		fs.PrintDefaults()
	}
	dirs, err := parseInterspersed(e, fs, args)
	if err != nil {
		return err
	}
	if len(dirs) > 1 {
		return usageError("audit verify takes one directory, got %d: %s", len(dirs), strings.Join(dirs, " "))
	}
	dir := DefaultAuditDir
	if len(dirs) == 1 {
		dir = dirs[0]
	}

	rep, err := audit.Verify(dir)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("audit trail cannot be read: %w", err)}
	}

	if *asJSON {
		if err := printJSON(e, rep); err != nil {
			return err
		}
	} else if rep.Break == nil {
		fmt.Fprintf(e.stdout, "%s: chain verified: %d records in %d files, last record %d with hash %s\n",
			dir, rep.Records, rep.Files, rep.LastSeq, rep.LastHash)
	} else {
		fmt.Fprintf(e.stdout, "%s: chain broken after %d verified records\n", dir, rep.Records)
		fmt.Fprintf(e.stdout, "first break: %s\n", rep.Break)
	}

	if rep.Break != nil {
		return &exitError{code: 1, err: fmt.Errorf("audit trail %s is broken at %s line %d (record %d)",
			dir, rep.Break.File, rep.Break.Line, rep.Break.Seq)}
	}
	return nil
}
