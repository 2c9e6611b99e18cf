package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/policy"
)

// Restart backoff bounds: after a worker fails to start, the next start
// waits minBackoff, doubling per consecutive failure up to maxBackoff.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// replenishDelay is how long a call that took an idle worker may run
// before the pool starts a replacement (see replenishLocked).
var replenishDelay = 5 * time.Millisecond

// PoolConfig configures a [Pool].
type PoolConfig struct {
	// Profile is the sandbox policy of every worker, and its pool section
	// sizes the pool. Required. Profile.Language is the default language.
	Profile *policy.Profile
	// Language overrides Profile.Language when set.
	Language string
	// Setup is code run once in each new worker (with EvalBlock), before
	// the worker takes its first task: imports, definitions.
	Setup string
	// Function is the remote callable's name (as bond.Call's name: a
	// function name or an expression that yields a callable). Required.
	Function string
	// Exports are Go functions exported into every worker, by name.
	Exports map[string]bond.Func
	// Logger receives the pool's and its bonds' diagnostics; nil means
	// slog.Default().
	Logger *slog.Logger
	// Launcher starts the workers. Nil means what Profile's
	// launcher.type names: a [ContainerLauncher] for "container" (the
	// default), which the pool closes when it closes, or, for the presets
	// "plain", "sudo", "ssh" and "lxc", the command [PresetOptions] builds
	// (with the limits of [BondOptions]). A launcher given here is not
	// closed by the pool.
	Launcher bond.Launcher
}

// PoolStats is a snapshot of a pool's state and counters.
type PoolStats struct {
	// Idle workers wait for a task; Busy ones run one; Starting ones are
	// being started.
	Idle, Busy, Starting int
	// Started counts workers started (ready, setup done) since the pool
	// was created.
	Started uint64
	// Restarts counts workers lost and replaced: their interpreter died,
	// hit a limit, was interrupted or broke the protocol.
	Restarts uint64
	// Recycled counts workers retired on purpose: after a task when the
	// profile wants a fresh sandbox per task, after pool.recycle_after
	// calls, or near limits.wall_per_sandbox.
	Recycled uint64
	// Calls counts the calls answered; Failures those answered with an
	// error (including ErrOverloaded and ErrPoolClosed).
	Calls, Failures uint64
	// Queue is the number of calls waiting for a worker.
	Queue int
}

// A Pool keeps warm sandboxed bonds for one callable: a function of an
// interpreter running in a container built from a [policy.Profile].
//
// The profile's pool section sizes it: min_idle workers are kept started
// and idle, at most max_size exist at once. With fresh_per_task every call
// gets a worker that never ran a task and the worker is discarded after it
// (a replacement starts in the background as soon as a worker is taken, so
// that a warm one waits); otherwise a worker is reused and replaced after
// recycle_after calls (0: only when it dies) or before it reaches
// limits.wall_per_sandbox. A worker whose interpreter died, hit a limit,
// timed out, was interrupted or broke the protocol is discarded and
// replaced; when starting workers fails, the pool retries with an
// exponential backoff (100ms to 10s) and logs each failure.
//
// A call waits up to pool.queue_timeout for a worker and then fails with
// [ErrOverloaded]. Each call is bounded by limits.wall_per_call: a call
// that exceeds it fails with a [*LimitError] for [ErrWallLimit] that also
// matches context.DeadlineExceeded. A call whose worker dies answers with
// an error that keeps the sandbox's cause (a [*LimitError], a
// [*SeccompError]) and [bond.ErrTerminated]. Remote exceptions are
// [*bond.RemoteError] values, as with a plain bond. Only JSON crosses.
//
// A Pool is safe for concurrent use.
type Pool struct {
	cfg      PoolConfig
	profile  *policy.Profile // with defaults
	name     string
	lang     string
	opts     *bond.Options
	own      *ContainerLauncher // closed with the pool
	log      *slog.Logger
	minIdle  int
	maxSize  int
	fresh    bool
	recycle  int
	queueTO  time.Duration
	wallCall time.Duration
	maxAge   time.Duration // retire a worker this old (0: never)

	life    context.Context // bounds background starts; cancelled by Close
	cancel  context.CancelFunc
	closing chan struct{} // closed by Close

	mu        sync.Mutex
	workers   map[*worker]struct{} // every live worker: idle, busy or being closed
	idle      []*worker            // a stack: the most recently used worker first out
	busy      int
	starting  int
	waiters   []chan *worker
	closed    bool
	failures  int       // consecutive start failures
	lastErr   error     // the last start failure, while failing
	retryAt   time.Time // no start before this (backoff)
	retry     *time.Timer
	replenish *time.Timer // see replenishLocked
	seq       uint64
	st        PoolStats // counters only

	calls     sync.WaitGroup // calls holding a worker
	bg        sync.WaitGroup // starts, closes, watchers
	closeOnce sync.Once
	closeErr  error
}

