// Package peercred takes a snapshot of a Unix socket peer's identity from
// the kernel when the daemon accepts the connection.
//
// Security model: the daemon trusts only what the kernel recorded for the
// connection and what it exposes under /proc, never what the caller sends.
// The snapshot holds:
//   - uid, gid and pid from SO_PEERCRED (taken when the peer called
//     connect) and the supplementary groups from SO_PEERGROUPS;
//   - a pidfd from SO_PEERPIDFD (Linux 6.5 and later), which names the
//     connecting process itself rather than a pid number that can be
//     reused;
//   - from /proc/PID: the executable's path, device and inode, whether it
//     was deleted, and the SHA-256 of the running image. The image is read
//     through /proc/PID/exe, so a file replaced on disk is judged by what
//     runs;
//   - the cgroup path, the systemd unit derived from it and a container id
//     where the cgroup shows one.
//
// After the /proc reads, Read confirms through the pidfd that the
// connecting process is still alive, so the /proc data cannot belong to a
// later process that reused the pid. Without SO_PEERPIDFD it compares the
// process start time before and after the reads instead, and checks that
// the process started before the connection was accepted; this weaker
// check is logged once.
//
// Read fails closed: a peer in another pid namespace (pid 0), a uid or
// gid that is the overflow id of an unmapped user namespace (65534), and
// any error while reading the snapshot reject the caller, except the one
// permission error described below. Recheck repeats
// the liveness check and confirms the executable's device and inode before
// the daemon signs, so a caller that execs another binary after connecting
// cannot sign as the first one.
//
// Reading another user's /proc/PID/exe needs root or CAP_SYS_PTRACE. A
// daemon without them records the executable as unavailable for such
// callers, so rules that select by executable never match them, and logs
// that once.
package peercred

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/signerd/signerd/daemon/logkey"
)

// OverflowID is the id the kernel reports for a uid or gid that has no
// mapping in the reader's user namespace.
const OverflowID = 65534

// DefaultMaxHashBytes bounds the size of an executable the daemon hashes.
// Larger executables get no SHA-256, so rules that select by hash never
// match them.
const DefaultMaxHashBytes = 512 << 20

// Liveness checks that confirmed the snapshot belongs to the connecting
// process.
const (
	LivenessPIDFD     = "pidfd"
	LivenessStartTime = "starttime"
)

// ErrUnverifiable is wrapped by errors about peers the daemon cannot
// identify.
var ErrUnverifiable = errors.New("caller identity cannot be verified")

// Identity is the snapshot of a peer, taken once per connection. Its
// fields are read-only after Read returns; Close releases the pidfd.
type Identity struct {
	PID int32
	UID uint32
	GID uint32

	// Groups are the peer's supplementary group ids from SO_PEERGROUPS.
	Groups []uint32

	Exe    Executable
	Cgroup Cgroup

	// StartTime is field 22 of /proc/PID/stat: the process start time in
	// clock ticks since boot.
	StartTime uint64

	// Liveness is LivenessPIDFD or LivenessStartTime.
	Liveness string

	// pidfd is nil without SO_PEERPIDFD, so a zero Identity never
	// closes a descriptor it does not own.
	pidfd  *os.File
	closed bool
	mu     sync.Mutex
}

// Executable describes the running image of the peer's process.
type Executable struct {
	// Path is the target of /proc/PID/exe in the peer's mount namespace,
	// without the kernel's " (deleted)" suffix.
	Path string

	Device uint64
	Inode  uint64
	Size   int64

	// ModTime is the image's modification time, part of the hash cache
	// key.
	ModTime time.Time

	// Deleted is true when the running image has no link left on disk:
	// it was removed or replaced after the process started.
	Deleted bool

	// SHA256 is the hex SHA-256 of the running image, empty when it was
	// not hashed (see HashSkipped).
	SHA256 string

	// HashCached is true when SHA256 came from the cache.
	HashCached bool

	// HashSkipped is the reason SHA256 is empty.
	HashSkipped string

	// Unavailable is the reason the daemon could not open the image, set
	// when it lacks root or CAP_SYS_PTRACE and the caller is another
	// user's process. The other fields are then empty, executable
	// selectors never match, and Recheck cannot compare the image.
	Unavailable string
}

