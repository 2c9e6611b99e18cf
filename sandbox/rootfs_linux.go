//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// rootfs is the root directory shared by the containers of one launcher: an
// empty tree of mount points and of the symlinks (/lib -> usr/lib,
// /lib64/ld-linux...) that lead from the paths programs open to the real
// paths that are bind-mounted. It is made read-only inside every container.
type rootfs struct {
	dir string

	mu      sync.Mutex
	created map[string]bool
	mounted bool // prebind made dir a mount point
}

// bindSet collects the real host paths to bind and creates in the rootfs
// the symlinks met on the way to them.
type bindSet struct {
	r     *rootfs
	binds map[string]bool // real host path -> is a directory
}

func newRootfs(dir string) (*rootfs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	// The real absolute path: it is compared with the mount table.
	dir, err := realPath(dir)
	if err != nil {
		return nil, err
	}
	r := &rootfs{dir: dir, created: map[string]bool{}}
	for _, d := range []string{"/proc", "/dev", "/tmp"} {
		if err := r.mountpoint(d, true); err != nil {
			return nil, err
		}
	}
	// What libcontainer would make in a /dev of its own, for a prebound
	// rootfs whose /dev the containers bind (see prebind).
	for _, d := range devNodes {
		if err := r.mountpoint(d, false); err != nil {
			return nil, err
		}
	}
	for _, l := range devLinks {
		if err := r.symlink(l[0], l[1]); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// devNodes are the device nodes of a sandbox's /dev, and devLinks its
// symlinks (at, target), as libcontainer makes them.
var (
	devNodes = []string{"/dev/null", "/dev/random", "/dev/urandom", "/dev/zero"}
	devLinks = [][2]string{
		{"/dev/fd", "/proc/self/fd"}, {"/dev/stdin", "/proc/self/fd/0"},
		{"/dev/stdout", "/proc/self/fd/1"}, {"/dev/stderr", "/proc/self/fd/2"},
	}
)

// devDir returns the rootfs's /dev on the host once prebind bound the
// device nodes in it, else "".
func (r *rootfs) devDir() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.mounted {
		return ""
	}
	return filepath.Join(r.dir, "dev")
}

func (r *rootfs) newBindSet() *bindSet {
	return &bindSet{r: r, binds: map[string]bool{}}
}

// add makes host path p (which may contain symlinks) reachable: symlinks
// on the way are recreated in the rootfs and the real file or directory at
// the end is recorded for a bind mount.
func (b *bindSet) add(p string) error { return b.addDepth(filepath.Clean(p), 0) }

func (b *bindSet) addDepth(p string, depth int) error {
	if depth > 40 {
		return fmt.Errorf("too many levels of symbolic links at %s", p)
	}
	if !filepath.IsAbs(p) {
		return fmt.Errorf("not an absolute path: %s", p)
	}
	if p == "/" {
		return errors.New("refusing to bind the host's root directory")
	}
	parts := strings.Split(p[1:], "/")
	cur := "/"
	for i, c := range parts {
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(next)
			if err != nil {
				return err
			}
			if err := b.r.symlink(next, target); err != nil {
				return err
			}
			abs := target
			if !filepath.IsAbs(abs) {
				abs = filepath.Join(cur, target)
			}
			rest := filepath.Join(append([]string{abs}, parts[i+1:]...)...)
			return b.addDepth(rest, depth+1)
		}
		if i == len(parts)-1 {
			b.binds[next] = fi.IsDir()
			return nil
		}
		cur = next
	}
	return nil
}

