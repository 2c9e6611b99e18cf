//go:build linux

package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sandbond/sandbond/drivers"
)

// interpreter is what a language interpreter needs inside a container.
type interpreter struct {
	// Exe is the real path of the interpreter binary (symlinks,
	// alternatives and pyenv-style shims resolved).
	Exe string
	// Paths are host paths (files or directories) to bind read-only.
	Paths []string
}

// interpQueries ask an interpreter where it lives. Each prints one JSON
// array: the executable, then the paths it loads code from, then (after a
// null) directories whose *.so files are native extensions.
var interpQueries = map[string][]string{
	"python": {"-s", "-c", `import sys,json,sysconfig
p=sysconfig.get_paths()
print(json.dumps([sys.executable,[x for x in sys.path if x]+[p.get("stdlib",""),p.get("platstdlib","")],[x for x in sys.path if x.endswith("lib-dynload")]]))`},
	"perl": {"-e", `print "[\"", $^X, "\",[", join(",", map { "\"$_\"" } grep { $_ ne "." } @INC), "],[", join(",", map { "\"$_\"" } grep { $_ ne "." } @INC), "]]\n"`},
	"php":  {"-r", `$s=php_ini_scanned_files(); $f=$s?array_map("trim",explode(",",$s)):[]; $i=php_ini_loaded_file(); if($i)$f[]=$i; if(PHP_CONFIG_FILE_SCAN_DIR)$f[]=PHP_CONFIG_FILE_SCAN_DIR; foreach(explode(":",get_include_path()) as $d) if($d!=".")$f[]=$d; $f[]=PHP_EXTENSION_DIR; echo json_encode([PHP_BINARY,$f,[PHP_EXTENSION_DIR]]),"\n";`},
	"node": {"-e", `console.log(JSON.stringify([process.execPath, require("module").globalPaths.concat(["/usr/share/nodejs","/usr/lib/nodejs"]), []]))`},
}

// languageOf maps a driver or profile language name (or alias) to the
// driver's canonical name, the key of interpQueries; "" when unknown.
func languageOf(lang string) string {
	d, err := drivers.Lookup(lang)
	if err != nil {
		return ""
	}
	return d.Name
}

type interpKey struct{ lang, cmd string }

var (
	interpMu    sync.Mutex
	interpCache = map[interpKey]*interpreter{}
)

// resolveInterpreter finds the real interpreter for cmd (a path or a name
// looked up in PATH) and what it needs, asking the interpreter itself once
// per (language, command) and caching the answer.
func resolveInterpreter(ctx context.Context, lang, cmd string) (*interpreter, error) {
	key := interpKey{lang, cmd}
	interpMu.Lock()
	defer interpMu.Unlock()
	if in, ok := interpCache[key]; ok {
		return in, nil
	}
	path, err := exec.LookPath(cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: interpreter %q: %v", ErrProfile, cmd, err)
	}
	q, ok := interpQueries[lang]
	if !ok {
		return nil, fmt.Errorf("%w: unknown language %q (want python, php, perl or node)", ErrProfile, lang)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, path, q...)
	c.Dir = "/"
	c.Env = hostQueryEnv()
	out, err := c.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: asking %s %q where it lives: %v", ErrProfile, lang, path, err)
	}
	var ans [3]json.RawMessage
	if err := json.Unmarshal(out, &ans); err != nil {
		return nil, fmt.Errorf("%w: %s %q answered %q: %v", ErrProfile, lang, path, out, err)
	}
	var exe string
	var paths, extDirs []string
	if err := json.Unmarshal(ans[0], &exe); err != nil || exe == "" {
		return nil, fmt.Errorf("%w: %s %q did not say its executable", ErrProfile, lang, path)
	}
	_ = json.Unmarshal(ans[1], &paths)
	_ = json.Unmarshal(ans[2], &extDirs)

	real, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return nil, fmt.Errorf("%w: interpreter %q: %v", ErrProfile, exe, err)
	}
	in := &interpreter{Exe: real}
	seen := map[string]bool{}
	add := func(p string) {
		if p == "" || !filepath.IsAbs(p) || seen[p] {
			return
		}
		if _, err := os.Stat(p); err != nil {
			return
		}
		seen[p] = true
		in.Paths = append(in.Paths, p)
	}
	home, _ := os.UserHomeDir()
	add(real)
	for _, p := range paths {
		p = filepath.Clean(p)
		// Per-user paths (~/.local, ~/.node_modules) are not the
		// interpreter's: a profile mount can add them.
		if home != "" && home != "/" && strings.HasPrefix(p, home+"/") && !strings.HasPrefix(real, home+"/") {
			continue
		}
		add(p)
	}
	for _, l := range libs.deps(real) {
		add(l)
	}
	for _, d := range extDirs {
		for _, so := range findSharedObjects(d, 4) {
			for _, l := range libs.deps(so) {
				add(l)
			}
		}
	}
	add("/etc/ld.so.cache")
	// Time zone data: public, read-only, and what PHP (Debian builds use
	// the system database: without it every start warns "Invalid
	// date.timezone"), Python's zoneinfo and Perl's POSIX read.
	add("/usr/share/zoneinfo")
	sort.Strings(in.Paths)
	interpCache[key] = in
	return in, nil
}

// hostQueryEnv is the environment for asking an interpreter about itself:
// enough for shims (pyenv) to work, nothing that changes module paths.
func hostQueryEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "PYTHONPATH", name == "PYTHONHOME", name == "PERL5LIB", name == "PERLLIB",
			name == "NODE_PATH", name == "PHP_INI_SCAN_DIR", name == "PHPRC":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// findSharedObjects lists *.so files under dir, at most depth levels deep.
func findSharedObjects(dir string, depth int) []string {
	var out []string
	base := strings.Count(filepath.Clean(dir), "/")
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && strings.Count(p, "/")-base >= depth {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && (strings.HasSuffix(p, ".so") || strings.Contains(p, ".so.")) {
			out = append(out, p)
		}
		return nil
	})
	return out
}
