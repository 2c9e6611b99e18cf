//go:build !linux

package sandbox

import (
	"context"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/policy"
)

// ContainerLauncher is a [bond.Launcher] for rootless containers; on this
// platform it cannot start anything.
type ContainerLauncher struct{}

// NewContainerLauncher returns ErrUnsupported on this platform.
func NewContainerLauncher(profile *policy.Profile, opts ...Option) (*ContainerLauncher, error) {
	return nil, ErrUnsupported
}

// Launch returns ErrUnsupported.
func (l *ContainerLauncher) Launch(ctx context.Context, spec *bond.LaunchSpec) (bond.Process, error) {
	return nil, ErrUnsupported
}

// Close does nothing.
func (l *ContainerLauncher) Close() error { return nil }

// Preflight returns ErrUnsupported on this platform.
func Preflight() error { return ErrUnsupported }
