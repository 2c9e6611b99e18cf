package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/policy"
	"github.com/sandbond/sandbond/sandbox"
)

// newLauncher returns the bond launcher for a profile and a function that
// releases it. The container launcher is the only sandbox; the plain
// launcher (no isolation) is accepted for development. The sudo, lxc and
// ssh presets are not wired into sandboxd yet.
func newLauncher(p *policy.Profile, log *slog.Logger) (bond.Launcher, func(), error) {
	switch p.Launcher.Type {
	case policy.LauncherContainer:
		l, err := sandbox.NewContainerLauncher(p, sandbox.WithLogger(log))
		if err != nil {
			return nil, nil, err
		}
		return l, func() { _ = l.Close() }, nil
	case policy.LauncherPlain:
		return nil, func() {}, nil
	}
	return nil, nil, fmt.Errorf("profile %q: launcher %q is not supported by sandboxd yet; fix: use a container profile", p.Name, p.Launcher.Type)
}

// bondOptions are the bond options a profile implies (sandbox.BondOptions:
// limits, environment allowlist) with the given launcher and writers.
func bondOptions(p *policy.Profile, l bond.Launcher, log *slog.Logger, stdout, stderr io.Writer) *bond.Options {
	o := sandbox.BondOptions(p)
	o.Launcher, o.Logger, o.Stdout, o.Stderr = l, log, stdout, stderr
	return o
}

// openWorker starts one interpreter for p with launcher l and runs setup
// in it. The caller closes the bond.
func openWorker(ctx context.Context, p *policy.Profile, l bond.Launcher, setup string, log *slog.Logger, stdout, stderr io.Writer) (*bond.Bond, error) {
	b, err := bond.Open(ctx, p.Language, bondOptions(p, l, log, stdout, stderr))
	if err != nil {
		return nil, err
	}
	if setup != "" {
		if err := b.EvalBlock(ctx, setup); err != nil {
			b.Close()
			return nil, fmt.Errorf("setup code: %w", err)
		}
	}
	return b, nil
}