// NewPool creates the pool for a callable and starts its min_idle workers;
// it returns once they are ready (setup code run), or the first error
// (a start, export or setup failure) after stopping what it started. ctx
// bounds the start only.
func NewPool(ctx context.Context, cfg PoolConfig) (*Pool, error) {
	if cfg.Profile == nil {
		return nil, fmt.Errorf("%w: pool: nil profile", ErrProfile)
	}
	prof := cfg.Profile.WithDefaults()
	lang := cfg.Language
	if lang == "" {
		lang = prof.Language
	}
	if lang == "" {
		return nil, fmt.Errorf("%w: pool: profile %q has no language and none was given", ErrProfile, prof.Name)
	}
	if cfg.Function == "" {
		return nil, fmt.Errorf("%w: pool: no function to call", ErrProfile)
	}
	pl := prof.Pool
	if pl.MaxSize < 1 || pl.MinIdle < 0 || pl.MinIdle > pl.MaxSize {
		return nil, fmt.Errorf("%w: profile %q: pool.min_idle (%d) must be between 0 and pool.max_size (%d), and max_size at least 1",
			ErrProfile, prof.Name, pl.MinIdle, pl.MaxSize)
	}
	if pl.FreshPerTask && pl.RecycleAfter != 0 {
		return nil, fmt.Errorf("%w: profile %q: pool.recycle_after must be 0 when pool.fresh_per_task is set", ErrProfile, prof.Name)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &Pool{
		cfg: cfg, profile: prof, name: prof.Name, lang: lang, log: log,
		minIdle: pl.MinIdle, maxSize: pl.MaxSize, fresh: pl.FreshPerTask, recycle: pl.RecycleAfter,
		queueTO: pl.QueueTimeout.Std(), wallCall: prof.Limits.WallPerCall.Std(),
		closing: make(chan struct{}), workers: map[*worker]struct{}{},
	}
	if ws := prof.Limits.WallPerSandbox.Std(); ws > 0 {
		// Retire a worker before its sandbox's wall clock could end a
		// call: a call may take up to wall_per_call.
		p.maxAge = ws - p.wallCall - time.Second
		if p.maxAge <= 0 {
			p.maxAge = ws / 2
		}
	}
	p.opts = BondOptions(prof)
	p.opts.Logger = log.With("pool", prof.Name)
	p.opts.Launcher = cfg.Launcher
	switch {
	case cfg.Launcher != nil:
	case prof.Launcher.Type == policy.LauncherContainer || prof.Launcher.Type == "":
		lp := cfg.Profile.Clone()
		lp.Language = lang
		l, err := NewContainerLauncher(lp, WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("pool %q: %w", prof.Name, err)
		}
		p.own, p.opts.Launcher = l, l
	default:
		// A preset: the bond's own launcher runs the preset's command,
		// with the profile's limits.
		lp := prof.Clone()
		lp.Language = lang
		po, err := PresetOptions(lp)
		if err != nil {
			return nil, fmt.Errorf("%w: pool %q: %w", ErrProfile, prof.Name, err)
		}
		p.opts.Command, p.opts.Channel, p.opts.Env = po.Command, po.Channel, po.Env
	}
	p.life, p.cancel = context.WithCancel(context.WithoutCancel(ctx))

	// The first workers start in parallel; the pool is usable only when
	// they all are, so that a broken setup is reported here.
	type started struct {
		w   *worker
		err error
	}
	res := make(chan started, p.minIdle)
	for range p.minIdle {
		go func() {
			w, err := p.newWorker(ctx)
			res <- started{w, err}
		}()
	}
	var errs []error
	for range p.minIdle {
		r := <-res
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		p.mu.Lock()
		p.idle = append(p.idle, r.w)
		p.mu.Unlock()
	}
	if len(errs) > 0 {
		_ = p.Close()
		return nil, fmt.Errorf("pool %q: starting %s workers: %w", p.name, lang, errs[0])
	}
	return p, nil
}

// Call calls the pool's function with args in a worker and returns its
// result. It waits up to pool.queue_timeout for a free worker; see [Pool]
// for the errors.
func (p *Pool) Call(ctx context.Context, args ...any) (any, error) {
	var v any
	err := p.run(ctx, func(b *bond.Bond) (err error) {
		v, err = b.Call(ctx, p.cfg.Function, args...)
		return err
	})
	return v, err
}

// CallAs calls the pool's function like [Pool.Call] and decodes its result
// into T (encoding/json's rules, as [bond.CallAs]).
func CallAs[T any](ctx context.Context, p *Pool, args ...any) (T, error) {
	var v T
	err := p.run(ctx, func(b *bond.Bond) (err error) {
		v, err = bond.CallAs[T](ctx, b, p.cfg.Function, args...)
		return err
	})
	return v, err
}

// Borrow takes a worker out of rotation and lends its bond, for as long as
// the caller needs it: an interactive session on a live warm worker (the
// hot-patching use case: inspect the interpreter, redefine a function).
// It waits for a free worker like [Pool.Call] (up to pool.queue_timeout,
// then [ErrOverloaded]; [ErrPoolClosed] once the pool closes). While
// borrowed, the worker counts as busy and takes no calls; what the borrower
// changes in the interpreter stays there for the calls the worker takes
// after it is given back (each worker has its own interpreter: a change
// made in one is not seen by the others).
//
// giveBack returns the worker to the pool (calling it more than once is
// harmless). A worker whose interpreter died or broke meanwhile is replaced
// instead, as is one the pool would not reuse after a task: the borrow
// counts as a task for pool.fresh_per_task and pool.recycle_after. A
// borrower that cannot vouch for the interpreter's state closes the bond
// before giving it back. [Pool.Close] waits for borrowed workers, as for
// calls in progress.
func (p *Pool) Borrow(ctx context.Context) (b *bond.Bond, giveBack func(), err error) {
	w, err := p.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	return w.b, func() {
		once.Do(func() {
			p.mu.Lock()
			w.calls++ // a task: fresh_per_task and recycle_after count it
			p.mu.Unlock()
			p.release(w, nil, false)
		})
	}, nil
}

// WorkerPids returns the host process ids of the pool's live workers'
// interpreters (idle and busy), for supervision and tests; a pid is 0 when
// the launcher does not know it.
func (p *Pool) WorkerPids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	pids := make([]int, 0, len(p.workers))
	for w := range p.workers {
		if w.b.Err() == nil {
			pids = append(pids, w.b.Pid())
		}
	}
	slices.Sort(pids)
	return pids
}