// Options configure a Reader.
type Options struct {
	// MaxHashBytes bounds the executables the Reader hashes; 0 means
	// DefaultMaxHashBytes.
	MaxHashBytes int64

	// CacheEntries bounds the hash cache; 0 means 1024.
	CacheEntries int

	// DisablePIDFD makes the Reader ignore SO_PEERPIDFD and use the
	// start-time check, as on kernels before Linux 6.5.
	DisablePIDFD bool

	// Log receives the one-time warning about the weaker check; nil means
	// slog.Default.
	Log *slog.Logger
}

// Reader takes identity snapshots and caches executable hashes.
type Reader struct {
	opts      Options
	cache     *hashCache
	hashSlots chan struct{}

	warnOnce    sync.Once
	exeWarnOnce sync.Once
}

// NewReader returns a Reader with opts.
func NewReader(opts Options) *Reader {
	if opts.MaxHashBytes <= 0 {
		opts.MaxHashBytes = DefaultMaxHashBytes
	}
	if opts.CacheEntries <= 0 {
		opts.CacheEntries = 1024
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Reader{
		opts:      opts,
		cache:     newHashCache(opts.CacheEntries),
		hashSlots: make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
}

var defaultReader = sync.OnceValue(func() *Reader { return NewReader(Options{}) })

// Read takes a snapshot of conn's peer with the default options.
func Read(conn net.Conn) (*Identity, error) { return defaultReader().Read(conn) }

// Read takes a snapshot of conn's peer as the package doc describes. The
// caller must Close the Identity when the connection ends.
func (r *Reader) Read(conn net.Conn) (*Identity, error) {
	acceptedAt, err := bootTimeTicks()
	if err != nil {
		return nil, fmt.Errorf("%w: read the boot clock: %v", ErrUnverifiable, err)
	}

	sock, err := readSocket(conn, !r.opts.DisablePIDFD)
	if err != nil {
		return nil, err
	}
	id := &Identity{PID: sock.cred.Pid, UID: sock.cred.Uid, GID: sock.cred.Gid, Groups: sock.groups}
	if sock.pidfd >= 0 {
		id.pidfd = os.NewFile(uintptr(sock.pidfd), "pidfd")
	}

	if err := id.readProc(r, acceptedAt); err != nil {
		id.Close()
		return nil, err
	}
	return id, nil
}

// readProc fills the /proc parts of the snapshot and confirms the process
// is the one that connected.
func (id *Identity) readProc(r *Reader, acceptedAt uint64) error {
	if err := id.checkIDs(); err != nil {
		return err
	}

	if id.pidfd == nil {
		r.warnOnce.Do(func() {
			r.opts.Log.Warn("SO_PEERPIDFD is not available (Linux 6.5 or later provides it); confirming callers by process start time, which a pid reused within one clock tick can defeat")
		})
		id.Liveness = LivenessStartTime
	} else {
		id.Liveness = LivenessPIDFD
	}

	start, err := readStartTime(id.PID)
	if err != nil {
		return id.unverifiable("read start time: %v", err)
	}
	id.StartTime = start

	exe, err := r.readExecutable(id.PID)
	switch {
	case errors.Is(err, fs.ErrPermission):
		// Only the executable needs ptrace access. The rest of the
		// snapshot stays verified, and rules that need the executable
		// fail closed.
		exe = Executable{Unavailable: fmt.Sprintf("the daemon may not read /proc/%d/exe (%v); executable selectors need root or CAP_SYS_PTRACE", id.PID, err)}
		r.exeWarnOnce.Do(func() {
			r.opts.Log.Warn("cannot read the executables of other users' processes; caller rules with executable or executable_sha256 will not match them until the daemon runs as root or with CAP_SYS_PTRACE",
				slog.Int(logkey.CallerPID, int(id.PID)), slog.Uint64(logkey.CallerUID, uint64(id.UID)), slog.String(logkey.Error, err.Error()))
		})
	case err != nil:
		return id.unverifiable("read executable: %v", err)
	}
	id.Exe = exe

	cg, err := readCgroup(id.PID)
	if err != nil {
		return id.unverifiable("read cgroup: %v", err)
	}
	id.Cgroup = cg

	if id.pidfd == nil && start > acceptedAt {
		return id.unverifiable("process started after the connection was accepted, so pid %d was reused", id.PID)
	}
	return id.confirmAlive()
}

// checkIDs rejects peers whose ids the daemon cannot trust.
func (id *Identity) checkIDs() error {
	if id.PID == 0 {
		return fmt.Errorf("%w: peer pid is 0, so it runs in another pid namespace", ErrUnverifiable)
	}
	if id.UID == OverflowID || id.GID == OverflowID {
		return fmt.Errorf("%w: peer uid %d gid %d is the overflow id of an unmapped user namespace", ErrUnverifiable, id.UID, id.GID)
	}
	return nil
}

// confirmAlive checks that the process the snapshot was taken from still
// runs: through the pidfd, or by the start time at pid.
func (id *Identity) confirmAlive() error {
	id.mu.Lock()
	defer id.mu.Unlock()

	if id.closed {
		return id.unverifiable("identity was closed with its connection")
	}
	if id.pidfd != nil {
		exited, err := pidfdExited(int(id.pidfd.Fd()))
		if err != nil {
			return id.unverifiable("poll pidfd: %v", err)
		}
		if exited {
			return id.unverifiable("process exited after connecting; its pid may now belong to another process")
		}
		return nil
	}

	start, err := readStartTime(id.PID)
	if err != nil {
		return id.unverifiable("process exited after connecting: %v", err)
	}
	if start != id.StartTime {
		return id.unverifiable("process start time changed from %d to %d, so pid %d was reused", id.StartTime, start, id.PID)
	}
	return nil
}

// Recheck confirms that the process is still alive and runs the same
// executable (device and inode) as in the snapshot. The pipeline calls it
// just before signing.
func (id *Identity) Recheck() error {
	if err := id.confirmAlive(); err != nil {
		return err
	}
	if id.Exe.Unavailable != "" {
		// No rule could have matched on the executable, and an exec does
		// not change the uid, gids or cgroup that rules did match.
		return nil
	}

	dev, ino, err := statExecutable(id.PID)
	if err != nil {
		return id.unverifiable("stat executable: %v", err)
	}
	if dev != id.Exe.Device || ino != id.Exe.Inode {
		return id.unverifiable("process now runs another executable (device %d inode %d, was device %d inode %d at connect); it executed a new program after connecting",
			dev, ino, id.Exe.Device, id.Exe.Inode)
	}

	// The stat above may have seen a new process that reused the pid;
	// confirming liveness after it rules that out.
	return id.confirmAlive()
}

// HasPIDFD reports whether the snapshot holds a pidfd from SO_PEERPIDFD.
func (id *Identity) HasPIDFD() bool { return id.Liveness == LivenessPIDFD }

// Close releases the pidfd. It is safe to call more than once.
func (id *Identity) Close() error {
	id.mu.Lock()
	defer id.mu.Unlock()

	id.closed = true
	if id.pidfd == nil {
		return nil
	}
	err := id.pidfd.Close()
	id.pidfd = nil
	return err
}

func (id *Identity) unverifiable(format string, args ...any) error {
	return fmt.Errorf("%w: pid %d uid %d: %s", ErrUnverifiable, id.PID, id.UID, fmt.Sprintf(format, args...))
}
