package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signerd/signerd/daemon/logkey"
)

// Defaults of Options.
const (
	DefaultMaxFileBytes  = 64 << 20
	DefaultProbeInterval = time.Second
	DefaultMaxBatch      = 1024
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit trail is closed")

// Options configure a Trail.
type Options struct {
	// MaxFileBytes is the size after which the next batch starts a new
	// file. A single batch may make a file larger.
	MaxFileBytes int64

	// ProbeInterval is how often a failed trail checks whether it can
	// write again.
	ProbeInterval time.Duration

	// MaxBatch bounds the records that share one fsync.
	MaxBatch int

	Log *slog.Logger
}

// Trail is an open audit trail. It is safe for concurrent use; one
// goroutine owns the files and commits the records.
type Trail struct {
	dir  string
	opts Options
	log  *slog.Logger

	// mu guards closed against Append sending on reqs during Close.
	mu     sync.RWMutex
	closed bool
	reqs   chan *pending
	quit   chan struct{}
	done   chan struct{}

	failure atomic.Pointer[error]
	records atomic.Uint64
	fsyncs  atomic.Uint64

	// The fields below belong to the writer goroutine.
	file *os.File
	path string
	size int64
	seq  uint64
	prev string
	buf  []byte

	// committed is the highest sequence number made durable by this
	// process. Reopening a trail that ends before it means records were
	// removed behind the writer's back.
	committed uint64
	closeErr  error

	// testHookGather, when set by a test, runs in the writer after it takes
	// a batch's first record and before it gathers the rest.
	testHookGather func()
}

type pending struct {
	rec  *Record
	done chan error
}

// Open opens the trail in dir, creating dir if needed, and starts its
// writer. It finds the last record, and truncates a torn last line left
// by a crash, logging what it removed. When the trail cannot be opened
// (for example, its last record is corrupt or the directory is not
// writable), Open still returns a Trail, in the failed state. Append then
// fails and Health returns the reason until a retry succeeds.
func Open(dir string, opts Options) *Trail {
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = DefaultProbeInterval
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}

	t := &Trail{
		dir:  dir,
		opts: opts,
		log:  opts.Log,
		reqs: make(chan *pending, opts.MaxBatch),
		quit: make(chan struct{}),
		done: make(chan struct{}),
		prev: ZeroHash,
	}
	if err := t.openTail(); err != nil {
		t.setFailure(err)
	} else {
		t.log.Info("audit trail opened", slog.String(logkey.AuditDir, dir), slog.Uint64(logkey.AuditSeq, t.seq))
	}
	go t.run()
	return t
}

// Dir returns the trail's directory.
func (t *Trail) Dir() string { return t.dir }

// Append sequences rec, writes it and waits until it is durable. On
// success rec.Seq, rec.ID, rec.Time, rec.Prev and rec.Hash are set.
// Concurrent calls share one write and one fsync. An error means the
// record is not known to be durable; the caller must not act on the
// decision it describes. A record may still reach the disk after an
// error, never the other way round.
func (t *Trail) Append(ctx context.Context, rec *Record) error {
	p := &pending{rec: rec, done: make(chan error, 1)}

	t.mu.RLock()
	if t.closed {
		t.mu.RUnlock()
		return ErrClosed
	}
	select {
	case t.reqs <- p:
	case <-ctx.Done():
		t.mu.RUnlock()
		return ctx.Err()
	}
	t.mu.RUnlock()

	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Health returns nil when the last write or probe succeeded, and
// otherwise the reason the trail cannot be written.
func (t *Trail) Health() error {
	if p := t.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// Stats are counters since Open.
type Stats struct {
	// Records counts durable records.
	Records uint64

	// Fsyncs counts successful commits, each one fsync of the trail file.
	Fsyncs uint64
}

// Stats returns the trail's counters.
func (t *Trail) Stats() Stats {
	return Stats{Records: t.records.Load(), Fsyncs: t.fsyncs.Load()}
}

// Close commits the records already queued, syncs and closes the file.
// Append calls after Close return ErrClosed.
func (t *Trail) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		<-t.done
		return t.closeErr
	}
	t.closed = true
	t.mu.Unlock()

	close(t.quit)
	<-t.done
	return t.closeErr
}

func (t *Trail) run() {
	defer close(t.done)
	probe := time.NewTicker(t.opts.ProbeInterval)
	defer probe.Stop()

	for {
		select {
		case p := <-t.reqs:
			t.commit(t.gather(p))
		case <-probe.C:
			if t.Health() != nil {
				t.probe()
			}
		case <-t.quit:
			for {
				select {
				case p := <-t.reqs:
					t.commit(t.gather(p))
					continue
				default:
				}
				break
			}
			t.closeFile()
			return
		}
	}
}

