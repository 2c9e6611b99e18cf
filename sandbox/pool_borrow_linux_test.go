//go:build linux

package sandbox

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sandbond/sandbond/policy"
)

// TestPoolBorrow lends a live worker: what the borrower defines in its
// interpreter is seen by the calls the worker takes afterwards (the worker
// is the same process), and while it is lent it takes no calls.
func TestPoolBorrow(t *testing.T) {
	checkLeaks(t)
	p := newTestPool(t, poolProfile("python", func(p *policy.Profile) {
		p.Pool.MinIdle, p.Pool.MaxSize = 1, 1
		p.Pool.QueueTimeout = policy.Duration(300 * time.Millisecond)
	}), PoolConfig{})
	ctx := testCtx(t)
	if n, err := CallAs[int](ctx, p, "remember", "a"); err != nil || n != 1 {
		t.Fatalf("first call: %v %v", n, err)
	}
	pids := p.WorkerPids()
	b, giveBack, err := p.Borrow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Busy != 1 || st.Idle != 0 {
		t.Errorf("stats while borrowed: %+v", st)
	}
	// The only worker is lent: a call waits, then is refused.
	if _, err := p.Call(ctx, "double", 1); !errors.Is(err, ErrOverloaded) {
		t.Errorf("call while the only worker is lent: %v", err)
	}
	// The state of the live interpreter is there, and a patch stays.
	if v, err := b.Eval(ctx, "len(seen)"); err != nil || v != int64(1) {
		t.Errorf("state seen by the borrower: %v %v", v, err)
	}
	if err := b.EvalBlock(ctx, "_old_task = task\ndef task(op, arg=None):\n    return 'patched ' + str(_old_task(op, arg))\n"); err != nil {
		t.Fatal(err)
	}
	giveBack()
	giveBack() // harmless
	if s, err := CallAs[string](ctx, p, "remember", "b"); err != nil || s != "patched 2" {
		t.Errorf("call after the patch: %q %v", s, err)
	}
	if got := p.WorkerPids(); !slices.Equal(got, pids) {
		t.Errorf("worker pids %v, then %v: the lent worker was replaced", pids, got)
	}
	if st := p.Stats(); st.Restarts != 0 || st.Recycled != 0 || st.Calls != 3 || st.Busy != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// TestPoolBorrowBroken: a worker whose interpreter the borrower closed (or
// that died) is replaced when given back; a fresh_per_task pool never
// reuses a lent worker; Close waits for a lent worker.
func TestPoolBorrowBroken(t *testing.T) {
	checkLeaks(t)
	t.Run("closed by the borrower", func(t *testing.T) {
		p := newTestPool(t, poolProfile("python", func(p *policy.Profile) { p.Pool.MinIdle, p.Pool.MaxSize = 1, 1 }), PoolConfig{})
		ctx := testCtx(t)
		before := p.WorkerPids()
		b, giveBack, err := p.Borrow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Close()
		giveBack()
		if n, err := CallAs[int](ctx, p, "double", 2); err != nil || n != 4 {
			t.Fatalf("call after a broken loan: %v %v", n, err)
		}
		if after := p.WorkerPids(); slices.Equal(before, after) {
			t.Errorf("pids %v after the broken worker was given back", after)
		}
		if st := p.Stats(); st.Restarts != 1 {
			t.Errorf("stats: %+v", st)
		}
	})
	t.Run("fresh per task", func(t *testing.T) {
		p := newTestPool(t, poolProfile("python", func(p *policy.Profile) {
			p.Pool.FreshPerTask, p.Pool.MinIdle, p.Pool.MaxSize = true, 1, 1
		}), PoolConfig{})
		ctx := testCtx(t)
		b, giveBack, err := p.Borrow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.EvalBlock(ctx, "seen.append('lent')"); err != nil {
			t.Fatal(err)
		}
		giveBack()
		if n, err := CallAs[int](ctx, p, "remember", 1); err != nil || n != 1 {
			t.Errorf("a fresh_per_task call saw the lent worker's state: %v %v", n, err)
		}
		if st := p.Stats(); st.Recycled < 1 {
			t.Errorf("stats: %+v", st)
		}
	})
	t.Run("close waits", func(t *testing.T) {
		prof := poolProfile("python", nil)
		p, err := NewPool(testCtx(t), PoolConfig{Profile: prof, Launcher: newTestLauncher(t, prof), Setup: pyTask, Function: "task"})
		if err != nil {
			t.Fatal(err)
		}
		b, giveBack, err := p.Borrow(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		closed := make(chan error, 1)
		go func() { closed <- p.Close() }()
		select {
		case err := <-closed:
			t.Fatalf("Close returned while a worker was lent: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if _, _, err := p.Borrow(context.Background()); !errors.Is(err, ErrPoolClosed) {
			t.Errorf("Borrow on a closing pool: %v", err)
		}
		if v, err := b.Eval(testCtx(t), "1 + 1"); err != nil || v != int64(2) {
			t.Errorf("the lent worker during Close: %v %v", v, err)
		}
		giveBack()
		if err := <-closed; err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}
