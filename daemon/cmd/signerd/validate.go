package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/extension"
	"github.com/signerd/signerd/daemon/extension/source"
)

// validate checks each config named on the command line, for signerd
// validate, and returns 1 when any has a problem.
func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("signerd validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", config.DefaultPath, "path of the YAML config `file`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: signerd validate [--config FILE | FILE...]")
		fmt.Fprintln(stderr, "\nChecks each config and lists every problem with its line, column and key path.")
		fmt.Fprintln(stderr, "Without a file it checks "+config.DefaultPath+".")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}

	paths := fs.Args()
	if isFlagSet(fs, "config") || len(paths) == 0 {
		paths = append([]string{*configPath}, paths...)
	}
	status := 0
	for _, path := range paths {
		if !validateFile(path, stdout, stderr) {
			status = 1
		}
	}
	return status
}

// validateFile checks one config, prints its problems or "valid", and
// reports whether it is valid.
func validateFile(path string, stdout, stderr io.Writer) bool {
	cfg, err := config.LoadFile(path, checkModuleFiles)
	var cerr *config.Error
	switch {
	case errors.As(err, &cerr):
		for _, p := range cerr.Problems {
			fmt.Fprintln(stderr, p.String())
		}
		fmt.Fprintf(stderr, "%s: %d problem(s)\n", path, len(cerr.Problems))
		return false
	case err != nil:
		fmt.Fprintf(stderr, "signerd: %v\n", err)
		return false
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "%s: valid\n", path)
	return true
}

// checkModuleFiles reads each extension module named by a file path and
// checks it as the daemon does when it starts or reloads: against its
// sha256 pin, and then its imports and exports against the ABI. Modules
// from registries are left to the daemon, because checking them needs the
// network. Sources and pins that the config check rejects are skipped.
func checkModuleFiles(cfg *config.Config, report func(path, message string)) {
	ctx := context.Background()
	for i, t := range cfg.Tenants {
		for j, e := range t.Extensions {
			if strings.HasPrefix(e.Source, source.Scheme) || !config.AbsPath(e.Source) {
				continue
			}
			path := fmt.Sprintf("tenants[%d].extensions[%d]", i, j)
			wasm, err := source.Fetch(ctx, e.Source, source.Options{})
			if errors.Is(err, fs.ErrNotExist) {
				report(path+".source", fmt.Sprintf("module file %s not found; correct source, or build the module there (for Go: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared)", e.Source))
				continue
			}
			if err != nil {
				report(path+".source", err.Error())
				continue
			}
			if !config.IsSHA256Hex(e.SHA256) {
				continue
			}
			if err := extension.VerifyPin(wasm, e.SHA256); err != nil {
				report(path+".sha256", err.Error())
				continue
			}
			if err := extension.CheckShape(ctx, wasm, e.Source); err != nil {
				report(path+".source", err.Error())
			}
		}
	}
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
