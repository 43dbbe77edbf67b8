package peercred

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// userHZ is the unit of the times in /proc/PID/stat. Linux fixes it at
// 100 on every architecture the daemon runs on.
const userHZ = 100

// procPath returns /proc/PID/name.
func procPath(pid int32, name string) string {
	return "/proc/" + strconv.Itoa(int(pid)) + "/" + name
}

// ProcessStartTime returns field 22 of /proc/PID/stat, the start time in
// clock ticks since boot, which Identity.StartTime holds.
func ProcessStartTime(pid int32) (uint64, error) { return readStartTime(pid) }

func readStartTime(pid int32) (uint64, error) {
	data, err := os.ReadFile(procPath(pid, "stat"))
	if err != nil {
		return 0, err
	}
	return parseStartTime(data)
}

// parseStartTime extracts field 22 from a /proc/PID/stat line. The
// command name (field 2) is in parentheses and may itself contain spaces
// and parentheses, so fields are counted from the last ')'.
func parseStartTime(stat []byte) (uint64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("invalid /proc/PID/stat: no ')' after the command name")
	}
	fields := strings.Fields(string(stat[end+1:]))

	// fields[0] is field 3 (state), so field 22 is fields[19].
	const index = 22 - 3
	if len(fields) <= index {
		return 0, fmt.Errorf("invalid /proc/PID/stat: %d fields after the command name, need %d", len(fields), index+1)
	}
	v, err := strconv.ParseUint(fields[index], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid start time %q in /proc/PID/stat", fields[index])
	}
	return v, nil
}

// bootTimeTicks returns CLOCK_BOOTTIME in clock ticks, the clock that
// process start times use.
func bootTimeTicks() (uint64, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, err
	}
	return uint64(ts.Sec)*userHZ + uint64(ts.Nsec)/(1e9/userHZ), nil
}

// statExecutable returns the device and inode of pid's running image.
func statExecutable(pid int32) (uint64, uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(procPath(pid, "exe"), &st); err != nil {
		return 0, 0, err
	}
	return st.Dev, st.Ino, nil
}

// readExecutable describes pid's running image. It opens the image
// through /proc/PID/exe, so it reads what runs even when the file on disk
// was replaced or deleted, and never resolves the path on the host.
func (r *Reader) readExecutable(pid int32) (Executable, error) {
	f, err := os.Open(procPath(pid, "exe"))
	if err != nil {
		return Executable{}, err
	}
	defer f.Close()

	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return Executable{}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return Executable{}, fmt.Errorf("running image is not a regular file (mode %#o)", st.Mode)
	}

	target, err := os.Readlink(procPath(pid, "exe"))
	if err != nil {
		return Executable{}, err
	}

	exe := Executable{
		Path:    target,
		Device:  st.Dev,
		Inode:   st.Ino,
		Size:    st.Size,
		ModTime: time.Unix(st.Mtim.Unix()),
		Deleted: st.Nlink == 0,
	}
	// The kernel appends " (deleted)" to the link target of an unlinked
	// image. A file may carry that suffix in its real name, so the link
	// count decides, not the text.
	if exe.Deleted {
		exe.Path = strings.TrimSuffix(target, " (deleted)")
	}

	if err := r.hashExecutable(f, &st, &exe); err != nil {
		return Executable{}, err
	}
	return exe, nil
}
