package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// memoryParts splits a process's resident memory by kind of mapping.
type memoryParts struct {
	// ExecAnonKiB is resident anonymous executable memory: the machine
	// code wazero compiled from WebAssembly modules.
	ExecAnonKiB int64

	// BinaryKiB is resident memory mapped from the daemon's executable.
	BinaryKiB int64

	// OtherAnonKiB is the remaining anonymous memory: the Go heap and
	// stacks, and the linear memories of extension instances.
	OtherAnonKiB int64

	// OtherKiB is everything else (shared libraries, the vDSO).
	OtherKiB int64
}

// readMemoryParts reads /proc/PID/smaps.
func readMemoryParts(pid int, binary string) (memoryParts, error) {
	var m memoryParts
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return m, err
	}
	defer f.Close()

	var perms, path string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if strings.Contains(fields[0], "-") && len(fields) >= 5 {
			// A mapping header: range perms offset dev inode [path].
			perms, path = fields[1], ""
			if len(fields) >= 6 {
				path = strings.Join(fields[5:], " ")
			}
			continue
		}
		if fields[0] != "Rss:" || len(fields) < 2 {
			continue
		}
		kib, _ := strconv.ParseInt(fields[1], 10, 64)
		switch {
		case path == "" && strings.Contains(perms, "x"):
			m.ExecAnonKiB += kib
		case path == binary:
			m.BinaryKiB += kib
		case path == "" || path == "[heap]" || path == "[stack]":
			m.OtherAnonKiB += kib
		default:
			m.OtherKiB += kib
		}
	}
	return m, sc.Err()
}
