package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// Sentinel errors of the sandbox. Errors returned by this package wrap them,
// so test with errors.Is.
var (
	// ErrUnsupported is returned on platforms without container support.
	ErrUnsupported = errors.New("sandbox: containers are not supported on this platform")
	// ErrNoCgroups means cgroup limits are required by the profile but the
	// daemon may not create cgroups here.
	ErrNoCgroups = errors.New("sandbox: cgroups unavailable")
	// ErrUserns means user namespaces cannot be created here.
	ErrUserns = errors.New("sandbox: user namespaces unavailable")
	// ErrProfile means the profile cannot be run by the container launcher.
	ErrProfile = errors.New("sandbox: profile not usable by the container launcher")
	// ErrSeccomp matches a *SeccompError: the process was killed by the
	// seccomp filter.
	ErrSeccomp = errors.New("sandbox: killed by the seccomp filter")
	// ErrLimit matches every *LimitError.
	ErrLimit = errors.New("sandbox: limit exceeded")
	// ErrMemoryLimit matches a *LimitError for the memory limit.
	ErrMemoryLimit = errors.New("sandbox: memory limit exceeded")
	// ErrPidsLimit matches a *LimitError for the pids limit.
	ErrPidsLimit = errors.New("sandbox: pids limit exceeded")
	// ErrCPULimit matches a *LimitError for the CPU time limit.
	ErrCPULimit = errors.New("sandbox: CPU time limit exceeded")
	// ErrWallLimit matches a *LimitError for the wall-clock limit of a
	// sandbox.
	ErrWallLimit = errors.New("sandbox: wall time limit exceeded")
	// ErrFileSizeLimit matches a *LimitError for the file size limit.
	ErrFileSizeLimit = errors.New("sandbox: file size limit exceeded")
	// ErrPoolClosed is returned by calls on a [Pool] that is closed or
	// closing.
	ErrPoolClosed = errors.New("sandbox: pool closed")
	// ErrOverloaded is returned by a call that found no worker of its
	// [Pool] free within the profile's pool.queue_timeout.
	ErrOverloaded = errors.New("sandbox: pool overloaded")
)

// Limit names used in [LimitError.Limit].
const (
	LimitMemory   = "memory"
	LimitPids     = "pids"
	LimitCPU      = "cpu"
	LimitWall     = "wall"
	LimitFileSize = "file_size"
)

var limitSentinels = map[string]error{
	LimitMemory:   ErrMemoryLimit,
	LimitPids:     ErrPidsLimit,
	LimitCPU:      ErrCPULimit,
	LimitWall:     ErrWallLimit,
	LimitFileSize: ErrFileSizeLimit,
}

// LimitError says which limit of the profile stopped a sandboxed process.
type LimitError struct {
	// Limit is one of the Limit* constants.
	Limit string
	// Value is the configured limit (bytes, count, seconds or
	// nanoseconds for wall time).
	Value int64
	// Profile is the profile name.
	Profile string
	// Err is the underlying exit error, if any.
	Err error
}

// Error implements error.
func (e *LimitError) Error() string {
	s := fmt.Sprintf("sandbox %q: %s limit (%d) exceeded", e.Profile, e.Limit, e.Value)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is matches ErrLimit and the sentinel of the limit.
func (e *LimitError) Is(target error) bool {
	return target == ErrLimit || target == limitSentinels[e.Limit]
}

// Unwrap returns the underlying exit error.
func (e *LimitError) Unwrap() error { return e.Err }

// SeccompError says that the seccomp filter killed a sandboxed process.
type SeccompError struct {
	// Syscall is the name of the denied system call, or "" when it could
	// not be known (the name is read from the kernel's audit record of the
	// kill in /dev/kmsg, which needs a daemon allowed to read it).
	Syscall string
	// Nr is the system call number, or -1 when unknown.
	Nr int
	// Profile is the profile name.
	Profile string
	// Err is the underlying exit error.
	Err error
}

// Error implements error.
func (e *SeccompError) Error() string {
	name := e.Syscall
	if name == "" {
		name = "unknown syscall"
	}
	return fmt.Sprintf("sandbox %q: killed by the seccomp filter (%s)", e.Profile, name)
}

// Is matches ErrSeccomp.
func (e *SeccompError) Is(target error) bool { return target == ErrSeccomp }

// Unwrap returns the underlying exit error.
func (e *SeccompError) Unwrap() error { return e.Err }

// execExitError builds the *exec.ExitError for a process state.
func execExitError(st *os.ProcessState) error { return &exec.ExitError{ProcessState: st} }