// Stats returns a snapshot of the pool's state and counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.st
	s.Idle, s.Busy, s.Starting, s.Queue = len(p.idle), p.busy, p.starting, len(p.waiters)
	return s
}

// Close drains the pool: calls waiting for a worker and new calls fail with
// [ErrPoolClosed], calls running on a worker finish; then every worker is
// stopped, and the pool's own launcher closed. It returns once every
// sandbox is gone. Close is safe to call more than once.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		close(p.closing)
		p.waiters = nil // each sees closing, then that it was dropped
		if p.retry != nil {
			p.retry.Stop()
		}
		if p.replenish != nil {
			p.replenish.Stop()
		}
		p.mu.Unlock()
		p.cancel() // starts in progress give up
		p.calls.Wait()
		p.mu.Lock()
		idle := p.idle
		p.idle = nil
		for _, w := range idle {
			p.discardLocked(w)
		}
		p.mu.Unlock()
		p.bg.Wait()
		if p.own != nil {
			p.closeErr = p.own.Close()
		}
	})
	return p.closeErr
}

// run runs fn on a worker and returns the worker to the pool, or discards
// it, depending on the outcome.
func (p *Pool) run(ctx context.Context, fn func(b *bond.Bond) error) error {
	w, err := p.acquire(ctx)
	if err != nil {
		p.mu.Lock()
		p.st.Calls++
		p.st.Failures++
		p.mu.Unlock()
		return err
	}
	err = p.explain(ctx, w, fn(w.b))
	p.release(w, err, true)
	return err
}

