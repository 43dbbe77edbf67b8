package guard

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/signerd/signerd/daemon/logkey"
)

// Defaults for Options.
const (
	DefaultPinDir = "/sys/fs/bpf/signerd"
	DefaultCgroup = "/sys/fs/cgroup"
)

// Names of the pins under the pin directory. The maps are pinned by the
// names they have in the BPF program.
const (
	linkPinName   = "link"
	targetMapName = "guard_target"
	policyMapName = "guard_policy"
	deniedMapName = "guard_denied"
)

// maxSunPath is the size of sockaddr_un.sun_path on Linux.
const maxSunPath = 108

// ErrUnsupported is returned when the kernel lacks cgroup/connect_unix
// programs (Linux before 6.7) or the kernel functions the program calls.
var ErrUnsupported = errors.New("the kernel does not support cgroup/connect_unix programs; Linux 6.7 or later is needed")

// Options configure Install.
type Options struct {
	// PinDir is the bpffs directory for the link and maps.
	PinDir string

	// Cgroup is the cgroup v2 directory the program is attached to. Only
	// tasks in it and its descendants are checked.
	Cgroup string

	// SocketPath is the address the guard protects, as clients pass it.
	SocketPath string

	Policy Policy

	Log *slog.Logger

	// loadObjects loads the BPF objects; nil means the real kernel. Tests
	// replace it to simulate kernels.
	loadObjects func(spec *ebpf.CollectionSpec, objs *guardObjects, opts *ebpf.CollectionOptions) error
}

// Guard is an installed connect guard. Its methods are safe for
// concurrent use. Close releases the daemon's handles and leaves the guard
// pinned and in force.
type Guard struct {
	mu        sync.Mutex
	objs      guardObjects
	link      link.Link
	innerSpec *ebpf.MapSpec
	log       *slog.Logger
}

// Install loads the program (reusing maps that an earlier run pinned),
// writes the socket path and policy, and attaches the program to
// opts.Cgroup through a pinned bpf_link. A link that an earlier run pinned
// is updated to this program when it is attached to the same cgroup and
// replaced when it is not.
func Install(opts Options) (*Guard, error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	if len(opts.SocketPath) == 0 || len(opts.SocketPath) >= maxSunPath {
		return nil, fmt.Errorf("socket path %q must be 1 to %d bytes for the connect guard", opts.SocketPath, maxSunPath-1)
	}
	cgroupID, err := CgroupID(opts.Cgroup)
	if err != nil {
		return nil, fmt.Errorf("connect guard cgroup: %w", err)
	}
	created, err := preparePinDir(opts.PinDir)
	if err != nil {
		return nil, err
	}

	spec, err := loadGuard()
	if err != nil {
		return nil, fmt.Errorf("parse the embedded connect guard program: %w", err)
	}
	innerSpec := spec.Maps[policyMapName].InnerMap
	if innerSpec == nil {
		return nil, fmt.Errorf("embedded connect guard program has no inner map for %s", policyMapName)
	}

	load := opts.loadObjects
	if load == nil {
		load = func(spec *ebpf.CollectionSpec, objs *guardObjects, o *ebpf.CollectionOptions) error {
			return spec.LoadAndAssign(objs, o)
		}
	}
	g := &Guard{innerSpec: innerSpec.Copy(), log: log}
	collOpts := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: opts.PinDir}}
	if err := load(spec, &g.objs, collOpts); err != nil {
		if created {
			os.Remove(opts.PinDir) // leave no trace of a guard that never loaded
		}
		return nil, classifyLoadError(err, opts.PinDir)
	}

	if err := writeTarget(g.objs.GuardTarget, opts.SocketPath); err != nil {
		g.objs.Close()
		return nil, err
	}
	if err := g.SetPolicy(opts.Policy); err != nil {
		g.objs.Close()
		return nil, err
	}

	l, err := attach(g.objs.SignerdConnectGuard, opts.PinDir, opts.Cgroup, cgroupID)
	if err != nil {
		g.objs.Close()
		return nil, err
	}
	g.link = l
	return g, nil
}

// Denied returns how many connects the guard has denied since its maps
// were created, summed over CPUs. The count survives daemon restarts.
func (g *Guard) Denied() (uint64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return sumDenied(g.objs.GuardDenied)
}

// Close releases the daemon's handles. The guard stays attached and
// pinned.
func (g *Guard) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	if g.link != nil {
		errs = append(errs, g.link.Close())
		g.link = nil
	}
	errs = append(errs, g.objs.Close())
	return errors.Join(errs...)
}

