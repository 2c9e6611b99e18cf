//go:build !linux

package bond

import (
	"fmt"
	"os"
)

// sideFiles: the side channel needs Linux (pipes sized, SCM_RIGHTS).
func sideFiles() (*side, []*os.File, error) {
	return nil, nil, fmt.Errorf("side channel: %w", ErrUnsupported)
}

func reopenReadOnly(*os.File) (*os.File, error) {
	return nil, fmt.Errorf("reopen read-only: %w", ErrUnsupported)
}

func (b *Bond) sendFiles([]*os.File) error {
	return fmt.Errorf("pass descriptors: %w", ErrUnsupported)
}
