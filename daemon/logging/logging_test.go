package logging

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestJournalKey(t *testing.T) {
	cases := []struct{ in, want string }{
		{"correlation_id", "CORRELATION_ID"},
		{"caller_uid", "CALLER_UID"},
		{"duration_ms", "DURATION_MS"},
		{"key.uri", "KEY_URI"},
		{"_private", "PRIVATE"},
		{"9lives", "LIVES"},
		{"__", "FIELD"},
	}
	for _, c := range cases {
		if got := journalKey(c.in); got != c.want {
			t.Errorf("journalKey(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestStderrIsJournal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		env  string
		want bool
	}{
		{"unset", "", false},
		{"matching", fmt.Sprintf("%d:%d", st.Dev, st.Ino), true},
		{"other inode", fmt.Sprintf("%d:%d", st.Dev, st.Ino+1), false},
		{"garbage", "journal", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("JOURNAL_STREAM", c.env)
			if got := StderrIsJournal(f); got != c.want {
				t.Errorf("StderrIsJournal with JOURNAL_STREAM=%q = %v, want %v", c.env, got, c.want)
			}
		})
	}
}

func TestNewFallsBackWithoutJournal(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	log, level, err := New(f, Options{Format: "json", Level: "warn", Journal: true})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "correlation_id", "abc")
	data, _ := os.ReadFile(f.Name())
	if got := string(data); !contains(got, `"correlation_id":"abc"`) || contains(got, "hidden") {
		t.Fatalf("stderr log = %q, want only the warn line with correlation_id", got)
	}
	if level.Level().String() != "WARN" {
		t.Fatalf("level = %s, want WARN", level.Level())
	}

	if _, _, err := New(f, Options{Format: "xml", Level: "info"}); err == nil {
		t.Fatal("format xml accepted")
	}
	if _, _, err := New(f, Options{Format: "text", Level: "loud"}); err == nil {
		t.Fatal("level loud accepted")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
