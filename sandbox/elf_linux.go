//go:build linux

package sandbox

import (
	"bufio"
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// libResolver finds the shared libraries an ELF file needs, the way ld.so
// does: DT_RPATH/DT_RUNPATH ($ORIGIN expanded), then the directories of
// /etc/ld.so.conf, then the default directories. Results are cached.
type libResolver struct {
	once sync.Once
	dirs []string

	mu    sync.Mutex
	cache map[string][]string // ELF path -> needed library paths (transitive)
}

var libs = &libResolver{cache: map[string][]string{}}

func (r *libResolver) searchDirs() []string {
	r.once.Do(func() {
		seen := map[string]bool{}
		add := func(d string) {
			d = filepath.Clean(d)
			if !seen[d] {
				seen[d] = true
				r.dirs = append(r.dirs, d)
			}
		}
		readLdConf("/etc/ld.so.conf", add, 0)
		for _, d := range []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
			"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"} {
			add(d)
		}
	})
	return r.dirs
}

func readLdConf(path string, add func(string), depth int) {
	if depth > 4 {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "include"); ok {
			pat := strings.TrimSpace(rest)
			if !filepath.IsAbs(pat) {
				pat = filepath.Join(filepath.Dir(path), pat)
			}
			matches, _ := filepath.Glob(pat)
			for _, m := range matches {
				readLdConf(m, add, depth+1)
			}
			continue
		}
		add(line)
	}
}

// deps returns the interpreter (PT_INTERP) and all shared libraries that
// the ELF file at path needs, transitively, as paths the loader would open.
// A file that is not ELF has no dependencies.
func (r *libResolver) deps(path string) []string {
	r.mu.Lock()
	if d, ok := r.cache[path]; ok {
		r.mu.Unlock()
		return d
	}
	r.mu.Unlock()

	seen := map[string]bool{}
	var out []string
	var walk func(p string)
	walk = func(p string) {
		f, err := elf.Open(p)
		if err != nil {
			return
		}
		defer f.Close()
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				b := make([]byte, prog.Filesz)
				if _, err := prog.ReadAt(b, 0); err == nil {
					interp := strings.TrimRight(string(b), "\x00")
					if !seen[interp] {
						seen[interp] = true
						out = append(out, interp)
					}
				}
			}
		}
		needed, _ := f.DynString(elf.DT_NEEDED)
		var extra []string
		for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
			vals, _ := f.DynString(tag)
			for _, v := range vals {
				for _, d := range strings.Split(v, ":") {
					d = strings.ReplaceAll(d, "$ORIGIN", filepath.Dir(p))
					d = strings.ReplaceAll(d, "${ORIGIN}", filepath.Dir(p))
					if d != "" {
						extra = append(extra, d)
					}
				}
			}
		}
		for _, n := range needed {
			lib := r.find(n, extra)
			if lib == "" || seen[lib] {
				continue
			}
			seen[lib] = true
			out = append(out, lib)
			walk(lib)
		}
	}
	walk(path)

	r.mu.Lock()
	r.cache[path] = out
	r.mu.Unlock()
	return out
}

func (r *libResolver) find(name string, extra []string) string {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err == nil {
			return name
		}
		return ""
	}
	for _, dirs := range [][]string{extra, r.searchDirs()} {
		for _, d := range dirs {
			p := filepath.Join(d, name)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p
			}
		}
	}
	return ""
}
