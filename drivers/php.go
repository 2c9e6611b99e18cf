package drivers

import (
	"context"
	_ "embed"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The PHP driver (PHP >= 8.0 CLI; tested with Debian's php8.2-cli).
//
// Stage 1 opens the protocol input (php://fd/N, which dups N), reads the
// length line and exactly that many bytes of stage 2 through the same
// buffered stream, and evals stage 2 without its leading "<?php" in the
// global scope; stage 2 keeps reading from that stream ($__sb_in).
//
// Default arguments: errors are displayed on stderr as plain text and not
// logged as well (log_errors would print them on stderr a second time),
// E_ALL is reported, and memory_limit is lifted so that a bond behaves like
// the other languages' (Debian's CLI php.ini does the same; a sandbox limits
// memory with cgroups and rlimits). Add "-d", "memory_limit=256M" to
// Options.Args to get PHP's own limit back: exceeding it is a fatal error
// that ends the bond with ErrTerminated and PHP's message. The driver sets
// display_errors, html_errors and log_errors again at run time, so that
// NoDefaultArgs cannot make PHP print errors into the protocol. -n is not
// used: it would drop the extensions of the system's php.ini.
//
// The side channel (SANDBOND_SIDE): blobs need nothing but the core;
// passing descriptors ($fd) needs ext/sockets (socket_recvmsg), and the
// side descriptors are made close-on-exec through FFI (ffi.enable=preload,
// the CLI default, allows it); without FFI they stay inheritable, like
// the protocol's. Stage 1 dups the protocol input before stage 2 runs, so
// a side fd number the host did not fill may hold that dup: the driver
// refuses any side fd that is one of the protocol's pipes.
//
// A bond that the host starts itself loads stage 2 from opcache's file
// cache instead of compiling it (php_local.go), once the host has built
// that cache; a sandboxed or remote one gets the source.
//
// See php.php's header for the rules user code sees: the global scope,
// what a call name may be, output, errors, values, handles and interrupts.
//
//go:embed php.php
var phpCode []byte

const phpStage1 = `$__sb_in=fopen("php://fd/".$argv[1],"rb");eval(substr(stream_get_contents($__sb_in,(int)fgets($__sb_in)),5));`

func init() { builtin = append(builtin, php) }

func php() *Driver {
	return &Driver{
		Name:    "php",
		Aliases: []string{"php8", "php-cli"},
		Command: "php",
		DefaultArgs: []string{
			"-d", "display_errors=stderr",
			"-d", "log_errors=0",
			"-d", "html_errors=0",
			"-d", "error_reporting=-1",
			"-d", "memory_limit=-1",
		},
		Stage1Flag: "-r",
		Stage1:     phpStage1,
		Code:       phpCode,
		Local:      phpLocal,
		Resolve:    resolvePHP,
	}
}

// resolvePHP follows symlinks (Debian's /usr/bin/php is an alternatives
// link to /usr/bin/php8.2), then asks PHP for PHP_BINARY, for version
// managers whose php is a shim script. It runs PHP with -n so that no
// php.ini (and no startup warning) can disturb the answer.
func resolvePHP(ctx context.Context, command string) (string, error) {
	p, err := lookPathReal(ctx, command)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p, "-n", "-r", "echo PHP_BINARY;").Output()
	if err != nil {
		return "", fmt.Errorf("ask %s for its path: %w", p, err)
	}
	real := strings.TrimSpace(string(out))
	if real == "" { // a SAPI that does not know its binary: trust the link
		return p, nil
	}
	if !filepath.IsAbs(real) {
		return "", fmt.Errorf("%s reported a non-absolute path %q", p, real)
	}
	return filepath.EvalSymlinks(real)
}
