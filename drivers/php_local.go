package drivers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// PHP's local start (Driver.Local): an opcache file cache of stage 2.
//
// PHP caches compiled code only for files (opcache), never for eval'd
// code, and compiling the driver's 67 KB is most of what a bond's start
// costs over a bare interpreter. So, once per interpreter and program, the
// host writes stage 2 to a file in its own cache directory and has the
// interpreter compile it into opcache's file cache there, unless an
// earlier program left both (then preparing takes about 0.3 ms, so that
// even a program's first bond finds it ready). A bond that the
// host starts itself then runs PHP with opcache on for the CLI in
// file-cache-only mode (no shared memory, no JIT buffer), and a preamble
// whose loader includes that file, which opcache loads from the cache
// instead of compiling it. The loader falls back to the source, which
// follows it on the input, when the file is gone or does not compile.
// Stage 2 then turns opcache off for the rest of the process (PHP allows
// that one way, at run time), so user code is compiled and run as by a
// plain php CLI and nothing of it is cached. "-d opcache.enable_cli=0" in
// Options.Args turns the cache off.
//
// The cache directory is <user cache dir>/sandbond/php-<hash of stage 2>,
// made private (0700, owned by the user, as is its parent), because PHP
// runs what it finds there: a directory that anyone else could write to
// is not used. Opcache keeps a subdirectory per PHP build ("system id")
// and validates the file's modification time; the source is rewritten,
// and the cache dropped, whenever its contents are not stage 2's. The
// directories of other stage 2s (other versions of this package) that no
// program has prepared for 30 days are removed; a program that still uses
// one falls back to the source.

// phpLocalArgs are the php options of a local start with the opcache file
// cache in dir.
func phpLocalArgs(dir string) []string {
	return []string{
		"-d", "opcache.enable_cli=1",
		"-d", "opcache.file_cache=" + dir,
		"-d", "opcache.file_cache_only=1",
		"-d", "opcache.file_update_protection=0", // stage 2 may have been written just now
		// (opcache.file_cache_consistency_checks stays on: its checksum,
		// 0.76M of the 1.1M instructions a cached start adds to a bare
		// PHP's, makes opcache drop a damaged file and compile again
		// instead of crashing on it.)
		"-d", "opcache.jit_buffer_size=0",
		"-d", "opcache.preload=", // a php.ini's preload script is for servers
	}
}

// phpCompileProgram has opcache compile the file named by its argument into
// the file cache, without running it.
const phpCompileProgram = `if (!function_exists('opcache_compile_file')) { fwrite(STDERR, "the opcache extension is not loaded\n"); exit(1); }
exit(opcache_compile_file($argv[1]) ? 0 : 1);`

// phpLocal prepares the local start of stage 2 (code) for the PHP at
// interp.
func phpLocal(ctx context.Context, interp string, code []byte) (*LocalStart, error) {
	dir, err := phpCacheDir(code)
	if err != nil {
		return nil, err
	}
	src := filepath.Join(dir, "stage2.php")
	cache := filepath.Join(dir, "opcache")
	wrote, err := writeStage2(src, cache, code)
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(cache, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	args := phpLocalArgs(cache)
	// An earlier program left the compiled stage 2: nothing to run. (Made
	// by another PHP build, it is not this one's: the first start then
	// compiles stage 2 and opcache stores it beside.)
	if wrote || !compiledStage2(cache, src) {
		run := append(append(args, "-d", "display_errors=stderr", "-d", "log_errors=0", "-r", phpCompileProgram), src)
		if _, err := hostOutput(exec.CommandContext(ctx, interp, run...)); err != nil {
			return nil, fmt.Errorf("compile stage 2 into opcache's file cache: %w", err)
		}
		if !compiledStage2(cache, src) {
			return nil, errors.New("opcache stored no compiled stage 2 in " + cache)
		}
	}
	loader := phpLoader(src)
	return &LocalStart{Args: args, Preamble: append(sourcePreamble(loader), sourcePreamble(code)...)}, nil
}

// phpLoader is the stage 2 of a local start: it includes the cached file,
// or evaluates the source that follows it on the input.
func phpLoader(path string) []byte {
	p := phpQuote(path)
	return []byte(`<?php
$__sb_src = stream_get_contents($__sb_in, (int)fgets($__sb_in));
if (\is_file(` + p + `)) {
    $__sb_cached = true;
    try {
        include ` + p + `;
    } catch (\ParseError $__sb_e) {
    }
    unset($__sb_cached, $__sb_e);
}
eval(substr($__sb_src, 5));
`)
}

// phpQuote returns s as a PHP single-quoted string literal.
func phpQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// phpCacheDir returns the private directory that caches this stage 2,
// creating it and its parent when needed.
func phpCacheDir(code []byte) (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", err
	}
	if err := notWritableByOthers(base); err != nil {
		return "", err
	}
	sum := sha256.Sum256(code)
	parent := filepath.Join(base, "sandbond")
	dir := filepath.Join(parent, "php-"+hex.EncodeToString(sum[:12]))
	for _, d := range []string{parent, dir} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", err
		}
		if err := ownedPrivateDir(d); err != nil {
			return "", err
		}
	}
	now := time.Now()
	if err := os.Chtimes(dir, now, now); err != nil { // prepared now: see pruneStale
		return "", err
	}
	pruneStale(parent, dir, now.Add(-phpCacheMaxIdle))
	return dir, nil
}

// phpCacheMaxIdle is how long a stage 2's cache directory stays when no
// program prepares it.
const phpCacheMaxIdle = 30 * 24 * time.Hour

// pruneStale removes the php-* directories in parent other than keep that
// were last prepared before cutoff. Failures are ignored: they cost only
// disk space.
func pruneStale(parent, keep string, cutoff time.Time) {
	es, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range es {
		p := filepath.Join(parent, e.Name())
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "php-") || p == keep {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(cutoff) {
			_ = os.RemoveAll(p)
		}
	}
}

// writeStage2 makes the file at src hold code, replacing it (atomically)
// and dropping the opcache directory when it holds anything else; wrote
// says whether it did.
func writeStage2(src, cache string, code []byte) (wrote bool, err error) {
	if old, err := os.ReadFile(src); err == nil && bytes.Equal(old, code) {
		return false, nil
	}
	if err := os.RemoveAll(cache); err != nil {
		return false, err
	}
	f, err := os.CreateTemp(filepath.Dir(src), ".stage2-*")
	if err != nil {
		return false, err
	}
	_, err = f.Write(code)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), src)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err == nil, err
}

// compiledStage2 reports whether opcache's file cache holds the compiled
// file at src, for some PHP build: opcache stores it as
// <cache>/<system id>/<src>.bin.
func compiledStage2(cache, src string) bool {
	ids, err := os.ReadDir(cache)
	if err != nil {
		return false
	}
	for _, id := range ids {
		fi, err := os.Lstat(filepath.Join(cache, id.Name(), src+".bin"))
		if err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}