// acquire takes an idle worker, or waits for one up to the queue timeout.
func (p *Pool) acquire(ctx context.Context) (*worker, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sandbox pool %q: %w", p.name, err)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, fmt.Errorf("pool %q: %w", p.name, ErrPoolClosed)
	}
	for len(p.idle) > 0 {
		w := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if w.b.Err() != nil || p.tooOld(w) {
			p.retireLocked(w, w.b.Err() != nil)
			continue
		}
		p.takeLocked()
		p.replenishLocked()
		p.mu.Unlock()
		return w, nil
	}
	ch := make(chan *worker, 1)
	p.waiters = append(p.waiters, ch)
	p.maintainLocked()
	p.mu.Unlock()

	timer := time.NewTimer(p.queueTO)
	defer timer.Stop()
	var why error
	select {
	case w := <-ch:
		return w, nil
	case <-ctx.Done():
		why = fmt.Errorf("sandbox pool %q: waiting for a worker: %w", p.name, ctx.Err())
	case <-timer.C:
	case <-p.closing:
		why = fmt.Errorf("pool %q: %w", p.name, ErrPoolClosed)
	}
	p.mu.Lock()
	if i := slices.Index(p.waiters, ch); i >= 0 {
		p.waiters = slices.Delete(p.waiters, i, i+1)
	}
	lastErr := p.lastErr
	closed := p.closed
	p.mu.Unlock()
	if len(ch) > 0 {
		// A worker was handed over meanwhile (under p.mu, so not after
		// we left the queue): it is ours.
		w := <-ch
		if why == nil {
			return w, nil
		}
		p.release(w, nil, false) // unused: still fresh
		return nil, why
	}
	if why != nil {
		return nil, why
	}
	if closed {
		return nil, fmt.Errorf("pool %q: %w", p.name, ErrPoolClosed)
	}
	if lastErr != nil {
		return nil, fmt.Errorf("%w: pool %q: no %s worker free within %v (pool.queue_timeout); starting workers fails: %w",
			ErrOverloaded, p.name, p.lang, p.queueTO, lastErr)
	}
	return nil, fmt.Errorf("%w: pool %q: all %d %s workers busy for %v (pool.queue_timeout)",
		ErrOverloaded, p.name, p.maxSize, p.lang, p.queueTO)
}

// replenishLocked restores min_idle after a call took an idle worker: when
// the call ends or after replenishDelay, whichever comes first, so that a
// short call does not share the CPU with a sandbox start. p.mu is held.
func (p *Pool) replenishLocked() {
	if replenishDelay <= 0 {
		p.maintainLocked()
		return
	}
	if p.replenish == nil && !p.closed {
		p.replenish = time.AfterFunc(replenishDelay, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.replenish = nil
			p.maintainLocked()
		})
	}
}

// takeLocked accounts for a worker handed to a call. p.mu is held.
func (p *Pool) takeLocked() {
	p.busy++
	p.calls.Add(1)
}

func (p *Pool) tooOld(w *worker) bool {
	return p.maxAge > 0 && time.Since(w.born) >= p.maxAge
}

// retireLocked discards a worker: lost (dead, broken) or recycled on
// purpose. p.mu is held.
func (p *Pool) retireLocked(w *worker, lost bool) {
	if lost {
		p.st.Restarts++
	} else {
		p.st.Recycled++
	}
	p.discardLocked(w)
}

// explain adds the pool's view to a call's error: the wall limit of a call,
// the worker that died.
func (p *Pool) explain(ctx context.Context, w *worker, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		// Not the caller's deadline: the profile's wall_per_call.
		return &LimitError{Limit: LimitWall, Value: int64(p.wallCall), Profile: p.name,
			Err: fmt.Errorf("call exceeded limits.wall_per_call (%v): %w", p.wallCall, err)}
	}
	if w.b.Err() != nil && !errors.Is(err, bond.ErrRemote) {
		return fmt.Errorf("sandbox pool %q: worker %d lost during the call: %w", p.name, w.id, err)
	}
	return err
}

