package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/sandbond/sandbond/policy"
)

// workerPool is what sandboxd needs from a pool of warm workers for one
// callable: sandbox.Pool has exactly this shape. pool_adapter.go turns the
// real pool into one; tests swap in fakes through server.newPool.
type workerPool interface {
	// Call calls the callable's function with args (json.RawMessage
	// values, which the bond re-encodes by its own rules).
	Call(ctx context.Context, args ...any) (any, error)
	// Close drains the pool: calls in progress finish, new ones fail.
	Close() error
	// Stats is a snapshot of the pool's counters.
	Stats() poolStats
}

// poolStats mirrors sandbox.PoolStats.
type poolStats struct {
	Idle, Busy, Starting                         int
	Started, Restarts, Recycled, Calls, Failures uint64
	Queue                                        int
}

// add sums counters (the gauges too: used for retired pools' totals, where
// only the counters matter).
func (s *poolStats) add(o poolStats) {
	s.Started += o.Started
	s.Restarts += o.Restarts
	s.Recycled += o.Recycled
	s.Calls += o.Calls
	s.Failures += o.Failures
}

// poolSpec is what a pool is built from: sandbox.PoolConfig without the
// fields sandboxd does not use.
type poolSpec struct {
	Profile  *policy.Profile // with the callable's language and pool overrides applied
	Language string
	Setup    string
	Function string
	Logger   *slog.Logger
}

// poolFactory builds a pool. newSandboxPool (pool_adapter.go) is the real
// one.
type poolFactory func(ctx context.Context, spec poolSpec) (workerPool, error)

// Errors a pool adapter maps its pool's sentinels to, so that the HTTP
// layer does not depend on which pool implementation is wired in.
var (
	errOverloaded = errors.New("no worker free within the queue timeout")
	errPoolClosed = errors.New("pool closed")
)