// classifyLoadError turns a load failure into ErrUnsupported when the
// kernel lacks the attach type or a kernel function, and adds what to do
// for the failures an administrator can fix.
func classifyLoadError(err error, pinDir string) error {
	var verr *ebpf.VerifierError
	switch {
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("%w: %v", ErrUnsupported, err)
	case errors.Is(err, unix.EINVAL) && (!errors.As(err, &verr) || len(verr.Log) == 0):
		// A kernel that does not know the attach type rejects the program
		// with EINVAL before the verifier runs, so the log is empty.
		return fmt.Errorf("%w: %v", ErrUnsupported, err)
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("load the connect guard: %w; the daemon needs CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (or CAP_SYS_ADMIN) and bpf in its system call filter", err)
	case errors.Is(err, ebpf.ErrMapIncompatible):
		return fmt.Errorf("load the connect guard: maps pinned in %s were made by an incompatible signerd (%w); run signerctl guard remove, then start the daemon again", pinDir, err)
	default:
		return fmt.Errorf("load the connect guard: %w", err)
	}
}

// preparePinDir checks that dir's parent is a bpffs mount and creates dir
// when it is missing, reporting whether it did.
func preparePinDir(dir string) (created bool, err error) {
	if !filepath.IsAbs(dir) {
		return false, fmt.Errorf("connect guard pin directory %q is not an absolute path", dir)
	}
	var fs unix.Statfs_t
	parent := filepath.Dir(dir)
	if err := unix.Statfs(parent, &fs); err != nil {
		return false, fmt.Errorf("connect guard pin directory: stat %s: %w", parent, err)
	}
	if fs.Type != unix.BPF_FS_MAGIC {
		return false, fmt.Errorf("%s is not a bpf filesystem; mount one with `mount -t bpf bpf %s` (systemd mounts /sys/fs/bpf at boot)", parent, parent)
	}
	err = os.Mkdir(dir, 0o700)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create connect guard pin directory: %w", err)
	}
	return true, nil
}

// attach returns a pinned link from the guard program to the cgroup,
// reusing or replacing one an earlier run pinned.
func attach(prog *ebpf.Program, pinDir, cgroupPath string, cgroupID uint64) (link.Link, error) {
	pin := filepath.Join(pinDir, linkPinName)
	old, err := link.LoadPinnedLink(pin, nil)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("open pinned connect guard link %s: %w; run signerctl guard remove if it is stale", pin, err)
	}

	if old != nil {
		info, infoErr := old.Info()
		if infoErr == nil && info.Cgroup() != nil && info.Cgroup().CgroupId == cgroupID {
			if err := old.Update(prog); err != nil {
				old.Close()
				return nil, fmt.Errorf("update pinned connect guard link to the new program: %w", err)
			}
			return old, nil
		}
	}

	// Attach the new link before dropping the old one, so the socket is
	// never unguarded in between.
	l, err := link.AttachCgroup(link.CgroupOptions{
		Path:    cgroupPath,
		Attach:  ebpf.AttachCgroupUnixConnect,
		Program: prog,
	})
	if err != nil {
		if old != nil {
			old.Close()
		}
		return nil, fmt.Errorf("attach connect guard to cgroup %s: %w", cgroupPath, err)
	}
	if old != nil {
		if err := dropLink(old); err != nil {
			l.Close()
			return nil, err
		}
	}
	if err := l.Pin(pin); err != nil {
		l.Close()
		return nil, fmt.Errorf("pin connect guard link at %s: %w", pin, err)
	}
	return l, nil
}

// dropLink detaches, unpins and closes l.
func dropLink(l link.Link) error {
	defer l.Close()
	if err := l.Detach(); err != nil && !errors.Is(err, link.ErrNotSupported) {
		return fmt.Errorf("detach connect guard link: %w", err)
	}
	if err := l.Unpin(); err != nil {
		return fmt.Errorf("unpin connect guard link: %w", err)
	}
	return nil
}

// writeTarget stores the protected path. NOTE: an array map update is a
// plain copy, so a connect racing a change of path (only at a restart with
// a new socket path) may compare against a partly written value.
func writeTarget(m *ebpf.Map, path string) error {
	var t guardTargetPath
	t.Len = uint32(len(path))
	for i := 0; i < len(path); i++ {
		t.Path[i] = int8(path[i])
	}
	if err := m.Update(uint32(0), &t, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("write connect guard socket path: %w", err)
	}
	return nil
}

func sumDenied(m *ebpf.Map) (uint64, error) {
	var perCPU []uint64
	if err := m.Lookup(uint32(0), &perCPU); err != nil {
		return 0, fmt.Errorf("read connect guard denied count: %w", err)
	}
	var total uint64
	for _, n := range perCPU {
		total += n
	}
	return total, nil
}

func logAttrs(opts Options) []any {
	return []any{slog.String(logkey.Socket, opts.SocketPath), slog.String(logkey.GuardCgroup, opts.Cgroup),
		slog.String(logkey.GuardPinDir, opts.PinDir)}
}
