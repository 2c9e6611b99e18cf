//go:build !linux

package bond

import (
	"context"
	"fmt"
)

// ExecLauncher starts the interpreter as a plain child process. It is
// implemented on Linux only.
type ExecLauncher struct {
	InterruptGroup bool
}

// Launch implements Launcher; it returns ErrUnsupported off Linux.
func (ExecLauncher) Launch(context.Context, *LaunchSpec) (Process, error) {
	return nil, fmt.Errorf("exec launcher: %w", ErrUnsupported)
}
