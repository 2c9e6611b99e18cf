//go:build !unix

package drivers

import "fmt"

func ownedPrivateDir(path string) error {
	return fmt.Errorf("check %s: %w", path, ErrUnsupported)
}

func notWritableByOthers(path string) error {
	return fmt.Errorf("check %s: %w", path, ErrUnsupported)
}
