package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signerd/signerd/daemon/api"
	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/extension"
	"github.com/signerd/signerd/daemon/extension/source"
	"github.com/signerd/signerd/daemon/statement"
)

// cmdExt dispatches signerctl ext SUBCOMMAND.
func cmdExt(ctx context.Context, e *env, args []string) error {
	sub := map[string]func(context.Context, *env, []string) error{
		"test": cmdExtTest,
		"push": cmdExtPush,
		"pull": cmdExtPull,
	}
	help := len(args) > 0 && isHelp(args[0])
	if len(args) == 0 || sub[args[0]] == nil {
		w := e.stderr
		if help {
			w = e.stdout
		}
		fmt.Fprintln(w, "Usage: signerctl ext test MODULE.wasm --input REQUEST.json [--config CONFIG.json]")
		fmt.Fprintln(w, "       signerctl ext push MODULE.wasm REGISTRY/REPOSITORY[:TAG]")
		fmt.Fprintln(w, "       signerctl ext pull oci://REGISTRY/REPOSITORY@sha256:HEX [-o MODULE.wasm]")
		switch {
		case help:
			return nil
		case len(args) == 0:
			return usageError("ext needs a subcommand")
		}
		return usageError("unknown ext subcommand %q", args[0])
	}
	return sub[args[0]](ctx, e, args[1:])
}

// extTestInput is REQUEST.json for ext test: a sign request body as a
// scanner sends it, plus what the daemon would add.
type extTestInput struct {
	api.SignRequest

	// Tenant, Caller and PoE stand in for what the daemon learns from the
	// connection and the PoE stage.
	Tenant string               `json:"tenant"`
	Caller api.Caller           `json:"caller"`
	PoE    *extension.PoEClaims `json:"poe"`
	Time   *time.Time           `json:"requestTime"`
}

// extTestResult is the JSON document ext test prints.
type extTestResult struct {
	Allow   bool     `json:"allow"`
	Reasons []string `json:"reasons"`
	Error   string   `json:"error,omitempty"`
	Module  string   `json:"moduleSha256"`
	LoadMS  float64  `json:"loadMs"`
	CheckMS float64  `json:"checkMs"`
}

