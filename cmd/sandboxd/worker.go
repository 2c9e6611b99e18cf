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
// releases it: a rootless container launcher for the container profile,
// nil for the presets (plain, sudo, ssh, lxc), whose command bondOptions
// sets instead.
func newLauncher(p *policy.Profile, log *slog.Logger) (bond.Launcher, func(), error) {
	if isContainer(p) {
		l, err := sandbox.NewContainerLauncher(p, sandbox.WithLogger(log))
		if err != nil {
			return nil, nil, err
		}
		return l, func() { _ = l.Close() }, nil
	}
	if _, err := sandbox.PresetOptions(p); err != nil {
		return nil, nil, err
	}
	return nil, func() {}, nil
}

// isContainer reports whether p runs its interpreters in the container.
func isContainer(p *policy.Profile) bool {
	return p.Launcher.Type == policy.LauncherContainer || p.Launcher.Type == ""
}

// bondOptions are the bond options a profile implies (sandbox.BondOptions:
// limits, environment allowlist) with the given launcher and writers; for
// a preset, its command, channel and environment (sandbox.PresetOptions).
func bondOptions(p *policy.Profile, l bond.Launcher, log *slog.Logger, stdout, stderr io.Writer) (*bond.Options, error) {
	o := sandbox.BondOptions(p)
	if !isContainer(p) {
		po, err := sandbox.PresetOptions(p)
		if err != nil {
			return nil, err
		}
		o.Command, o.Channel, o.Env = po.Command, po.Channel, po.Env
	}
	o.Launcher, o.Logger, o.Stdout, o.Stderr = l, log, stdout, stderr
	return o, nil
}

// openWorker starts one interpreter for p with launcher l and runs setup
// in it. The caller closes the bond.
func openWorker(ctx context.Context, p *policy.Profile, l bond.Launcher, setup string, log *slog.Logger, stdout, stderr io.Writer) (*bond.Bond, error) {
	o, err := bondOptions(p, l, log, stdout, stderr)
	if err != nil {
		return nil, err
	}
	b, err := bond.Open(ctx, p.Language, o)
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
