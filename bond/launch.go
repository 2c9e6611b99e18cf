package bond

import (
	"context"
	"os"
)

// A Launcher starts the interpreter process of a bond. The bond decides the
// command line, the environment and the streams; the launcher decides where
// and how the process runs (a plain child, a container, a remote host).
//
// The launcher must start the process with exactly the files in
// [LaunchSpec.Files] as its descriptors 0, 1, 2, 3, ... and no others, and it
// must not read or write them itself. Launch returns once the process runs;
// ctx bounds the start only, not the life of the process.
type Launcher interface {
	Launch(ctx context.Context, spec *LaunchSpec) (Process, error)
}

// LaunchSpec describes the interpreter process a bond wants.
type LaunchSpec struct {
	// Language is the driver's language name ("python", "php", ...).
	Language string
	// Argv is the complete command line. Argv[0] is an absolute path when
	// the driver resolved the interpreter, else a name to look up in PATH.
	Argv []string
	// Dir is the working directory; empty means the launcher's default.
	Dir string
	// Env is the complete environment of the process.
	Env []string
	// Files are the process's descriptors: Files[i] becomes fd i. A nil
	// entry means /dev/null. Files[0..2] are stdin, stdout and stderr;
	// in the dedicated-fd channel mode Files[3] and Files[4] carry the
	// protocol (host to interpreter, interpreter to host).
	Files []*os.File
}

// A Process is a started interpreter, as a launcher hands it to a bond.
// All methods are safe for concurrent use; Wait is called exactly once.
type Process interface {
	// Pid is the process id as seen from the host, or 0 when unknown
	// (a remote process).
	Pid() int
	// Interrupt delivers the language's interrupt (SIGINT, a remote
	// Ctrl+C) to the interpreter.
	Interrupt() error
	// Kill ends the interpreter and everything it started, at once.
	Kill() error
	// Wait waits for the process to end and releases its resources. It
	// returns nil for a clean exit and otherwise an error that says why
	// the process ended: an *exec.ExitError, or a launcher's own typed
	// error (a limit hit, a seccomp violation) that callers can inspect
	// with errors.As.
	Wait() error
}
