package sandbox

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sandbond/sandbond/bond"
)

// A worker is one bond of a pool: an interpreter in its own sandbox, with
// the pool's exports and setup code loaded.
type worker struct {
	id    uint64
	b     *bond.Bond
	born  time.Time
	calls int // tasks run
}

// newWorker starts a bond, exports the pool's Go functions into it and runs
// the setup code. ctx bounds all of that.
func (p *Pool) newWorker(ctx context.Context) (*worker, error) {
	o := *p.opts
	b, err := bond.Open(ctx, p.lang, &o)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(p.cfg.Exports)) {
		if err = b.Export(ctx, name, p.cfg.Exports[name]); err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("export %s: %w", name, err)
		}
	}
	if p.cfg.Setup != "" {
		if err = b.EvalBlock(ctx, p.cfg.Setup); err != nil {
			_ = b.Close()
			return nil, fmt.Errorf("setup code: %w", err)
		}
	}
	p.mu.Lock()
	p.seq++
	w := &worker{id: p.seq, b: b, born: time.Now()}
	p.workers[w] = struct{}{}
	p.st.Started++
	p.bg.Add(1)
	p.mu.Unlock()
	go p.watch(w)
	return w, nil
}

// watch notices a worker that dies while idle (the sandbox's wall time,
// a kill from outside) and replaces it, and retires an idle worker that
// reaches the pool's maximum age before its sandbox's wall time kills it.
// It ends when the bond does, which is at the latest when the pool closes
// it.
func (p *Pool) watch(w *worker) {
	defer p.bg.Done()
	var old <-chan time.Time
	if p.maxAge > 0 {
		t := time.NewTimer(p.maxAge)
		defer t.Stop()
		old = t.C
	}
	for {
		select {
		case <-w.b.Done():
			p.mu.Lock()
			defer p.mu.Unlock()
			if !p.removeIdleLocked(w) {
				return // busy (the call will tell), or closed by the pool
			}
			p.log.Warn("sandbox pool: idle worker died; replacing it", "pool", p.name, "worker", w.id, "err", w.b.Err())
			p.retireLocked(w, true)
			p.maintainLocked()
			return
		case <-old:
			old = nil
			p.mu.Lock()
			if p.removeIdleLocked(w) { // when busy, release retires it
				p.retireLocked(w, false)
				p.maintainLocked()
			}
			p.mu.Unlock()
		}
	}
}

// removeIdleLocked removes w from the idle workers and says whether it was
// one. p.mu is held.
func (p *Pool) removeIdleLocked(w *worker) bool {
	i := slices.Index(p.idle, w)
	if i >= 0 {
		p.idle = slices.Delete(p.idle, i, i+1)
	}
	return i >= 0
}

// discardLocked closes a worker in the background. p.mu is held.
func (p *Pool) discardLocked(w *worker) {
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		_ = w.b.Close()
		p.mu.Lock()
		delete(p.workers, w)
		p.mu.Unlock()
	}()
}
