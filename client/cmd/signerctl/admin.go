package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"syscall"

	"github.com/signerd/signerd/client"
	"github.com/signerd/signerd/daemon/api"
)

func (e *env) adminClient() *client.Client { return client.New(e.adminSocket) }

// cmdStatus prints the daemon's state summary from the admin socket.
func cmdStatus(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("signerctl status", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	asJSON := fs.Bool("json", false, "print the whole response as JSON")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	c := e.adminClient()
	defer c.Close()
	s, err := c.Status(ctx)
	if err != nil {
		return e.adminError(err)
	}
	if *asJSON {
		return printJSON(e, s)
	}

	// A failed reload leaves the daemon serving its previous config, so
	// the status stays as it was, but an administrator who just edited
	// the config must see it first.
	if s.LastReloadError != "" {
		fmt.Fprintf(e.stdout, "status:     %s, serving the previous config: the last reload failed\n", s.Status)
	} else {
		fmt.Fprintf(e.stdout, "status:     %s\n", s.Status)
	}
	fmt.Fprintf(e.stdout, "version:    %s (pid %d, started %s)\n", s.Version, s.PID, s.StartedAt)
	fmt.Fprintf(e.stdout, "tenants:    %d\n", s.Summary.Tenants)
	fmt.Fprintf(e.stdout, "extensions: %d\n", s.Summary.Extensions)
	fmt.Fprintf(e.stdout, "key:        %s, hint %s\n", s.Summary.KeyBackend, s.Summary.KeyHint)
	fmt.Fprintf(e.stdout, "loaded:     %s (%d reload attempts since start)\n", s.Summary.LoadedAt, s.Reloads)
	fmt.Fprintf(e.stdout, "requests:   %d served, %d in flight\n", s.RequestsServed, s.RequestsInFlight)
	if s.Guard != nil {
		fmt.Fprintf(e.stdout, "guard:      %s\n", describeGuard(s.Guard))
	}
	for _, name := range slices.Sorted(maps.Keys(s.Checks)) {
		fmt.Fprintf(e.stdout, "check:      %s: %s\n", name, s.Checks[name])
	}
	if s.LastReloadError != "" {
		fmt.Fprintf(e.stdout, "last reload failed: %s\n", s.LastReloadError)
	}
	if s.Status != "ok" {
		return &exitError{code: 1, err: fmt.Errorf("daemon is %s", s.Status)}
	}
	return nil
}

// describeGuard returns the guard line of signerctl status.
func describeGuard(g *api.GuardStatus) string {
	switch {
	case g.State == api.GuardFailed:
		return "failed, running without it: " + g.Error
	case g.State == api.GuardOff:
		return "off (guard.enabled is false)"
	case g.PolicyError != "":
		return g.State + ", but the last policy update failed, so the previous allowed set stays in force: " + g.PolicyError
	default:
		return g.State
	}
}

// cmdReload requests a reload of the daemon's config.
func cmdReload(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("signerctl reload", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	c := e.adminClient()
	defer c.Close()
	r, err := c.Reload(ctx)
	if err != nil {
		return e.adminError(err)
	}
	fmt.Fprintf(e.stdout, "reloaded: %d tenants, %d extensions, key %s (hint %s)\n",
		r.Summary.Tenants, r.Summary.Extensions, r.Summary.KeyBackend, r.Summary.KeyHint)
	return nil
}

// adminError adds the admin socket's flags to a missing-socket error, and
// a hint to a not_found error, because the caller socket returns not_found
// for the admin paths and passing it as --admin-socket is an easy mistake.
func (e *env) adminError(err error) error {
	// The client's hint for a missing socket names --socket, which does
	// not choose the admin socket.
	var connectErr *client.ConnectError
	if errors.As(err, &connectErr) && errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("cannot connect to signerd's admin socket at %s: %w; start signerd or set --admin-socket or $SIGNERD_ADMIN_SOCKET (default: admin.sock beside the caller socket)",
			e.adminSocket, syscall.ENOENT)
	}

	if !client.IsCode(err, api.CodeNotFound) {
		return err
	}
	return fmt.Errorf("%w; %s looks like the caller socket, not the admin socket; pass the admin socket with --admin-socket or $SIGNERD_ADMIN_SOCKET", err, e.adminSocket)
}
