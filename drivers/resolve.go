package drivers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// A ResolveFunc finds the real executable behind an interpreter command.
type ResolveFunc func(ctx context.Context, command string) (string, error)

// resolved memoizes resolutions per command and PATH: they are facts about
// the host that do not change while a program runs, and resolving a pyenv
// shim costs a whole interpreter start.
var resolved sync.Map // key: command + "\x00" + PATH -> string

// ResolveInterpreter returns the absolute, symlink-free path of the
// interpreter a command names, using the driver's resolver. The result is
// remembered for the life of the program.
func (d *Driver) ResolveInterpreter(ctx context.Context, command string) (string, error) {
	key := d.Name + "\x00" + command + "\x00" + os.Getenv("PATH")
	if p, ok := resolved.Load(key); ok {
		return p.(string), nil
	}
	resolve := d.Resolve
	if resolve == nil {
		resolve = lookPathReal
	}
	p, err := resolve(ctx, command)
	if err != nil {
		return "", fmt.Errorf("resolve %s interpreter %q: %w", d.Name, command, err)
	}
	resolved.Store(key, p)
	return p, nil
}

// lookPathReal looks a command up in PATH and follows symlinks (Debian's
// alternatives: /usr/bin/php -> /etc/alternatives/php -> /usr/bin/php8.2).
func lookPathReal(_ context.Context, command string) (string, error) {
	p, err := exec.LookPath(command)
	if err != nil {
		return "", err
	}
	if p, err = filepath.Abs(p); err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(p)
}

// askInterpreter runs the interpreter with a program that prints its own
// executable path, for shims that exec the real interpreter (pyenv, asdf).
func askInterpreter(flag, program string) ResolveFunc {
	return func(ctx context.Context, command string) (string, error) {
		p, err := lookPathReal(ctx, command)
		if err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		out, err := hostOutput(exec.CommandContext(ctx, p, flag, program))
		if err != nil {
			return "", fmt.Errorf("ask %s for its path: %w", p, err)
		}
		real := strings.TrimSpace(string(bytes.TrimSpace(out)))
		if !filepath.IsAbs(real) {
			return "", fmt.Errorf("%s reported a non-absolute path %q", p, real)
		}
		return filepath.EvalSymlinks(real)
	}
}

// maxStderrInError is how much of a command's standard error hostOutput
// puts in its error.
const maxStderrInError = 300

// hostOutput runs cmd on the host with the standard input, environment and
// extra files set in it and returns its standard output. When the command
// fails, the error carries the start of its standard error (which Output
// keeps in the ExitError), trimmed.
func hostOutput(cmd *exec.Cmd) ([]byte, error) {
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if msg := bytes.TrimSpace(ee.Stderr); len(msg) > 0 {
			if len(msg) > maxStderrInError {
				msg = append(bytes.ToValidUTF8(msg[:maxStderrInError], nil), "..."...)
			}
			err = fmt.Errorf("%w (%s)", err, msg)
		}
	}
	return out, err
}
