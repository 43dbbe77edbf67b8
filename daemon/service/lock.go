package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFileName is the file in the state directory that one daemon holds
// locked for its whole life.
const lockFileName = "signerd.lock"

// lockStateDir takes an exclusive lock on the state directory, so a second
// daemon with the same state_dir stops before it touches the key, the
// audit trail or any cache. Two writers would break the audit chain.
// The lock is released when the process exits, however it exits.
func lockStateDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}

	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := readPID(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("state directory %s is in use by another signerd%s; stop it, or give this daemon its own state_dir", dir, holder)
		}
		return nil, fmt.Errorf("lock state directory %s: %w", dir, err)
	}

	// The pid is informational, for the message above; the lock is what
	// counts.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func readPID(f *os.File) string {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid := strings.TrimSpace(string(buf[:n]))
	if _, err := strconv.Atoi(pid); err != nil {
		return ""
	}
	return " (pid " + pid + ")"
}
