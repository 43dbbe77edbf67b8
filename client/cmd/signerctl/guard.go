package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/signerd/signerd/daemon/guard"
)

// cmdGuard reads or removes the connect guard in bpffs directly, so it
// works while the daemon is stopped. It needs root (or CAP_BPF and
// CAP_SYS_ADMIN for the pins).
func cmdGuard(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || isHelp(args[0]) {
		w := e.stdout
		if len(args) == 0 {
			w = e.stderr
		}
		fmt.Fprintln(w, "Usage: signerctl guard status [--json] [--pin-dir DIR] [--cgroup-root DIR]")
		fmt.Fprintln(w, "       signerctl guard remove [--pin-dir DIR]")
		fmt.Fprintln(w, "\nstatus shows the kernel connect guard and its allowed uids and cgroups; remove detaches and unpins it.")
		fmt.Fprintln(w, "Both need root. signerctl guard COMMAND -h lists a command's flags.")
		if len(args) == 0 {
			return usageError("guard needs a subcommand: status or remove")
		}
		return nil
	}
	switch args[0] {
	case "status":
		return cmdGuardStatus(e, args[1:])
	case "remove":
		return cmdGuardRemove(e, args[1:])
	default:
		return usageError("unknown guard subcommand %q; use status or remove", args[0])
	}
}

func cmdGuardStatus(e *env, args []string) error {
	fs := flag.NewFlagSet("signerctl guard status", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	pinDir := fs.String("pin-dir", guard.DefaultPinDir, "bpffs `directory` of the guard (guard.pin_dir in the config)")
	cgroupRoot := fs.String("cgroup-root", guard.DefaultCgroup, "cgroup v2 mount `directory` searched to name cgroup ids; empty skips the search")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}

	st, err := guard.ReadStatus(*pinDir, *cgroupRoot)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, st)
	}

	w := e.stdout
	fmt.Fprintf(w, "pin directory:   %s\n", st.PinDir)
	if st.Attached {
		fmt.Fprintf(w, "attached:        yes (link %d, program %d)\n", st.LinkID, st.ProgramID)
		fmt.Fprintf(w, "cgroup:          %s\n", cgroupName(st.CgroupID, st.CgroupPath))
	} else {
		fmt.Fprintln(w, "attached:        no (maps are pinned but no link; signerctl guard remove cleans up)")
	}
	fmt.Fprintf(w, "socket:          %s\n", st.SocketPath)
	uids := make([]string, len(st.AllowedUIDs))
	for i, uid := range st.AllowedUIDs {
		uids[i] = fmt.Sprint(uid)
	}
	fmt.Fprintf(w, "allowed uids:    %s\n", orNone(strings.Join(uids, ", ")))
	cgroups := make([]string, len(st.AllowedCgroups))
	for i, c := range st.AllowedCgroups {
		cgroups[i] = cgroupName(c.ID, c.Path)
	}
	fmt.Fprintf(w, "allowed cgroups: %s\n", orNone(strings.Join(cgroups, ", ")))
	fmt.Fprintf(w, "denied connects: %d\n", st.Denied)
	return nil
}

func cmdGuardRemove(e *env, args []string) error {
	fs := flag.NewFlagSet("signerctl guard remove", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	pinDir := fs.String("pin-dir", guard.DefaultPinDir, "bpffs `directory` of the guard (guard.pin_dir in the config)")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	removed, err := guard.Remove(*pinDir)
	if err != nil {
		return err
	}
	if !removed {
		fmt.Fprintf(e.stdout, "no connect guard is pinned in %s; nothing to remove\n", *pinDir)
		return nil
	}
	fmt.Fprintf(e.stdout, "connect guard in %s detached and unpinned; a running daemon with the guard enabled installs it again at its next start\n", *pinDir)
	return nil
}

func cgroupName(id uint64, path string) string {
	if path == "" {
		return fmt.Sprintf("id %d (not found)", id)
	}
	return fmt.Sprintf("%s (id %d)", path, id)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
