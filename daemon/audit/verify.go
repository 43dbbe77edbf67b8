package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxLineBytes bounds one record line when verifying, so a damaged file
// cannot exhaust memory.
const MaxLineBytes = 1 << 20

// Report is the result of Verify.
type Report struct {
	Dir   string `json:"dir"`
	Files int    `json:"files"`

	// Records counts the records that verified before any break.
	Records uint64 `json:"records"`

	// LastSeq and LastHash name the last record that verified.
	LastSeq  uint64 `json:"lastSeq"`
	LastHash string `json:"lastHash"`

	// Break is the first place the chain is broken, nil when it verifies.
	Break *Break `json:"break,omitempty"`
}

// Break locates the first record where the chain does not verify.
type Break struct {
	File string `json:"file"`

	// Line is 1-based within File.
	Line int `json:"line"`

	// Seq is the sequence number the verifier expected at that line.
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
}

func (b *Break) String() string {
	return fmt.Sprintf("%s:%d: record %d: %s", b.File, b.Line, b.Seq, b.Reason)
}

// Verify reads every trail file in dir in chain order and checks the
// chain. Each line must be a complete record whose hash matches its
// content, and sequence numbers must count up from 1 without a gap. Each
// record's prev must be the hash of the record before it (ZeroHash for
// the first), and each file's name must give the sequence number of its
// first record. Verify stops at the first break. The error is for a directory that cannot be read; a
// broken chain is reported in Report.Break.
func Verify(dir string) (*Report, error) {
	names, err := listFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no audit trail files (%s*%s) in %s; the daemon writes the first with its first sign request's record, so a daemon that has served none has no trail yet", filePrefix, fileSuffix, dir)
	}

	v := &verifier{report: &Report{Dir: dir, Files: len(names), LastHash: ZeroHash}}
	for _, name := range names {
		if err := v.file(join(dir, name), name); err != nil {
			return nil, err
		}
		if v.report.Break != nil {
			break
		}
	}
	return v.report, nil
}

type verifier struct {
	report *Report
}

func (v *verifier) fail(file string, line int, reason string) {
	v.report.Break = &Break{File: file, Line: line, Seq: v.report.LastSeq + 1, Reason: reason}
}

func (v *verifier) file(path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()

	first, _ := parseFileName(name)
	r := bufio.NewReaderSize(f, 64<<10)
	for number := 1; ; number++ {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil
		}
		switch {
		case errors.Is(err, io.EOF):
			v.fail(path, number, "last line is incomplete (a torn write); signerd truncates it at its next start")
			return nil
		case errors.Is(err, errLineTooLong):
			v.fail(path, number, fmt.Sprintf("line is longer than %d bytes", MaxLineBytes))
			return nil
		case err != nil:
			return err
		}

		rec, err := Decode(line)
		if err != nil {
			v.fail(path, number, err.Error())
			return nil
		}
		want := v.report.LastSeq + 1
		switch {
		case rec.Seq != want:
			v.fail(path, number, fmt.Sprintf("sequence number is %d, expected %d (a record was removed, inserted or moved)", rec.Seq, want))
			return nil
		case number == 1 && first != rec.Seq:
			v.fail(path, number, fmt.Sprintf("file name says the file starts at record %d, but its first record is %d", first, rec.Seq))
			return nil
		case rec.Prev != v.report.LastHash:
			v.fail(path, number, fmt.Sprintf("prev is %s, but the record before hashes to %s (a record before it was changed or replaced)", rec.Prev, v.report.LastHash))
			return nil
		}
		v.report.Records++
		v.report.LastSeq, v.report.LastHash = rec.Seq, rec.Hash
	}
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its newline. At the end of the
// input it returns io.EOF, with the bytes of an unterminated last line.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxLineBytes+1 {
			return nil, errLineTooLong
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(line, []byte{'\n'}), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return line, err
		}
	}
}
