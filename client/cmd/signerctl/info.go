package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
)

func cmdKey(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "create" {
		return cmdKeyCreate(ctx, e, args[1:])
	}
	fs := flag.NewFlagSet("signerctl key", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: signerctl key [--json]\n       signerctl key create --backend tpm|pkcs11|kms|file ... (see signerctl key create -h)")
		fs.PrintDefaults()
	}
	fs.SetOutput(e.stderr)
	asJSON := fs.Bool("json", false, "print the whole response as JSON")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	c := e.client()
	defer c.Close()
	k, err := c.Key(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, k)
	}
	fmt.Fprint(e.stdout, k.PublicKeyPEM)
	return nil
}

func cmdWhoAmI(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("signerctl whoami", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	c := e.client()
	defer c.Close()
	w, err := c.WhoAmI(ctx)
	if err != nil {
		return err
	}
	return printJSON(e, w)
}

func cmdHealth(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("signerctl health", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	c := e.client()
	defer c.Close()
	h, err := c.Health(ctx)
	if err != nil {
		return err
	}
	if err := printJSON(e, h); err != nil {
		return err
	}
	if h.Status != "ok" {
		return &exitError{code: 1, err: fmt.Errorf("daemon is %s", h.Status)}
	}
	return nil
}

func printJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
