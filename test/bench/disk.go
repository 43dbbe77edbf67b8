package main

import (
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// syncLatency appends a record-sized line to a file in dir and syncs it,
// n times, as the audit trail does for each group of records, and returns
// the median time of one append and sync. It bounds the daemon's latency:
// no signature is returned before its record is synced.
func syncLatency(dir string, n int) (time.Duration, error) {
	f, err := os.CreateTemp(dir, "sync-*.jsonl")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()

	line := make([]byte, 600)
	for i := range line {
		line[i] = 'x'
	}
	line[len(line)-1] = '\n'

	times := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := f.Write(line); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
		times = append(times, time.Since(start))
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// memoryDir returns a new directory on a tmpfs, or "" when /dev/shm is
// not one. The caller removes it.
func memoryDir() (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil || st.Type != unix.TMPFS_MAGIC {
		return "", nil
	}
	dir, err := os.MkdirTemp("/dev/shm", "sdbench-")
	if err != nil {
		return "", err
	}
	return filepath.Clean(dir), nil
}