// gather collects the requests already queued behind first, so that they
// share one write and fsync.
func (t *Trail) gather(first *pending) []*pending {
	if t.testHookGather != nil {
		t.testHookGather()
	}
	batch := []*pending{first}
	for len(batch) < t.opts.MaxBatch {
		select {
		case p := <-t.reqs:
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

func (t *Trail) commit(batch []*pending) {
	err := t.writeBatch(batch)
	if err != nil {
		t.setFailure(err)
	} else {
		t.clearFailure()
		t.records.Add(uint64(len(batch)))
		t.fsyncs.Add(1)
	}
	for _, p := range batch {
		p.done <- err
	}
}

// writeBatch sequences, writes and syncs the batch. The chain position
// advances only when the fsync succeeded. On failure the file is cut back
// to its last committed size and closed, so the next batch reopens it.
func (t *Trail) writeBatch(batch []*pending) error {
	if t.file == nil {
		if err := t.openTail(); err != nil {
			return err
		}
	}
	if err := t.checkFile(); err != nil {
		t.file.Close()
		t.file = nil
		return err
	}

	now := time.Now().UTC().Format(time.RFC3339Nano)
	seq, prev := t.seq, t.prev
	buf := t.buf[:0]
	for _, p := range batch {
		seq++
		r := p.rec
		r.Version = FormatVersion
		r.Seq = seq
		r.ID = strconv.FormatUint(seq, 10)
		r.Time = now
		r.Prev = prev
		buf = AppendLine(buf, r)
		prev = r.Hash
	}
	t.buf = buf

	if t.file == nil || (t.size > 0 && t.size+int64(len(buf)) > t.opts.MaxFileBytes) {
		if err := t.rotate(t.seq + 1); err != nil {
			return err
		}
	}

	if _, err := t.file.Write(buf); err != nil {
		t.undo()
		return fmt.Errorf("audit trail cannot be written: %w", err)
	}
	if err := t.file.Sync(); err != nil {
		t.undo()
		return fmt.Errorf("audit trail cannot be synced: %w", err)
	}
	t.size += int64(len(buf))
	t.seq, t.prev = seq, prev
	t.committed = seq
	return nil
}

// checkFile fails when the open file is no longer the one at its path,
// because the file or the directory was removed or replaced. Records
// written to an unlinked file would be lost, so the writer stops.
func (t *Trail) checkFile() error {
	if t.file == nil {
		return nil
	}
	open, err := t.file.Stat()
	if err != nil {
		return fmt.Errorf("audit trail cannot be checked: %w", err)
	}
	onDisk, err := os.Stat(t.path)
	if err != nil || !os.SameFile(open, onDisk) {
		return fmt.Errorf("audit trail file %s was removed or replaced while signerd had it open; restore it, or restart signerd to start a new file", t.path)
	}
	return nil
}

// undo cuts the file back to the last committed size and closes it.
func (t *Trail) undo() {
	if err := t.file.Truncate(t.size); err != nil {
		t.log.Error("audit trail cannot be cut back after a failed write; the next open repairs it",
			slog.String(logkey.AuditFile, t.path), slog.String(logkey.Error, err.Error()))
	}
	t.file.Close()
	t.file = nil
}

// rotate syncs and closes the current file and creates the next one,
// named after the sequence number of its first record.
func (t *Trail) rotate(firstSeq uint64) error {
	if t.file != nil {
		if err := t.file.Sync(); err != nil {
			t.undo()
			return fmt.Errorf("audit trail cannot be synced: %w", err)
		}
		t.file.Close()
		t.file = nil
		t.log.Info("audit trail file full, starting the next", slog.String(logkey.AuditFile, t.path),
			slog.Int64("bytes", t.size))
	}

	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return fmt.Errorf("audit trail cannot be written: %w", err)
	}
	path := join(t.dir, fileName(firstSeq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("audit trail cannot be written: %w", err)
	}
	if firstSeq == 1 {
		// The directory itself may be new; make its entry durable too.
		if err := syncDir(filepath.Dir(t.dir)); err != nil {
			f.Close()
			os.Remove(path)
			return fmt.Errorf("audit trail cannot be written: %w", err)
		}
	}
	if err := syncDir(t.dir); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("audit trail cannot be written: %w", err)
	}
	t.file, t.path, t.size = f, path, 0
	return nil
}

func (t *Trail) closeFile() {
	if t.file == nil {
		return
	}
	if err := t.file.Sync(); err != nil {
		t.closeErr = fmt.Errorf("sync %s: %w", t.path, err)
	}
	if err := t.file.Close(); err != nil && t.closeErr == nil {
		t.closeErr = err
	}
	t.file = nil
}

// probe checks whether a failed trail can write again: it reopens the
// trail file if needed and writes and syncs a scratch file of one page.
// Success clears the failure, so health turns ok before the next request.
func (t *Trail) probe() {
	if t.file == nil {
		if err := t.openTail(); err != nil {
			t.setFailure(err)
			return
		}
	}
	if err := probeWrite(t.dir); err != nil {
		t.setFailure(fmt.Errorf("audit trail cannot be written: %w", err))
		return
	}
	t.clearFailure()
}

func probeWrite(dir string) error {
	path := join(dir, ".probe")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	_, err = f.Write(make([]byte, 4096))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// setFailure records err for Health. It logs an error only when the trail
// turns from healthy to failed, so retries and probes do not flood the
// log. Later reasons are logged at debug level.
func (t *Trail) setFailure(err error) {
	prev := t.failure.Swap(&err)
	if prev == nil {
		t.log.Error("audit trail failed; signing is stopped until it can be written",
			slog.String(logkey.AuditDir, t.dir), slog.String(logkey.Error, err.Error()))
		return
	}
	t.log.Debug("audit trail still cannot be written", slog.String(logkey.AuditDir, t.dir), slog.String(logkey.Error, err.Error()))
}

func (t *Trail) clearFailure() {
	if prev := t.failure.Swap(nil); prev != nil {
		t.log.Info("audit trail can be written again; signing resumed", slog.String(logkey.AuditDir, t.dir))
	}
}
