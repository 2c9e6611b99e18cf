//go:build unix

package drivers

import (
	"fmt"
	"os"
	"syscall"
)

// ownedPrivateDir checks that path is a directory (not a symbolic link)
// that this user owns and nobody else can write to.
func ownedPrivateDir(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s: %w (want a directory of uid %d, mode 0700)", path, ErrUnsafeCacheDir, os.Geteuid())
	}
	return nil
}

// notWritableByOthers checks that other users cannot replace what path
// (a directory) holds: it is not writable by group or others, or it has
// the sticky bit and belongs to this user or root.
func notWritableByOthers(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.IsDir() {
		return fmt.Errorf("%s: %w (not a directory)", path, ErrUnsafeCacheDir)
	}
	if int(st.Uid) != os.Geteuid() && st.Uid != 0 {
		return fmt.Errorf("%s: %w (owned by uid %d)", path, ErrUnsafeCacheDir, st.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("%s: %w (writable by others)", path, ErrUnsafeCacheDir)
	}
	return nil
}
