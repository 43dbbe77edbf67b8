// Command signerctl is the command-line client of signerd.
//
// Usage:
//
//	signerctl [--socket PATH] [--admin-socket PATH] COMMAND [flags]
//
// The socket defaults to $SIGNERD_SOCKET, then /run/signerd/signerd.sock.
// The admin socket, used by status and reload, defaults to
// $SIGNERD_ADMIN_SOCKET, then admin.sock in the socket's directory, where
// signerd puts it unless its config names another path.
// Run signerctl help for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
)

// command is one signerctl subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is the state every command shares.
type env struct {
	socket      string
	adminSocket string
	stdout      io.Writer
	stderr      io.Writer
}

func (e *env) client() *client.Client { return client.New(e.socket) }

// callerCommands are the commands that call the caller socket.
var callerCommands = map[string]bool{"sign": true, "key": true, "whoami": true, "health": true, "bench": true, "verify-release": true}

func commands() []command {
	return []command{
		{"sign", "sign an in-toto attestation and write its Sigstore bundle", cmdSign},
		{"verify", "verify a bundle offline against a public key", cmdVerify},
		{"verify-release", "print a scanner image's release verdict and evidence", cmdVerifyRelease},
		{"key", "print the daemon's public key in PEM form; key create makes a new key", cmdKey},
		{"whoami", "print the caller as the daemon sees it", cmdWhoAmI},
		{"health", "print the daemon's health", cmdHealth},
		{"bench", "measure signing throughput and latency over the socket", cmdBench},
		{"guard", "show or remove the kernel connect guard (status, remove; as root)", cmdGuard},
		{"audit", "verify the hash chain of an audit trail directory", cmdAudit},
		{"status", "print the daemon's state summary (admin socket)", cmdStatus},
		{"reload", "reload the daemon's config (admin socket)", cmdReload},
		{"ext", "test a WASM extension locally, push or pull it as an OCI artifact", cmdExt},
		{"version", "print signerctl's version", cmdVersion},
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func cmdVersion(_ context.Context, e *env, args []string) error {
	if len(args) == 1 && isHelp(args[0]) {
		fmt.Fprintln(e.stdout, "Usage: signerctl version\n\nprints the version of this signerctl build.")
		return nil
	}
	if len(args) > 0 {
		return usageError("version takes no arguments")
	}
	fmt.Fprintln(e.stdout, "signerctl", version)
	return nil
}

// isHelp reports whether arg requests a command's help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// usageError marks a mistake in the command line (exit status 2).
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("signerctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	socketFlag := fs.String("socket", "", "signerd's socket `path` (default $SIGNERD_SOCKET, then "+client.DefaultSocket+")")
	adminSocketFlag := fs.String("admin-socket", "", "signerd's admin socket `path` for status and reload (default $SIGNERD_ADMIN_SOCKET, then admin.sock beside the socket)")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) || (err == nil && fs.Arg(0) == "help") {
		usage(stdout, fs)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "signerctl: %v; run signerctl help\n", err)
		return 2
	}
	if fs.NArg() == 0 {
		usage(stderr, fs)
		return 2
	}

	socket := *socketFlag
	if socket == "" {
		socket = client.SocketFromEnv()
	}
	adminSocket := *adminSocketFlag
	if adminSocket == "" {
		adminSocket = client.AdminSocketFor(socket)
	}

	e := &env{socket: socket, adminSocket: adminSocket, stdout: stdout, stderr: stderr}
	name := fs.Arg(0)
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, e, fs.Args()[1:])
		// Every path the caller commands use exists on the caller socket,
		// so not_found there means --socket names another socket,
		// usually the admin one.
		if callerCommands[name] && client.IsCode(err, api.CodeNotFound) {
			err = fmt.Errorf("%w; %s looks like the admin socket, not the caller socket; pass signerd's socket with --socket or $SIGNERD_SOCKET", err, e.socket)
		}
		return exitCode(stderr, err)
	}
	fmt.Fprintf(stderr, "signerctl: unknown command %q; run signerctl help\n", name)
	return 2
}

func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "signerctl: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage: signerctl [--socket PATH] [--admin-socket PATH] COMMAND [flags]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nGlobal flags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintln(w, "\nRun signerctl COMMAND -h for a command's flags.")
}
