// Command signerd is the node-local signing daemon. It listens on a Unix
// socket, identifies each caller by kernel peer credentials, and signs
// in-toto attestations as DSSE envelopes inside Sigstore bundles.
//
// Usage:
//
//	signerd [--config FILE] [--log-format text|json]
//	signerd --dev DIR
//	signerd validate [--config FILE | FILE...]
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

	"github.com/signerd/signerd/daemon/config"
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
		case "help":
			args = []string{"-h"}
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
		fmt.Fprintln(stderr, "  signerd validate [--config FILE | FILE...]          check configs and list every problem")
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
	if *devDir != "" && isFlagSet(fs, "config") {
		fmt.Fprintln(stderr, "signerd: --dev runs its built-in development config, so it cannot take --config; "+
			"to try a policy of your own, such as a tenant with extensions, start from the development config in docs/extensions.md and run signerd --config FILE")
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