// keeps reports whether a worker is still good after a call that returned
// err: only a value, a remote exception or a value that could not cross
// leave the interpreter as it was.
func keeps(w *worker, err error) bool {
	if w.b.Err() != nil {
		return false
	}
	if err == nil {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrLimit) {
		return false // interrupted: the interpreter may be anywhere
	}
	return errors.Is(err, bond.ErrRemote) || errors.Is(err, bond.ErrSerialization)
}

// release returns a worker after a call, or retires it. used says whether
// it ran the call (a worker handed to a call that gave up did not).
func (p *Pool) release(w *worker, err error, used bool) {
	if p.releaseLocked(w, err, used) {
		// The worker went to a waiting call: let that call's goroutine
		// run now (it is next on this P) so that the interpreter gets
		// its next request at once rather than after this caller has
		// written its answer (on 2 cores, the difference is an idle
		// interpreter for tens of microseconds per call).
		runtime.Gosched()
	}
}

// releaseLocked does release's work under p.mu and reports whether the
// worker was handed to a waiting call.
func (p *Pool) releaseLocked(w *worker, err error, used bool) (handed bool) {
	p.mu.Lock()
	defer p.calls.Done()
	defer p.mu.Unlock()
	p.busy--
	if used {
		w.calls++
		p.st.Calls++
		if err != nil {
			p.st.Failures++
		}
	}
	switch {
	case !keeps(w, err):
		p.retireLocked(w, true)
	case p.closed:
		p.discardLocked(w)
	case w.calls > 0 && p.fresh,
		p.recycle > 0 && w.calls >= p.recycle,
		p.tooOld(w):
		p.retireLocked(w, false)
	default:
		handed = p.putLocked(w)
	}
	p.maintainLocked()
	return handed
}

// putLocked hands a ready worker to the first waiting call, or makes it
// idle, and reports which. p.mu is held.
func (p *Pool) putLocked(w *worker) (handed bool) {
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.takeLocked()
		ch <- w
		return true
	}
	p.idle = append(p.idle, w)
	return false
}

// maintainLocked starts workers so that min_idle are idle or starting,
// plus one for each waiting call, within max_size, and respecting the
// backoff after start failures. p.mu is held.
func (p *Pool) maintainLocked() {
	if p.closed {
		return
	}
	need := p.minIdle + len(p.waiters) - len(p.idle) - p.starting
	room := p.maxSize - len(p.idle) - p.busy - p.starting
	n := min(need, room)
	if n <= 0 {
		return
	}
	if p.failures > 0 {
		// Failing: one probe at a time, after the backoff.
		if p.starting > 0 {
			return
		}
		if d := time.Until(p.retryAt); d > 0 {
			if p.retry == nil {
				p.retry = time.AfterFunc(d, func() {
					p.mu.Lock()
					defer p.mu.Unlock()
					p.retry = nil
					p.maintainLocked()
				})
			}
			return
		}
		n = 1
	}
	for range n {
		p.starting++
		p.bg.Add(1)
		go p.start()
	}
}

// start starts one worker in the background.
func (p *Pool) start() {
	defer p.bg.Done()
	w, err := p.newWorker(p.life)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting--
	if p.closed {
		if w != nil {
			p.discardLocked(w)
		}
		return
	}
	if err != nil {
		p.failures++
		p.lastErr = err
		d := min(minBackoff<<min(p.failures-1, 16), maxBackoff)
		p.retryAt = time.Now().Add(d)
		p.log.Error("sandbox pool: starting a worker failed; retrying", "pool", p.name, "lang", p.lang,
			"failures", p.failures, "retry_in", d, "err", err)
		p.maintainLocked()
		return
	}
	if p.failures > 0 {
		p.log.Info("sandbox pool: workers start again", "pool", p.name, "after_failures", p.failures)
	}
	p.failures, p.lastErr = 0, nil
	p.putLocked(w)
	p.maintainLocked()
}
