package extension

import (
	"fmt"
	"os"
	"syscall"
)

// checkTrustedDir refuses a directory that is a symlink, not owned by root
// or the daemon's user, or writable by group or others (the sticky /tmp is
// allowed as an ancestor, since its entries cannot be replaced by others).
func checkTrustedDir(d string) error {
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
	if st.Mode().Perm()&0o022 != 0 && st.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o)", d, st.Mode().Perm())
	}
	return nil
}