func cmdExtTest(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("signerctl ext test", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	inputPath := fs.String("input", "", "`file` with the request: a sign request body, optionally with tenant, caller, poe and requestTime")
	configPath := fs.String("config", "", "`file` with the extension's config object (JSON), as the policy would give it")
	timeout := fs.Duration("timeout", config.DefaultExtensionTimeout, "deadline of the check, as the policy's timeout")
	pages := fs.Uint("memory-pages", config.DefaultExtensionMemoryPages, "memory limit in 64 KiB pages, as the policy's memory_pages")
	maxPred := fs.Int("max-predicate-bytes", config.DefaultExtensionMaxPredicate, "largest predicate passed in, as the policy's max_predicate_bytes")
	showInput := fs.Bool("show-input", false, "print the JSON the module receives and exit")
	cacheDir := fs.String("cache-dir", defaultExtCache(), "compile cache `dir` (empty disables it); it must be writable by you alone")
	if err := reorderParse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *inputPath == "" {
		return usageError("usage: signerctl ext test MODULE.wasm --input REQUEST.json [--config CONFIG.json]")
	}

	raw, err := os.ReadFile(*inputPath)
	if err != nil {
		return err
	}
	var ti extTestInput
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ti); err != nil {
		// A predicate such as an SBOM passed as the whole input is the
		// usual mistake, so the message shows what the file must hold.
		return fmt.Errorf("%s: %w; --input takes a sign request, {\"subjects\": [...], \"predicateType\": \"...\", \"predicate\": {...}}, with an SBOM or other predicate under \"predicate\" (signerctl ext test --show-input prints what the module receives)", *inputPath, err)
	}
	stmt, err := statement.Validate(&ti.SignRequest)
	if err != nil {
		return fmt.Errorf("%s is not a request the daemon would accept: %w", *inputPath, err)
	}
	cfgJSON := json.RawMessage("{}")
	if *configPath != "" {
		b, err := os.ReadFile(*configPath)
		if err != nil {
			return err
		}
		if !json.Valid(b) || bytes.TrimSpace(b)[0] != '{' {
			return fmt.Errorf("%s must hold one JSON object", *configPath)
		}
		cfgJSON = json.RawMessage(bytes.TrimSpace(b))
	}
	when := time.Now()
	if ti.Time != nil {
		when = *ti.Time
	}
	in := extension.NewInput(&extension.Request{
		Tenant: ti.Tenant, Caller: ti.Caller, Statement: stmt,
		Scanner: ti.Scanner, PoE: ti.PoE, Time: when,
	}, cfgJSON, *maxPred)
	input, err := json.Marshal(&in)
	if err != nil {
		return err
	}
	if *showInput {
		var pretty bytes.Buffer
		json.Indent(&pretty, input, "", "  ")
		fmt.Fprintln(e.stdout, pretty.String())
		return nil
	}

	wasm, err := source.Fetch(ctx, fs.Arg(0), source.Options{})
	if err != nil {
		return err
	}
	start := time.Now()
	mod, err := extension.Load(ctx, wasm, extension.Options{
		Name:     fs.Arg(0),
		CacheDir: *cacheDir,
		Limits:   extension.Limits{Timeout: *timeout, MemoryPages: uint32(*pages)},
	})
	if err != nil {
		return err
	}
	defer mod.Close(ctx)
	loaded := time.Now()
	d, checkErr := mod.Check(ctx, input)
	res := extTestResult{
		Allow: d.Allow, Reasons: d.Reasons, Module: mod.SHA256(),
		LoadMS:  ms(loaded.Sub(start)),
		CheckMS: ms(time.Since(loaded)),
	}
	if res.Reasons == nil {
		res.Reasons = []string{}
	}
	if checkErr != nil {
		res.Allow, res.Error = false, checkErr.Error()
	}
	out, _ := json.MarshalIndent(&res, "", "  ")
	fmt.Fprintln(e.stdout, string(out))
	if checkErr != nil {
		return fmt.Errorf("the check failed, so the daemon would deny the request: %w", checkErr)
	}
	if !res.Allow {
		return &exitError{code: 3, err: fmt.Errorf("the module denies this request")}
	}
	return nil
}

// defaultExtCache is the user's cache directory for compiled modules, so
// that repeated ext test runs skip the compile.
func defaultExtCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "signerd", "extensions")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func cmdExtPush(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("signerctl ext push", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if err := reorderParse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageError("usage: signerctl ext push MODULE.wasm REGISTRY/REPOSITORY[:TAG]")
	}
	wasm, err := source.Fetch(ctx, fs.Arg(0), source.Options{})
	if err != nil {
		return err
	}
	// Refuse to publish a module the daemon would reject.
	mod, err := extension.Load(ctx, wasm, extension.Options{Name: fs.Arg(0)})
	if err != nil {
		return err
	}
	mod.Close(ctx)
	ref, err := source.Push(ctx, wasm, fs.Arg(1), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "source: %s\nsha256: %s\n", ref, extension.SHA256Hex(wasm))
	return nil
}

func cmdExtPull(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("signerctl ext pull", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	out := fs.String("o", "", "write the module to `file` (default: the repository's last path element + .wasm)")
	if err := reorderParse(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("usage: signerctl ext pull oci://REGISTRY/REPOSITORY@sha256:HEX [-o MODULE.wasm]")
	}
	ref, err := source.ParseDigest(fs.Arg(0))
	if err != nil {
		return err
	}
	wasm, err := source.Pull(ctx, ref, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	if err != nil {
		return err
	}
	path := *out
	if path == "" {
		repo := ref.Context().RepositoryStr()
		path = repo[lastSlash(repo)+1:] + ".wasm"
	}
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s\nsha256: %s\n", path, extension.SHA256Hex(wasm))
	return nil
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

// reorderParse parses flags that may follow positional arguments, as in
// "ext test MODULE.wasm --input R.json", and leaves the positional
// arguments in fs.Args.
func reorderParse(e *env, fs *flag.FlagSet, args []string) error {
	positional, err := parseInterspersed(e, fs, args)
	if err != nil {
		return err
	}
	return fs.Parse(append([]string{"--"}, positional...))
}
