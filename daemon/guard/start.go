package guard

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/signerd/signerd/daemon/config"
	"github.com/signerd/signerd/daemon/logkey"
)

// Start installs the guard that cfg describes for socketPath, the address
// clients pass to connect. It returns a nil Guard when the guard is
// disabled, and also when it is not mandatory and cannot be installed:
// installErr is then the reason, which is also logged once. A mandatory
// guard that cannot be installed returns err, and the daemon must not
// start.
func Start(cfg config.GuardConfig, socketPath string, log *slog.Logger) (g *Guard, installErr, err error) {
	return start(cfg, socketPath, log, Options{})
}

// start is Start with base carrying test hooks.
func start(cfg config.GuardConfig, socketPath string, log *slog.Logger, base Options) (*Guard, error, error) {
	if !cfg.Enabled {
		if _, err := os.Lstat(filepath.Join(cfg.PinDir, linkPinName)); err == nil {
			log.Warn("connect guard is disabled in the config, but a guard from an earlier run is still attached and enforces its old allowed set; run signerctl guard remove to detach it",
				slog.String(logkey.GuardPinDir, cfg.PinDir))
		}
		return nil, nil, nil
	}

	opts := base
	opts.PinDir = cfg.PinDir
	opts.Cgroup = cfg.Cgroup
	opts.SocketPath = socketPath
	opts.Policy = PolicyFromConfig(cfg)
	opts.Log = log

	g, err := Install(opts)
	switch {
	case err == nil:
		log.Info("connect guard installed", append(logAttrs(opts),
			slog.Any("allowed_uids", cfg.AllowedUIDs), slog.Any("allowed_cgroups", cfg.AllowedCgroups))...)
		return g, nil, nil
	case cfg.Mandatory:
		return nil, nil, fmt.Errorf("connect guard is mandatory: %w", err)
	case errors.Is(err, ErrUnsupported):
		log.Warn("connect guard not supported by this kernel; running without it, peer-credential policy still applies",
			append(logAttrs(opts), slog.String(logkey.Error, err.Error()))...)
		return nil, err, nil
	default:
		log.Error("connect guard could not be installed; running without it, peer-credential policy still applies",
			append(logAttrs(opts), slog.String(logkey.Error, err.Error()))...)
		return nil, err, nil
	}
}

// ShortReason returns a few words on why Install or SetPolicy failed, for a
// status line: the cause an administrator can act on, without the chain
// of loading steps that the full error lists. Errors it does not know are
// returned whole.
func ShortReason(err error) string {
	switch {
	case errors.Is(err, ErrUnsupported):
		return "the kernel lacks cgroup/connect_unix programs; Linux 6.7 or later is needed"
	case errors.Is(err, unix.EPERM):
		return "operation not permitted; the daemon needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON and bpf in its system call filter"
	case errors.Is(err, ebpf.ErrMapIncompatible):
		return "maps pinned by an incompatible signerd; run signerctl guard remove"
	default:
		return err.Error()
	}
}

// PolicyFromConfig returns the allowed sets in cfg.
func PolicyFromConfig(cfg config.GuardConfig) Policy {
	return Policy{UIDs: cfg.AllowedUIDs, Cgroups: cfg.AllowedCgroups}
}
