package audit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTrail appends n records with the given file size limit and
// returns the trail's files in order.
func writeTrail(t *testing.T, dir string, n int, maxFileBytes int64) []string {
	t.Helper()
	tr := Open(dir, Options{MaxFileBytes: maxFileBytes})
	for i := range n {
		if err := tr.Append(context.Background(), testRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	names, err := listFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(data, []byte("\n"))[:bytes.Count(data, []byte("\n"))]
}

func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyReportsFirstBreak(t *testing.T) {
	tests := []struct {
		name string
		// damage changes the trail in dir, whose files are names.
		damage   func(t *testing.T, dir string, names []string)
		fileIdx  int
		line     int
		seq      uint64
		reason   string
		verified uint64
	}{
		{
			name: "edited field",
			damage: func(t *testing.T, dir string, names []string) {
				p := filepath.Join(dir, names[0])
				lines := readLines(t, p)
				lines[2] = bytes.Replace(lines[2], []byte(`"tenant":"dev"`), []byte(`"tenant":"ops"`), 1)
				writeLines(t, p, lines)
			},
			line: 3, seq: 3, reason: "the record was changed", verified: 2,
		},
		{
			name: "edited record with a recomputed hash",
			damage: func(t *testing.T, dir string, names []string) {
				p := filepath.Join(dir, names[0])
				lines := readLines(t, p)
				rec, err := Decode(bytes.TrimSuffix(lines[2], []byte("\n")))
				if err != nil {
					t.Fatal(err)
				}
				rec.Outcome = OutcomeDenied
				line, err := Encode(rec)
				if err != nil {
					t.Fatal(err)
				}
				lines[2] = line
				writeLines(t, p, lines)
			},
			line: 4, seq: 4, reason: "prev is", verified: 3,
		},
		{
			name: "deleted record",
			damage: func(t *testing.T, dir string, names []string) {
				p := filepath.Join(dir, names[0])
				lines := readLines(t, p)
				writeLines(t, p, append(lines[:2:2], lines[3:]...))
			},
			line: 3, seq: 3, reason: "sequence number is 4, expected 3", verified: 2,
		},
		{
			name: "reordered records",
			damage: func(t *testing.T, dir string, names []string) {
				p := filepath.Join(dir, names[0])
				lines := readLines(t, p)
				lines[3], lines[4] = lines[4], lines[3]
				writeLines(t, p, lines)
			},
			line: 4, seq: 4, reason: "sequence number is 5, expected 4", verified: 3,
		},
		{
			name: "torn last line",
			damage: func(t *testing.T, dir string, names []string) {
				p := filepath.Join(dir, names[len(names)-1])
				data, _ := os.ReadFile(p)
				os.WriteFile(p, data[:len(data)-10], 0o600)
			},
			fileIdx: -1, reason: "torn write",
		},
		{
			name: "deleted middle file",
			damage: func(t *testing.T, dir string, names []string) {
				os.Remove(filepath.Join(dir, names[1]))
			},
			fileIdx: 2, line: 1, reason: "expected",
		},
		{
			name: "deleted first file",
			damage: func(t *testing.T, dir string, names []string) {
				os.Remove(filepath.Join(dir, names[0]))
			},
			fileIdx: 1, line: 1, seq: 1, reason: "expected 1", verified: 0,
		},
		{
			name: "renamed file",
			damage: func(t *testing.T, dir string, names []string) {
				os.Rename(filepath.Join(dir, names[1]), filepath.Join(dir, "audit-00000000000000000002.jsonl"))
			},
			fileIdx: -2, line: 1, reason: "file name says the file starts at record 2",
		},
		{
			name: "not JSON",
			damage: func(t *testing.T, dir string, names []string) {
				p := filepath.Join(dir, names[0])
				lines := readLines(t, p)
				lines[0] = []byte("garbage\n")
				writeLines(t, p, lines)
			},
			line: 1, seq: 1, reason: `does not end with a "hash" member`, verified: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			names := writeTrail(t, dir, 30, 5000)
			if len(names) < 3 {
				t.Fatalf("want at least 3 files, got %d", len(names))
			}
			mustVerify(t, dir, 30)

			tt.damage(t, dir, names)
			rep, err := Verify(dir)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Break == nil {
				t.Fatalf("damaged chain verified: %+v", rep)
			}
			b := rep.Break

			wantFile := ""
			switch {
			case tt.fileIdx == -1:
				wantFile = names[len(names)-1]
			case tt.fileIdx == -2:
				wantFile = "audit-00000000000000000002.jsonl"
			default:
				wantFile = names[tt.fileIdx]
			}
			if filepath.Base(b.File) != wantFile {
				t.Errorf("break in %s, want %s (%s)", filepath.Base(b.File), wantFile, b)
			}
			if tt.line != 0 && b.Line != tt.line {
				t.Errorf("break at line %d, want %d (%s)", b.Line, tt.line, b)
			}
			if tt.seq != 0 && b.Seq != tt.seq {
				t.Errorf("break at record %d, want %d (%s)", b.Seq, tt.seq, b)
			}
			if !strings.Contains(b.Reason, tt.reason) {
				t.Errorf("break reason %q does not contain %q", b.Reason, tt.reason)
			}
			if tt.fileIdx == 0 && rep.Records != tt.verified {
				t.Errorf("%d records verified before the break, want %d", rep.Records, tt.verified)
			}
		})
	}
}

func TestVerifyEmptyDirectory(t *testing.T) {
	if _, err := Verify(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no audit trail files") {
		t.Fatalf("verify of an empty directory: %v", err)
	}
}

func TestDecodeRejectsTampering(t *testing.T) {
	rec := testRecord(1)
	rec.Version, rec.Seq, rec.ID, rec.Prev = FormatVersion, 1, "1", ZeroHash
	line, err := Encode(rec)
	if err != nil {
		t.Fatal(err)
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	if _, err := Decode(line); err != nil {
		t.Fatalf("decode of an encoded record: %v", err)
	}

	tests := []struct {
		name string
		line []byte
	}{
		{"changed value", bytes.Replace(line, []byte(`"uid":1000`), []byte(`"uid":0`), 1)},
		{"hash removed", line[:len(line)-hashSuffixLen]},
		{"extra member", bytes.Replace(line, []byte(`{"v":1`), []byte(`{"x":1,"v":1`), 1)},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode(tt.line); err == nil {
				t.Errorf("decode accepted %q", tt.line)
			}
		})
	}
}
