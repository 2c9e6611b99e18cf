package bond

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrTerminated: the interpreter process ended (see *ExitError).
	ErrTerminated = errors.New("interpreter terminated")
	// ErrProtocol: the interpreter broke the protocol (a malformed,
	// oversized or unexpected message). The bond is closed.
	ErrProtocol = errors.New("protocol violation")
	// ErrClosed: the bond was closed by Close.
	ErrClosed = errors.New("bond closed")
	// ErrOutputLimit: the interpreter printed more than Options.MaxOutputBytes.
	ErrOutputLimit = errors.New("output limit exceeded")
	// ErrSerialization matches every *SerializationError.
	ErrSerialization = errors.New("serialization error")
	// ErrRemote matches every *RemoteError.
	ErrRemote = errors.New("remote exception")
	// ErrUnsupported: the platform cannot run this launcher.
	ErrUnsupported = errors.New("unsupported on this platform")
	// ErrNoExport: the interpreter called a name that is not exported.
	ErrNoExport = errors.New("no such exported function")
)

// RemoteError is an exception raised in the interpreter.
type RemoteError struct {
	Language  string // "python"
	Type      string // the exception's class name, e.g. "ZeroDivisionError"
	Message   string
	Traceback string // as the interpreter formats it; may be empty
	// Cause is the Go error that an exported function returned, when that
	// error travelled into the interpreter and came back uncaught.
	Cause error
}

func (e *RemoteError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s: %s", e.Language, e.Type)
	}
	return fmt.Sprintf("%s: %s: %s", e.Language, e.Type, e.Message)
}

// Is reports ErrRemote.
func (e *RemoteError) Is(target error) bool { return target == ErrRemote }

// Unwrap returns the Go cause, if any.
func (e *RemoteError) Unwrap() error { return e.Cause }

// Side says where a serialization failed.
type Side string

// Sides of a bond.
const (
	Local  Side = "local"  // the Go side could not encode or decode a value
	Remote Side = "remote" // the interpreter could not encode a value
)

// SerializationError is a value that cannot cross the bond.
type SerializationError struct {
	Side     Side
	Language string
	Type     string // the offending type, when known
	Message  string
	Err      error // the underlying Go error, if any
}

func (e *SerializationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s serialization error", e.Side)
	if e.Side == Remote && e.Language != "" {
		fmt.Fprintf(&b, " in %s", e.Language)
	}
	if e.Type != "" {
		fmt.Fprintf(&b, " (%s)", e.Type)
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	return b.String()
}

// Is reports ErrSerialization.
func (e *SerializationError) Is(target error) bool { return target == ErrSerialization }

// Unwrap returns the underlying error.
func (e *SerializationError) Unwrap() error { return e.Err }

// ExitError says that the interpreter ended, and why.
type ExitError struct {
	Language string
	// Err is what the launcher's Process.Wait returned: nil for a clean
	// exit, an *exec.ExitError, or a launcher's typed error.
	Err error
	// Stderr is the last part of what the interpreter wrote to stderr.
	Stderr string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s interpreter terminated", e.Language)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	} else {
		msg += " (exit status 0)"
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += "; stderr: " + s
	}
	return msg
}

// Is reports ErrTerminated.
func (e *ExitError) Is(target error) bool { return target == ErrTerminated }

// Unwrap returns the launcher's error.
func (e *ExitError) Unwrap() error { return e.Err }

func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)
}

func localSerialization(typ, format string, args ...any) *SerializationError {
	return &SerializationError{Side: Local, Type: typ, Message: fmt.Sprintf(format, args...)}
}

// Handle errors. Match them with errors.Is.
var (
	// ErrReleased: the handle was released (explicitly, or with its bond).
	ErrReleased = errors.New("handle released")
	// ErrForeignHandle: a handle was sent to a bond other than its own.
	ErrForeignHandle = errors.New("handle of another bond")
)
