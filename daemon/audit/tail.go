package audit

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/signerd/signerd/daemon/logkey"
)

// openTail finds the chain's last record and opens the last file for
// appending. A torn last line, bytes after the last newline that a crash
// left behind, is truncated and logged. A complete last line that does
// not decode is corruption, not a crash, and is reported as an error
// rather than repaired, so that the daemon never erases evidence.
func (t *Trail) openTail() error {
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return fmt.Errorf("audit trail cannot be opened: %w", err)
	}
	names, err := listFiles(t.dir)
	if err != nil {
		return fmt.Errorf("audit trail cannot be opened: %w", err)
	}
	t.seq, t.prev = 0, ZeroHash
	if len(names) == 0 {
		return t.checkCommitted()
	}

	lastPath := join(t.dir, names[len(names)-1])
	size, err := t.repairTail(lastPath)
	if err != nil {
		return err
	}

	// The last file may be empty when a crash came right after a
	// rotation; the last record is then in an earlier file.
	for i := len(names) - 1; i >= 0; i-- {
		path := join(t.dir, names[i])
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("audit trail cannot be read: %w", err)
		}
		line, number, _ := lastLine(data)
		if line == nil {
			continue
		}
		rec, err := Decode(line)
		if err != nil {
			return fmt.Errorf("audit trail record at %s line %d is corrupt (%v); run signerctl audit verify %s, and move the damaged file aside to resume signing",
				path, number, err, t.dir)
		}
		t.seq, t.prev = rec.Seq, rec.Hash
		break
	}

	if first, _ := parseFileName(names[len(names)-1]); size == 0 && first != t.seq+1 {
		return fmt.Errorf("audit trail file %s is empty but its name says it starts at record %d, while the last record is %d; remove the empty file to resume signing",
			lastPath, first, t.seq)
	}

	if err := t.checkCommitted(); err != nil {
		return err
	}

	f, err := os.OpenFile(lastPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("audit trail cannot be opened: %w", err)
	}
	t.file, t.path, t.size = f, lastPath, size
	return nil
}

// repairTail truncates bytes after the last newline of path and returns
// the file's size afterwards.
func (t *Trail) repairTail(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("audit trail cannot be read: %w", err)
	}
	_, number, end := lastLine(data)
	if end == int64(len(data)) {
		return end, nil
	}

	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("audit trail cannot be repaired: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(end); err != nil {
		return 0, fmt.Errorf("audit trail cannot be repaired: truncate %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("audit trail cannot be repaired: sync %s: %w", path, err)
	}
	t.log.Warn("audit trail ended in a torn line, probably from a crash; truncated it after the last complete record",
		slog.String(logkey.AuditFile, path), slog.Int("line", number+1), slog.Int64("removed_bytes", int64(len(data))-end))
	return end, nil
}

// checkCommitted fails when the trail on disk ends before the last record
// this process made durable, so the writer never restarts the chain over
// removed records.
func (t *Trail) checkCommitted() error {
	if t.seq < t.committed {
		return fmt.Errorf("audit trail in %s ends at record %d, but record %d was already written; records were removed. Restore them, or restart signerd to continue from record %d",
			t.dir, t.seq, t.committed, t.seq+1)
	}
	return nil
}
