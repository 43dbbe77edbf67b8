// Command signerd is the node-local signing daemon. It listens on a Unix
// socket, identifies each caller by kernel peer credentials, and signs
// in-toto attestations as DSSE envelopes inside Sigstore bundles.
//
// Usage:
//
//	signerd [--config FILE] [--log-format text|json]
//	signerd --dev DIR
//	signerd validate [--config FILE]
//	signerd version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/extension"
	"github.com/signerd/signerd/daemon/extension/source"
	_ "github.com/signerd/signerd/daemon/keys/backends" // tpm, pkcs11 and KMS key URIs
	"github.com/signerd/signerd/daemon/logging"
	"github.com/signerd/signerd/daemon/logkey"
	"github.com/signerd/signerd/daemon/service"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout io.Writer, stderr *os.File) int {
	if len(args) > 0 {
		switch args[0] {
		case "validate":
			return validate(args[1:], stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, "signerd", version)
			return 0
		}
	}

	fs := flag.NewFlagSet("signerd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", config.DefaultPath, "path of the YAML config `file`")
	devDir := fs.String("dev", "", "run with the development config, keeping socket, key and state under `DIR`")
	logFormat := fs.String("log-format", "", "log format, text or json (default: the config's log.format)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage:")
		fmt.Fprintln(stderr, "  signerd [--config FILE] [--log-format text|json]   run the daemon")
		fmt.Fprintln(stderr, "  signerd --dev DIR                                   run with the development config")
		fmt.Fprintln(stderr, "  signerd validate [--config FILE | FILE]             check a config and list every problem")
		fmt.Fprintln(stderr, "  signerd version                                     print the version")
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "signerd: unexpected argument %q; see signerd -h\n", fs.Arg(0))
		return 2
	}

	load := func() (*config.Config, error) { return config.LoadFile(*configPath) }
	name := *configPath
	if *devDir != "" {
		if err := os.MkdirAll(*devDir, 0o700); err != nil {
			fmt.Fprintf(stderr, "signerd: %v\n", err)
			return 1
		}
		dir := *devDir
		load = func() (*config.Config, error) { return config.Dev(dir) }
		name = "dev:" + dir
	}

	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "signerd: %v\n", err)
		return 1
	}
	if *logFormat != "" {
		cfg.Log.Format = *logFormat
	}
	log, level, err := logging.New(stderr, logging.Options{Format: cfg.Log.Format, Level: cfg.Log.Level, Journal: true})
	if err != nil {
		fmt.Fprintf(stderr, "signerd: %v\n", err)
		return 2
	}
	slog.SetDefault(log)

	err = service.Run(context.Background(), service.Options{
		Load: func() (*config.Config, error) {
			c, err := load()
			if err == nil && *logFormat != "" {
				c.Log.Format = *logFormat
			}
			return c, err
		},
		ConfigName: name,
		Version:    version,
		Log:        log,
		Level:      level,
	})
	if err != nil {
		log.Error("signerd failed", slog.String(logkey.Error, err.Error()))
		return 1
	}
	return 0
}

func validate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("signerd validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", config.DefaultPath, "path of the YAML config `file`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: signerd validate [--config FILE | FILE]")
		fmt.Fprintln(stderr, "\nChecks a config and lists every problem with its line and column.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case fs.NArg() == 1 && !isFlagSet(fs, "config"):
		*configPath = fs.Arg(0)
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "signerd validate: unexpected argument %q; name one config, with --config FILE or as FILE\n", fs.Arg(0))
		return 2
	}

	cfg, err := config.LoadFile(*configPath)
	var cerr *config.Error
	switch {
	case errors.As(err, &cerr):
		for _, p := range cerr.Problems {
			fmt.Fprintln(stderr, p.String())
		}
		fmt.Fprintf(stderr, "%s: %d problem(s)\n", *configPath, len(cerr.Problems))
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "signerd: %v\n", err)
		return 1
	}

	if problems := checkModuleFiles(cfg); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(stderr, "%s: %s\n", *configPath, p)
		}
		fmt.Fprintf(stderr, "%s: %d problem(s)\n", *configPath, len(problems))
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid\n", *configPath)
	return 0
}

// checkModuleFiles reads each extension module named by a file path and
// checks it against its sha256 pin, as the daemon does when it starts or
// reloads, so that validate does not pass a config the daemon would
// refuse. Modules from registries are left to the daemon: checking them
// needs the network.
func checkModuleFiles(cfg *config.Config) []string {
	var problems []string
	for i, t := range cfg.Tenants {
		for j, e := range t.Extensions {
			if strings.HasPrefix(e.Source, source.Scheme) {
				continue
			}
			path := fmt.Sprintf("tenants[%d].extensions[%d]", i, j)
			wasm, err := source.Fetch(context.Background(), e.Source, source.Options{})
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s.source: %v", path, err))
				continue
			}
			if err := extension.VerifyPin(wasm, e.SHA256); err != nil {
				problems = append(problems, fmt.Sprintf("%s.sha256: %v", path, err))
			}
		}
	}
	return problems
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
