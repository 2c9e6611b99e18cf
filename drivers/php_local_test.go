package drivers_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/drivers"
)

// phpLocalDriver returns the PHP driver with a copy of stage 2 of its own
// (builds are remembered per stage 2 slice, so they are this test's) and
// a fresh cache directory, and its resolved interpreter.
func phpLocalDriver(t *testing.T) (d *drivers.Driver, interp, cacheHome string) {
	t.Helper()
	d, err := drivers.Lookup("php")
	if err != nil {
		t.Fatal(err)
	}
	d.Code = bytes.Clone(d.Code)
	if interp, err = d.ResolveInterpreter(ctxT(t), d.Command); err != nil {
		t.Fatal(err)
	}
	cacheHome = t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cacheHome)
	return d, interp, cacheHome
}

// cachedStage2 is the path of the stage 2 file under cacheHome.
func cachedStage2(t *testing.T, cacheHome string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(cacheHome, "sandbond", "php-*", "stage2.php"))
	if err != nil || len(m) != 1 {
		t.Fatalf("stage 2 files in the cache: %v, %v", m, err)
	}
	return m[0]
}

func evalString(t *testing.T, b *bond.Bond, code string) string {
	t.Helper()
	s, _ := mustEval(t, b, code).(string)
	return s
}

// noOpcachePHP is an interpreter that runs interp without any php.ini,
// so without the opcache extension.
func noOpcachePHP(t *testing.T, interp string) string {
	t.Helper()
	w := filepath.Join(t.TempDir(), "php-n")
	if err := os.WriteFile(w, []byte("#!/bin/sh\nexec "+interp+" -n \"$@\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestPHPLocalStart: once prepared, a bond the host starts itself loads
// stage 2 from opcache's file cache, not by compiling it: a stage 2 file
// replaced by one that would end PHP, with its time kept, still starts;
// the same file with a new time does not. User code then runs without
// opcache, and the driver's loader leaves nothing behind.
func TestPHPLocalStart(t *testing.T) {
	d, interp, cacheHome := phpLocalDriver(t)
	if d.LocalStartFor(ctxT(t), interp) != nil {
		t.Fatal("a local start before its build")
	}
	if err := d.Prepare(ctxT(t), interp); err != nil {
		t.Fatal(err)
	}
	ls := d.LocalStartFor(ctxT(t), interp)
	if ls == nil || !slices.Contains(ls.Args, "opcache.file_cache_only=1") {
		t.Fatalf("local start after Prepare: %+v", ls)
	}
	src := cachedStage2(t, cacheHome)

	b := openPHP(t, &bond.Options{Driver: d})
	if got := evalString(t, b, "implode(',', get_included_files())"); got != src {
		t.Errorf("included files %q, want the cached stage 2 %q", got, src)
	}
	if got := evalString(t, b, "ini_get('opcache.enable')"); got != "0" {
		t.Errorf("opcache.enable = %q for user code, want 0", got)
	}
	if got := evalString(t, b, "isset($__sb_src) || isset($__sb_cached) ? 'left' : 'clean'"); got != "clean" {
		t.Errorf("the loader's variables: %s", got)
	}

	fi, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	trap := []byte("<?php fwrite(STDERR, 'stage 2 was compiled, not loaded from the cache'); exit(7);\n")
	if err := os.WriteFile(src, trap, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(src, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	b2 := openPHP(t, &bond.Options{Driver: d})
	if v, err := b2.Eval(ctxT(t), "6*7"); err != nil || v != int64(42) {
		t.Errorf("cached start: %v, %v", v, err)
	}

	later := fi.ModTime().Add(time.Hour)
	if err := os.Chtimes(src, later, later); err != nil {
		t.Fatal(err)
	}
	b3, err := bond.Open(ctxT(t), "php", &bond.Options{Driver: d})
	if err == nil {
		b3.Close()
		t.Fatal("a changed stage 2 file was not compiled again")
	}
	if !errors.Is(err, bond.ErrTerminated) || !strings.Contains(err.Error(), "compiled, not loaded") {
		t.Errorf("start with a changed file: %v", err)
	}
}

// TestPHPLocalStartUserCode: files that user code includes are compiled
// as by a plain php, not stored in the driver's cache.
func TestPHPLocalStartUserCode(t *testing.T) {
	d, interp, cacheHome := phpLocalDriver(t)
	if err := d.Prepare(ctxT(t), interp); err != nil {
		t.Fatal(err)
	}
	user := filepath.Join(t.TempDir(), "user.php")
	if err := os.WriteFile(user, []byte("<?php return 'from user.php';\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour) // beyond opcache's file_update_protection
	if err := os.Chtimes(user, old, old); err != nil {
		t.Fatal(err)
	}
	b := openPHP(t, &bond.Options{Driver: d})
	if got := evalString(t, b, "include "+drivers.PHPQuote(user)); got != "from user.php" {
		t.Errorf("include: %q", got)
	}
	found := false
	_ = filepath.WalkDir(cacheHome, func(p string, e os.DirEntry, err error) error {
		found = found || (err == nil && e.Name() == "user.php.bin")
		return nil
	})
	if found {
		t.Error("user.php was stored in the driver's opcache directory")
	}
}

// TestPHPLocalStartFallsBack: a start that turns opcache off, whose
// compiled file is damaged, or whose cached file is gone, still works;
// without the file it runs the source.
func TestPHPLocalStartFallsBack(t *testing.T) {
	d, interp, cacheHome := phpLocalDriver(t)
	if err := d.Prepare(ctxT(t), interp); err != nil {
		t.Fatal(err)
	}
	src := cachedStage2(t, cacheHome)

	off := openPHP(t, &bond.Options{Driver: d, Args: []string{"-d", "opcache.enable_cli=0"}})
	if got := evalString(t, off, "ini_get('opcache.enable_cli')"); got != "0" {
		t.Errorf("opcache.enable_cli = %q, want the user's 0", got)
	}

	bins, err := filepath.Glob(filepath.Join(filepath.Dir(src), "opcache", "*"))
	if err != nil || len(bins) != 1 {
		t.Fatalf("opcache's system id directories: %v, %v", bins, err)
	}
	bin := filepath.Join(bins[0], src+".bin")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(data) / 2; i < len(data)/2+4096; i++ {
		data[i] ^= 0x5a
	}
	if err := os.WriteFile(bin, data, 0o600); err != nil {
		t.Fatal(err)
	}
	damaged := openPHP(t, &bond.Options{Driver: d})
	if got := evalString(t, damaged, "implode(',', get_included_files()) . ' ' . (6*7)"); got != src+" 42" {
		t.Errorf("with a damaged cache file: %q", got)
	}

	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	b := openPHP(t, &bond.Options{Driver: d})
	if got := evalString(t, b, "implode(',', get_included_files())"); got != "" {
		t.Errorf("included files %q without the cached file, want none", got)
	}
	if v, err := b.Eval(ctxT(t), "strlen('abc')"); err != nil || v != int64(3) {
		t.Errorf("source start: %v, %v", v, err)
	}
}

// TestPHPLocalStartRefused: no local start where the cache directory is
// not private, or where PHP has no opcache; bonds then start from the
// source.
func TestPHPLocalStartRefused(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, cacheHome, interp string) string // returns the interpreter to use
		want  func(err error) bool
		start bool // a bond of the driver's own interpreter starts (from the source)
	}{
		{"cache home writable by all", func(t *testing.T, home, interp string) string {
			if err := os.Chmod(home, 0o777); err != nil {
				t.Fatal(err)
			}
			return interp
		}, func(err error) bool { return errors.Is(err, drivers.ErrUnsafeCacheDir) }, true},
		{"sandbond directory writable by group", func(t *testing.T, home, interp string) string {
			if err := os.Mkdir(filepath.Join(home, "sandbond"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(filepath.Join(home, "sandbond"), 0o770); err != nil {
				t.Fatal(err)
			}
			return interp
		}, func(err error) bool { return errors.Is(err, drivers.ErrUnsafeCacheDir) }, true},
		{"sandbond is a symbolic link", func(t *testing.T, home, interp string) string {
			if err := os.Symlink(t.TempDir(), filepath.Join(home, "sandbond")); err != nil {
				t.Fatal(err)
			}
			return interp
		}, func(err error) bool { return errors.Is(err, drivers.ErrUnsafeCacheDir) }, true},
		{"php without opcache", func(t *testing.T, home, interp string) string {
			return noOpcachePHP(t, interp)
		}, func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "opcache extension is not loaded")
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, interp, home := phpLocalDriver(t)
			interp = c.setup(t, home, interp)
			err := d.Prepare(ctxT(t), interp)
			if !c.want(err) {
				t.Fatalf("Prepare: %v", err)
			}
			if d.LocalStartFor(ctxT(t), interp) != nil {
				t.Error("a local start after a refusal")
			}
			if !c.start {
				return
			}
			b := openPHP(t, &bond.Options{Driver: d})
			if v, err := b.Eval(ctxT(t), "1+1"); err != nil || v != int64(2) {
				t.Errorf("start from the source: %v, %v", v, err)
			}
		})
	}
}

// TestPHPLocalStartFromDisk: a program that finds stage 2 compiled on disk
// by an earlier one runs no PHP to prepare (a PHP without opcache would
// fail to), unless the stage 2 file there is not its own: then it writes
// it again, drops the old compiled form and compiles anew.
func TestPHPLocalStartFromDisk(t *testing.T) {
	d, interp, cacheHome := phpLocalDriver(t)
	if err := d.Prepare(ctxT(t), interp); err != nil {
		t.Fatal(err)
	}
	noOpcache := noOpcachePHP(t, interp)
	later := *d // another program: its own builds, the same stage 2
	later.Code = bytes.Clone(d.Code)
	if err := later.Prepare(ctxT(t), noOpcache); err != nil {
		t.Fatalf("prepare with stage 2 already compiled: %v", err)
	}
	if later.LocalStartFor(ctxT(t), noOpcache) == nil {
		t.Error("no local start from the compiled stage 2 on disk")
	}

	src := cachedStage2(t, cacheHome)
	if err := os.WriteFile(src, []byte("<?php // not stage 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	third := *d
	third.Code = bytes.Clone(d.Code)
	err := third.Prepare(ctxT(t), noOpcache)
	if err == nil || !strings.Contains(err.Error(), "opcache extension is not loaded") {
		t.Errorf("prepare after stage 2 changed on disk: %v, want a compile (which this PHP cannot do)", err)
	}
	if got, err := os.ReadFile(src); err != nil || !bytes.Equal(got, d.Code) {
		t.Errorf("stage 2 on disk was not written again: %v", err)
	}
	if ids, _ := os.ReadDir(filepath.Join(filepath.Dir(src), "opcache")); len(ids) != 0 {
		t.Errorf("the old compiled form was kept: %v", ids)
	}
}
