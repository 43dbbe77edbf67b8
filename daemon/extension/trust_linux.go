package extension

import (
	"fmt"
	"os"
	"syscall"
)

// checkTrustedDir rejects a directory that is a symlink, not owned by root
// or the daemon's user, or writable by group or others. With allowSticky, a
// sticky directory such as /tmp passes, because others cannot replace its
// entries. The cache itself never gets that allowance, because others
// could still add entries to it.
func checkTrustedDir(d string, allowSticky bool) error {
	st, err := os.Lstat(d)
	if err != nil {
		return err
	}
	if st.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symlink", d)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("cannot read the owner of %s", d)
	}
	if sys.Uid != 0 && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("%s is owned by uid %d", d, sys.Uid)
	}
	if st.Mode().Perm()&0o022 != 0 && !(allowSticky && st.Mode()&os.ModeSticky != 0) {
		return fmt.Errorf("%s is writable by group or others (mode %04o)", d, st.Mode().Perm())
	}
	return nil
}
