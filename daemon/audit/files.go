package audit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// File names are "audit-" + the sequence number of the file's first
// record in 20 decimal digits + ".jsonl", so that sorting by name sorts by
// position in the chain.
const (
	filePrefix = "audit-"
	fileSuffix = ".jsonl"
)

func fileName(firstSeq uint64) string {
	return fmt.Sprintf("%s%020d%s", filePrefix, firstSeq, fileSuffix)
}

// parseFileName returns the first sequence number named by a trail file
// name, and false for any other name.
func parseFileName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, filePrefix) || !strings.HasSuffix(name, fileSuffix) {
		return 0, false
	}
	digits := strings.TrimSuffix(strings.TrimPrefix(name, filePrefix), fileSuffix)
	if len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// listFiles returns the trail files in dir in chain order. Other names
// are ignored.
func listFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if _, ok := parseFileName(e.Name()); ok && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// lastLine returns the last complete line of data without its newline,
// its 1-based line number, and the offset just past it. A torn tail
// after the last newline is not part of any line.
func lastLine(data []byte) (line []byte, number int, end int64) {
	end = int64(bytes.LastIndexByte(data, '\n') + 1)
	if end == 0 {
		return nil, 0, 0
	}
	complete := data[:end-1]
	start := bytes.LastIndexByte(complete, '\n') + 1
	return complete[start:], bytes.Count(data[:end], []byte{'\n'}), end
}

// syncDir makes a created or removed directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

func join(dir, name string) string { return filepath.Join(dir, name) }
