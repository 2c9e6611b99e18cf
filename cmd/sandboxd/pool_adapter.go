package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/sandbox"
)

// newSandboxPool is the pool factory of the daemon and of the bench-daemon
// verb: a sandbox.Pool per callable. It is the one place that names the
// pool implementation.
func newSandboxPool(ctx context.Context, spec poolSpec) (workerPool, error) {
	cfg := sandbox.PoolConfig{
		Profile: spec.Profile, Language: spec.Language, Setup: spec.Setup,
		Function: spec.Function, Logger: spec.Logger,
	}
	// The pool follows the profile's launcher.type: a container launcher
	// it makes (and closes), or a preset's command (plain, sudo, ssh, lxc).
	p, err := sandbox.NewPool(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return sandboxPool{p}, nil
}

// sandboxPool adapts a *sandbox.Pool to workerPool.
type sandboxPool struct{ p *sandbox.Pool }

// Call calls the pool, mapping its errors by mapPoolErr.
func (a sandboxPool) Call(ctx context.Context, args ...any) (any, error) {
	v, err := a.p.Call(ctx, args...)
	return v, mapPoolErr(err)
}

// Borrow lends a live worker (attach), mapping the pool's errors as Call.
func (a sandboxPool) Borrow(ctx context.Context) (*bond.Bond, func(), error) {
	b, giveBack, err := a.p.Borrow(ctx)
	if err != nil {
		return nil, nil, mapPoolErr(err)
	}
	return b, giveBack, nil
}

// mapPoolErr wraps the pool's overload and closed errors in sandboxd's
// (errOverloaded, errPoolClosed); other errors, and nil, pass unchanged.
func mapPoolErr(err error) error {
	switch {
	case errors.Is(err, sandbox.ErrOverloaded):
		return fmt.Errorf("%w: %w", errOverloaded, err)
	case errors.Is(err, sandbox.ErrPoolClosed):
		return fmt.Errorf("%w: %w", errPoolClosed, err)
	}
	return err
}

// WorkerPids returns the host pids of the pool's live workers.
func (a sandboxPool) WorkerPids() []int { return a.p.WorkerPids() }

// Close drains the pool.
func (a sandboxPool) Close() error { return a.p.Close() }

// Stats converts the pool's stats.
func (a sandboxPool) Stats() poolStats {
	s := a.p.Stats()
	return poolStats{Idle: s.Idle, Busy: s.Busy, Starting: s.Starting, Started: s.Started, Restarts: s.Restarts,
		Recycled: s.Recycled, Calls: s.Calls, Failures: s.Failures, Queue: s.Queue}
}
