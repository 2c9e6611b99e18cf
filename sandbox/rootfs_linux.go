//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// rootfs is the root directory shared by the containers of one launcher: an
// empty tree of mount points and of the symlinks (/lib -> usr/lib,
// /lib64/ld-linux...) that lead from the paths programs open to the real
// paths that are bind-mounted. It is made read-only inside every container.
type rootfs struct {
	dir string

	mu      sync.Mutex
	created map[string]bool
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
	r := &rootfs{dir: dir, created: map[string]bool{}}
	for _, d := range []string{"/proc", "/dev", "/tmp"} {
		if err := r.mountpoint(d, true); err != nil {
			return nil, err
		}
	}
	return r, nil
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
