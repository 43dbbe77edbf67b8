// Package logging builds the daemon's slog logger. It writes text or JSON
// to stderr, or native journald entries when systemd connected stderr to
// the journal. Journal field names are the logkey names in upper case
// (correlation_id becomes CORRELATION_ID), so `journalctl
// CORRELATION_ID=...` finds every line of one request.
//
// The journal handler is used only when JOURNAL_STREAM names the device
// and inode of stderr, as systemd.exec(5) describes: the handler reports
// success even when no journal socket exists, so using it elsewhere would
// lose every record.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	slogjournal "github.com/systemd/slog-journal"
	"golang.org/x/sys/unix"
)

// Options select the logger.
type Options struct {
	// Format is "text" or "json" for stderr. The journal ignores it.
	Format string

	// Level is the starting level; the returned LevelVar changes it later.
	Level string

	// Journal allows the journal handler when JOURNAL_STREAM matches.
	Journal bool
}

// New returns a logger writing to stderr (or the journal) and the level
// variable that controls it.
func New(stderr *os.File, opts Options) (*slog.Logger, *slog.LevelVar, error) {
	level := new(slog.LevelVar)
	var l slog.Level
	if err := l.UnmarshalText([]byte(opts.Level)); err != nil {
		return nil, nil, fmt.Errorf("invalid log level %q; use debug, info, warn or error", opts.Level)
	}
	level.Set(l)

	if opts.Journal && StderrIsJournal(stderr) {
		h, err := slogjournal.NewHandler(&slogjournal.Options{
			Level:        level,
			ReplaceAttr:  journalAttr,
			ReplaceGroup: journalKey,
		})
		if err == nil {
			return slog.New(h), level, nil
		}
		// Fall back to stderr, which systemd still forwards as plain
		// lines.
		fmt.Fprintf(stderr, "signerd: journal handler unavailable (%v); logging text to stderr\n", err)
	}

	h, err := streamHandler(stderr, opts.Format, level)
	if err != nil {
		return nil, nil, err
	}
	return slog.New(h), level, nil
}

func streamHandler(w io.Writer, format string, level slog.Leveler) (slog.Handler, error) {
	ho := &slog.HandlerOptions{Level: level}
	switch format {
	case "json":
		return slog.NewJSONHandler(w, ho), nil
	case "text", "":
		return slog.NewTextHandler(w, ho), nil
	}
	return nil, fmt.Errorf("unknown log format %q; use text or json", format)
}

// StderrIsJournal reports whether JOURNAL_STREAM ("DEV:INODE") names f.
func StderrIsJournal(f *os.File) bool {
	v := os.Getenv("JOURNAL_STREAM")
	if v == "" {
		return false
	}
	var dev, ino uint64
	if _, err := fmt.Sscanf(v, "%d:%d", &dev, &ino); err != nil {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return uint64(st.Dev) == dev && st.Ino == ino
}

// journalKey turns a logkey name into a journal field name, which must
// match [A-Z_][A-Z0-9_]* and not start with "_" (reserved for journald).
func journalKey(k string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(k) {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.TrimLeft(b.String(), "_0123456789")
	if out == "" {
		return "FIELD"
	}
	return out
}

func journalAttr(_ []string, a slog.Attr) slog.Attr {
	a.Key = journalKey(a.Key)
	return a
}