// list returns the bind sources in mount order, without those inside an
// already bound directory, and creates their mount points.
func (b *bindSet) list() ([]string, error) {
	paths := make([]string, 0, len(b.binds))
	for p := range b.binds {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []string
	for _, p := range paths {
		covered := false
		for _, q := range out {
			if b.binds[q] && strings.HasPrefix(p, q+"/") {
				covered = true
				break
			}
		}
		if covered {
			continue
		}
		if err := b.r.mountpoint(p, b.binds[p]); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// symlink creates rootfs/at -> target unless it exists. The parent of at is
// a real directory on the host, so it is one in the rootfs too.
func (r *rootfs) symlink(at, target string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.created[at] {
		return nil
	}
	dst := filepath.Join(r.dir, at)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.Symlink(target, dst); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	r.created[at] = true
	return nil
}

// mountpoint creates an empty directory or file at rootfs/p. The container
// cannot create them itself: its root is not the owner of the rootfs.
func (r *rootfs) mountpoint(p string, dir bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.created[p] {
		return nil
	}
	dst := filepath.Join(r.dir, p)
	if dir {
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_RDONLY, 0o444)
		if err != nil {
			return err
		}
		f.Close()
	}
	r.created[p] = true
	return nil
}

// prebind binds binds (read-only, nosuid, nodev, recursively) into the root
// filesystem on the host, once, so that containers get them with the
// recursive bind of their root. The root directory first becomes a private
// mount of its own: nothing mounted in it propagates anywhere, and one
// lazy unmount of it (remove) takes everything down.
//
// Each bind is made with the new mount API: a detached copy of the
// source's mounts (open_tree), made read-only, nosuid and nodev with all
// its submounts (mount_setattr), then attached (move_mount); it is never
// visible writable. Inside a container, these mounts are copies that the
// container's user namespace cannot make writable, suid or dev again
// (the kernel locks those flags when it copies mounts into a less
// privileged mount namespace), nor unmount to see what is beneath.
//
// On error nothing stays mounted and the caller binds at each start.
func (r *rootfs) prebind(binds []bindMount) (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mounted {
		return errors.New("already bound")
	}
	if err := unix.Mount(r.dir, r.dir, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", r.dir, err)
	}
	r.mounted = true
	defer func() {
		if err != nil {
			_ = unix.Unmount(r.dir, unix.MNT_DETACH)
			r.mounted = false
		}
	}()
	if err := unix.Mount("", r.dir, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make %s private: %w", r.dir, err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	for _, b := range binds {
		if b.Writable {
			return fmt.Errorf("writable bind %s", b.Source)
		}
		if err := attachClone(b.Source, filepath.Join(r.dir, b.Target), attr); err != nil {
			return err
		}
	}
	// The device nodes, nosuid and noexec but not nodev: containers bind
	// this /dev (read-only, with these mounts) instead of mounting a tmpfs
	// and binding each node at every start (devDir).
	devAttr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC}
	for _, d := range devNodes {
		if err := attachClone(d, filepath.Join(r.dir, d), devAttr); err != nil {
			return err
		}
	}
	return nil
}

// attachClone mounts a detached copy of the mounts at src (open_tree) on
// dst, with attr set on all of them first.
func attachClone(src, dst string, attr *unix.MountAttr) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return fmt.Errorf("open_tree %s: %w", src, err)
	}
	defer unix.Close(fd)
	err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr)
	if err == nil {
		err = unix.MoveMount(fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH)
	}
	if err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	return nil
}

// remove unmounts the root filesystem (when prebind mounted it) and
// removes its directory, never descending into a mount: if anything is
// still mounted below it, the directory is left in place.
func (r *rootfs) remove() error {
	return removeRootDir(r.dir)
}

// removeRootDir detaches whatever is mounted at or below dir, then removes
// dir unless a mount is still there.
func removeRootDir(dir string) error {
	dir, err := realPath(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for range 8 {
		if !hasMountsUnder(dir) {
			return os.RemoveAll(dir)
		}
		// One lazy unmount of the root detaches the whole tree.
		runtime.LockOSThread() // the thread whose mounts were listed
		err := unix.Unmount(dir, unix.MNT_DETACH)
		runtime.UnlockOSThread()
		if err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	return fmt.Errorf("%s: still mounted; left in place", dir)
}

// realPath returns the absolute path of dir with symlinks resolved, as the
// mount table shows it.
func realPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// hasMountsUnder says whether the mount table of the calling thread lists a
// mount point at or below dir (or cannot be read). The thread's, not the
// process's: libcontainer moves threads of the daemon into containers'
// mount namespaces, and the main thread can stay there (/proc/self is the
// main thread's view).
func hasMountsUnder(dir string) bool {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			return true
		}
	}
	return false
}

// unescapeMountinfo undoes the octal escapes (\040 for a space...) of a
// mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
