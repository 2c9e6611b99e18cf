//go:build linux

package sandbox

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/internal/testenv"
	"github.com/sandbond/sandbond/policy"
)

// pyTask is the python setup of most pool tests: task(op, arg) does what
// op says, inside the sandbox.
const pyTask = `
import os, time
seen = []
def task(op, arg=None):
    if op == "double":
        return arg * 2
    if op == "remember":
        seen.append(arg)
        return len(seen)
    if op == "sleep":
        time.sleep(arg)
        return arg
    if op == "exit":
        os._exit(arg)
    if op == "bomb":
        b = []
        while True:
            b.append(bytearray(1 << 20))
    if op == "raise":
        raise ValueError(arg)
    raise KeyError(op)
`

// poolProfile is testProfile with a small pool; mod changes it further.
func poolProfile(lang string, mod func(p *policy.Profile)) *policy.Profile {
	p := testProfile(lang)
	p.Limits.WallPerCall = policy.Duration(10 * time.Second)
	p.Pool = policy.Pool{MinIdle: 1, MaxSize: 2, QueueTimeout: policy.Duration(5 * time.Second)}
	if mod != nil {
		mod(p)
	}
	return p
}

// newTestPool starts a python pool running pyTask's task, with a launcher
// in the test state directory, closed at the end of the test.
func newTestPool(t *testing.T, prof *policy.Profile, cfg PoolConfig) *Pool {
	t.Helper()
	cfg.Profile = prof
	if cfg.Launcher == nil {
		cfg.Launcher = newTestLauncher(t, prof) // closed after the pool (cleanups run LIFO)
	}
	if cfg.Setup == "" {
		cfg.Setup, cfg.Function = pyTask, "task"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := NewPool(ctx, cfg)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkLeaks registers, first thing in a test, a check run after every
// other cleanup (the pool's Close, the launcher's): no goroutine, no child
// process and no container state of this process is left.
func checkLeaks(t *testing.T) {
	t.Helper()
	needRoot(t)
	opts := []goleak.Option{goleak.IgnoreCurrent(),
		// the process-wide reader of seccomp audit records, started once
		goleak.IgnoreAnyFunction("github.com/sandbond/sandbond/sandbox.(*auditReader).run")}
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		goleak.VerifyNone(t, opts...)
		if kids := children(); len(kids) > 0 {
			t.Errorf("child processes left: %v", kids)
		}
		for _, dir := range []string{testStateDir(), defaultStateDir()} {
			ents, _ := os.ReadDir(filepath.Join(dir, "containers"))
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), selfTag()+".") {
					t.Errorf("container state left: %s", filepath.Join(dir, "containers", e.Name()))
				}
			}
		}
	})
}

// children lists the processes whose parent is this process.
func children() []string {
	self := strconv.Itoa(os.Getpid())
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if f := strings.Fields(s[i+1:]); i > 0 && len(f) > 1 && f[1] == self {
			out = append(out, e.Name()+" "+s[:i+1])
		}
	}
	return out
}

// waitFor polls cond for up to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestPoolCall(t *testing.T) {
	checkLeaks(t)
	p := newTestPool(t, poolProfile("python", nil), PoolConfig{})
	ctx := testCtx(t)
	v, err := p.Call(ctx, "double", 21)
	if err != nil || v != int64(42) {
		t.Fatalf("Call: %v (%T), %v", v, v, err)
	}
	n, err := CallAs[int](ctx, p, "double", 4)
	if err != nil || n != 8 {
		t.Fatalf("CallAs: %v, %v", n, err)
	}
	s, err := CallAs[string](ctx, p, "double", "ab")
	if err != nil || s != "abab" {
		t.Fatalf("CallAs[string]: %q, %v", s, err)
	}
	// A remote exception is a RemoteError and keeps the worker.
	_, err = p.Call(ctx, "raise", "boom")
	var re *bond.RemoteError
	if !errors.As(err, &re) || re.Type != "ValueError" || re.Message != "boom" {
		t.Fatalf("raise: %v", err)
	}
	// A result that does not decode into T is a local SerializationError.
	if _, err := CallAs[int](ctx, p, "double", "x"); !errors.Is(err, bond.ErrSerialization) {
		t.Fatalf("decode into int: %v", err)
	}
	st := p.Stats()
	if st.Started < 1 || st.Restarts != 0 || st.Calls != 5 || st.Failures != 2 || st.Idle < 1 || st.Busy != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// TestPoolExports checks that Go functions are exported into every worker.
func TestPoolExports(t *testing.T) {
	checkLeaks(t)
	p := newTestPool(t, poolProfile("python", nil), PoolConfig{
		Setup:    "def task(x):\n    return go_add(x, 1) * 10\n",
		Function: "task",
		Exports: map[string]bond.Func{"go_add": func(_ context.Context, args []any) (any, error) {
			return args[0].(int64) + args[1].(int64), nil
		}},
	})
	n, err := CallAs[int](testCtx(t), p, 4)
	if err != nil || n != 50 {
		t.Fatalf("got %v, %v", n, err)
	}
}

// TestPoolState checks fresh_per_task (no state survives a task) and
// recycle_after (state survives until the worker is recycled).
func TestPoolState(t *testing.T) {
	tests := []struct {
		name         string
		fresh        bool
		recycleAfter int
		want         []int // what "remember" returns, call after call
		wantRecycled uint64
	}{
		{"fresh per task", true, 0, []int{1, 1, 1, 1}, 4},
		{"recycle after 3", false, 3, []int{1, 2, 3, 1, 2, 3, 1}, 2},
		{"never recycled", false, 0, []int{1, 2, 3, 4, 5}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			p := newTestPool(t, poolProfile("python", func(p *policy.Profile) {
				p.Pool.FreshPerTask, p.Pool.RecycleAfter = tc.fresh, tc.recycleAfter
				p.Pool.MinIdle, p.Pool.MaxSize = 1, 1
			}), PoolConfig{})
			ctx := testCtx(t)
			for i, want := range tc.want {
				got, err := CallAs[int](ctx, p, "remember", i)
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if got != want {
					t.Fatalf("call %d: the worker had seen %d tasks, want %d (%+v)", i, got, want, p.Stats())
				}
			}
			st := p.Stats()
			if st.Recycled != tc.wantRecycled || st.Restarts != 0 {
				t.Errorf("stats: %+v, want %d recycled", st, tc.wantRecycled)
			}
			if tc.fresh {
				// The replacement starts in the background: a warm worker waits.
				waitFor(t, "a warm worker", func() bool { return p.Stats().Idle == 1 })
			}
		})
	}
}

// TestPoolFreshWarm checks that in fresh mode a replacement starts as soon
// as a worker is taken: with min_idle 2, a second call finds a warm worker
// while the first runs, and after both min_idle workers wait again.
func TestPoolFreshWarm(t *testing.T) {
	checkLeaks(t)
	p := newTestPool(t, poolProfile("python", func(p *policy.Profile) {
		p.Pool.FreshPerTask, p.Pool.MinIdle, p.Pool.MaxSize = true, 2, 4
	}), PoolConfig{})
	ctx := testCtx(t)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Call(ctx, "sleep", 0.3); err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	waitFor(t, "min_idle warm workers", func() bool { s := p.Stats(); return s.Idle == 2 && s.Starting == 0 })
	st := p.Stats()
	if st.Started != 4 || st.Recycled != 2 {
		t.Errorf("stats: %+v", st)
	}
}

// TestPoolWorkerDies kills a worker mid-call in several ways: the call gets
// a typed error and the pool recovers.
func TestPoolWorkerDies(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(p *policy.Profile)
		op    string
		arg   any
		kill  bool // SIGKILL the interpreter from the host while it sleeps
		check func(t *testing.T, err error)
	}{
		{"kill from the host", nil, "sleep", 30, true, func(t *testing.T, err error) {
			var ee *exec.ExitError
			if !errors.Is(err, bond.ErrTerminated) || !errors.As(err, &ee) {
				t.Fatalf("want ErrTerminated and an *exec.ExitError: %v", err)
			}
			if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Errorf("wait status %v", ws)
			}
		}},
		{"os._exit", nil, "exit", 3, false, func(t *testing.T, err error) {
			var ee *exec.ExitError
			if !errors.Is(err, bond.ErrTerminated) || !errors.As(err, &ee) || ee.ExitCode() != 3 {
				t.Fatalf("want ErrTerminated and exit status 3: %v", err)
			}
		}},
		{"memory bomb", func(p *policy.Profile) { p.Limits.MemoryBytes = 64 << 20 }, "bomb", nil, false, func(t *testing.T, err error) {
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != LimitMemory || !errors.Is(err, ErrMemoryLimit) || !errors.Is(err, bond.ErrTerminated) {
				t.Fatalf("want a memory *LimitError and ErrTerminated: %v", err)
			}
		}},
		{"wall per call", func(p *policy.Profile) { p.Limits.WallPerCall = policy.Duration(300 * time.Millisecond) }, "sleep", 30, false, func(t *testing.T, err error) {
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != LimitWall || !errors.Is(err, ErrWallLimit) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("want a wall *LimitError with DeadlineExceeded: %v", err)
			}
		}},
		{"wall per sandbox", func(p *policy.Profile) {
			p.Limits.WallPerSandbox = policy.Duration(1500 * time.Millisecond)
			p.Limits.WallPerCall = policy.Duration(1 * time.Second)
		}, "sleep", 0.9, false, nil}, // the pool retires workers before the sandbox's wall time ends a call
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			p := newTestPool(t, poolProfile("python", func(p *policy.Profile) {
				p.Pool.MinIdle, p.Pool.MaxSize = 1, 1
				if tc.mod != nil {
					tc.mod(p)
				}
			}), PoolConfig{})
			ctx := testCtx(t)
			p.mu.Lock()
			pid := p.idle[0].b.Pid()
			p.mu.Unlock()
			if tc.kill {
				go func() {
					waitFor(t, "the call", func() bool { return p.Stats().Busy == 1 })
					time.Sleep(100 * time.Millisecond)
					if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
						t.Errorf("kill %d: %v", pid, err)
					}
				}()
			}
			start := time.Now()
			for range 3 {
				_, err := p.Call(ctx, tc.op, tc.arg)
				t.Logf("%v after %v", err, time.Since(start).Round(time.Millisecond))
				if tc.check == nil {
					if err != nil {
						t.Fatal(err)
					}
					time.Sleep(300 * time.Millisecond)
					continue
				}
				if err == nil {
					t.Fatal("the call succeeded")
				}
				tc.check(t, err)
				break
			}
			// The pool recovers: the next call runs on a new worker.
			if n, err := CallAs[int](ctx, p, "double", 5); err != nil || n != 10 {
				t.Fatalf("next call: %v, %v", n, err)
			}
			st := p.Stats()
			if tc.check != nil && st.Restarts != 1 {
				t.Errorf("stats: %+v, want 1 restart", st)
			}
			if tc.check == nil && (st.Restarts != 0 || st.Recycled < 1) {
				t.Errorf("stats: %+v, want recycles and no restart", st)
			}
			if tc.check != nil && st.Started != 2 {
				t.Errorf("stats: %+v, want 2 started", st)
			}
		})
	}
}

// TestPoolOverload fills the pool: a call that finds no worker within
// queue_timeout fails with ErrOverloaded.
func TestPoolOverload(t *testing.T) {
	checkLeaks(t)
	p := newTestPool(t, poolProfile("python", func(p *policy.Profile) {
		p.Pool.MinIdle, p.Pool.MaxSize = 1, 1
		p.Pool.QueueTimeout = policy.Duration(200 * time.Millisecond)
	}), PoolConfig{})
	ctx := testCtx(t)
	done := make(chan error, 1)
	go func() { _, err := p.Call(ctx, "sleep", 1.5); done <- err }()
	waitFor(t, "the first call", func() bool { return p.Stats().Busy == 1 })
	start := time.Now()
	_, err := p.Call(ctx, "double", 1)
	took := time.Since(start)
	if !errors.Is(err, ErrOverloaded) {
		t.Fatalf("want ErrOverloaded: %v", err)
	}
	if took < 200*time.Millisecond || took > 3*time.Second {
		t.Errorf("overloaded after %v, want about 200ms", took)
	}
	t.Log(err)
	// A caller's own deadline still wins while queued.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = p.Call(cctx, "double", 1)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrOverloaded) {
		t.Errorf("want the caller's DeadlineExceeded: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("first call: %v", err)
	}
	if n, err := CallAs[int](ctx, p, "double", 2); err != nil || n != 4 {
		t.Fatalf("after the overload: %v %v", n, err)
	}
	if st := p.Stats(); st.Failures != 2 || st.Queue != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// TestPoolGather scatters 20 inputs over 4 workers.
func TestPoolGather(t *testing.T) {
	checkLeaks(t)
	p := newTestPool(t, poolProfile("python", func(p *policy.Profile) {
		p.Pool.MinIdle, p.Pool.MaxSize = 1, 4
	}), PoolConfig{})
	var inputs [][]any
	for i := range 20 {
		inputs = append(inputs, []any{"double", i})
	}
	inputs[7] = []any{"raise", "seven"}
	res, errs := Gather[int](testCtx(t), p, inputs)
	for i := range inputs {
		if i == 7 {
			if !errors.Is(errs[i], bond.ErrRemote) || res[i] != 0 {
				t.Errorf("input 7: %v, %v", res[i], errs[i])
			}
			continue
		}
		if errs[i] != nil || res[i] != 2*i {
			t.Errorf("input %d: %v, %v", i, res[i], errs[i])
		}
	}
	st := p.Stats()
	if st.Started > 4 || st.Calls != 20 {
		t.Errorf("stats: %+v", st)
	}
	t.Logf("stats: %+v", st)
	inputs[7] = []any{"double", 7}
	res, errs = Gather[int](testCtx(t), p, inputs)
	if errs != nil || res[19] != 38 {
		t.Errorf("errs %v, res %v", errs, res)
	}
}

// TestPoolClose checks that Close drains: the call in flight finishes, a
// queued call and later calls get ErrPoolClosed.
func TestPoolClose(t *testing.T) {
	checkLeaks(t)
	l := newTestLauncher(t, poolProfile("python", nil))
	p := newTestPool(t, poolProfile("python", func(p *policy.Profile) {
		p.Pool.MinIdle, p.Pool.MaxSize = 1, 1
	}), PoolConfig{Launcher: l})
	ctx := testCtx(t)
	first := make(chan error, 1)
	go func() {
		v, err := CallAs[float64](ctx, p, "sleep", 0.5)
		if err == nil && v != 0.5 {
			err = errors.New("wrong result")
		}
		first <- err
	}()
	waitFor(t, "the first call", func() bool { return p.Stats().Busy == 1 })
	queued := make(chan error, 1)
	go func() { _, err := p.Call(ctx, "double", 1); queued <- err }()
	waitFor(t, "the queued call", func() bool { return p.Stats().Queue == 1 })
	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- p.Close() }()
	if err := <-queued; !errors.Is(err, ErrPoolClosed) {
		t.Errorf("queued call: %v", err)
	}
	waitFor(t, "closing", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.closed })
	if _, err := p.Call(ctx, "double", 1); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("call after Close: %v", err)
	}
	if err := <-first; err != nil {
		t.Errorf("in-flight call: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	t.Logf("Close took %v", time.Since(start))
	if st := p.Stats(); st.Idle+st.Busy+st.Starting != 0 {
		t.Errorf("stats after Close: %+v", st)
	}
}

// TestPoolStartFailure checks a setup that fails: NewPool reports it.
func TestPoolStartFailure(t *testing.T) {
	checkLeaks(t)
	prof := poolProfile("python", nil)
	_, err := NewPool(testCtx(t), PoolConfig{Profile: prof, Launcher: newTestLauncher(t, prof), Setup: "import no_such_module", Function: "f"})
	var re *bond.RemoteError
	if !errors.As(err, &re) || re.Type != "ModuleNotFoundError" {
		t.Fatalf("want the setup's ModuleNotFoundError: %v", err)
	}
}

// TestPoolBackoff makes starts fail after the first worker (a setup
// that fails on a flag file the first one removed is not possible in a
// fresh sandbox, so the launcher is closed instead): calls get
// ErrOverloaded naming the start failure, and the retries back off.
func TestPoolBackoff(t *testing.T) {
	checkLeaks(t)
	prof := poolProfile("python", func(p *policy.Profile) {
		p.Pool.FreshPerTask, p.Pool.MinIdle, p.Pool.MaxSize = true, 1, 1
		p.Pool.QueueTimeout = policy.Duration(700 * time.Millisecond)
	})
	fl := &failingLauncher{l: newTestLauncher(t, prof)}
	p := newTestPool(t, prof, PoolConfig{Launcher: fl})
	ctx := testCtx(t)
	fl.fail.Store(true)
	if _, err := p.Call(ctx, "double", 1); err != nil { // the warm worker
		t.Fatal(err)
	}
	_, err := p.Call(ctx, "double", 1)
	if !errors.Is(err, ErrOverloaded) || !errors.Is(err, errLaunch) {
		t.Fatalf("want ErrOverloaded with the start failure: %v", err)
	}
	// 100ms, 200ms, 400ms: about 4 attempts in 700ms, not hundreds.
	if n := fl.attempts.Load(); n < 2 || n > 6 {
		t.Errorf("%d start attempts", n)
	}
	fl.fail.Store(false)
	waitFor(t, "a worker after the failures", func() bool { return p.Stats().Idle == 1 })
	if n, err := CallAs[int](ctx, p, "double", 3); err != nil || n != 6 {
		t.Fatalf("after recovery: %v %v", n, err)
	}
}

var errLaunch = errors.New("test: launch refused")

type failingLauncher struct {
	l        bond.Launcher
	fail     atomic.Bool
	attempts atomic.Int64
}

func (f *failingLauncher) Launch(ctx context.Context, spec *bond.LaunchSpec) (bond.Process, error) {
	if f.fail.Load() {
		f.attempts.Add(1)
		return nil, errLaunch
	}
	return f.l.Launch(ctx, spec)
}

// TestCallable checks the one-line form, and that the pool closes when
// its context is done.
func TestCallable(t *testing.T) {
	checkLeaks(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prof := poolProfile("python", func(p *policy.Profile) { p.Pool.FreshPerTask = true })
	double, err := Callable[int](ctx, prof, "", "def double(x): return 2 * x", "double")
	if err != nil {
		t.Fatal(err)
	}
	cctx := testCtx(t)
	if n, err := double(cctx, 21); err != nil || n != 42 {
		t.Fatalf("double: %v, %v", n, err)
	}
	cancel()
	waitFor(t, "the pool to close", func() bool {
		_, err := double(cctx, 1)
		return errors.Is(err, ErrPoolClosed)
	})
	waitFor(t, "the sandboxes to go", func() bool { return len(children()) == 0 })
}

// langPool starts a pool of lang (run by interp, which must be installed
// unless the test may skip) whose profile mod adjusts, after checking
// for leaks at the end of the test.
func langPool(t *testing.T, lang, interp string, mod func(p *policy.Profile), cfg PoolConfig) *Pool {
	t.Helper()
	if _, err := exec.LookPath(interp); err != nil {
		testenv.SkipOrFail(t, "%s not installed", interp)
	}
	checkLeaks(t)
	return newTestPool(t, poolProfile(lang, mod), cfg)
}

// TestPoolLanguages runs a pool in each language.
func TestPoolLanguages(t *testing.T) {
	tests := []struct {
		lang, interp, setup string
	}{
		{"python", "python3", "def double(x):\n    return x * 2\n"},
		{"php", "php", "function double($x) { return $x * 2; }"},
		{"perl", "perl", "sub double { return $_[0] * 2; }"},
		{"node", "node", "globalThis.double = function (x) { return x * 2; };"},
	}
	for _, tc := range tests {
		t.Run(tc.lang, func(t *testing.T) {
			p := langPool(t, tc.lang, tc.interp, func(p *policy.Profile) {
				p.Pool.FreshPerTask, p.Pool.MinIdle, p.Pool.MaxSize = true, 1, 2
			}, PoolConfig{Setup: tc.setup, Function: "double"})
			var inputs [][]any
			for i := range 4 {
				inputs = append(inputs, []any{i})
			}
			res, errs := Gather[int](testCtx(t), p, inputs)
			if errs != nil {
				t.Fatal(errs)
			}
			for i, r := range res {
				if r != 2*i {
					t.Errorf("double(%d) = %d", i, r)
				}
			}
		})
	}
}

// TestBondOptions checks the profile to bond options mapping.
func TestBondOptions(t *testing.T) {
	t.Setenv("SANDBOND_TEST_ALLOWED", "yes")
	t.Setenv("SANDBOND_TEST_SECRET", "no")
	p := &policy.Profile{
		Env:      policy.Env{Allow: []string{"SANDBOND_TEST_ALLOWED", "SANDBOND_TEST_UNSET", "LANG"}, Set: map[string]string{"LANG": "C.UTF-8", "B": "2"}},
		Limits:   policy.Limits{WallPerCall: policy.Duration(3 * time.Second), OutputBytes: 1234},
		Protocol: policy.Protocol{MaxMessageBytes: 4096},
	}
	o := BondOptions(p)
	if o.MaxMessageBytes != 4096 || o.MaxOutputBytes != 1234 || o.Timeout != 3*time.Second || o.GracePeriod != GracePeriod {
		t.Errorf("options: %+v", o)
	}
	if got := strings.Join(o.Env, " "); got != "SANDBOND_TEST_ALLOWED=yes B=2 LANG=C.UTF-8" {
		t.Errorf("env: %s", got)
	}
	d := BondOptions(&policy.Profile{})
	if int64(d.MaxMessageBytes) != policy.DefaultMaxMessageBytes || d.MaxOutputBytes != policy.DefaultOutputBytes ||
		d.Timeout != policy.DefaultWallPerCall.Std() || d.Env == nil || len(d.Env) != 0 {
		t.Errorf("defaults: %+v", d)
	}
}

// TestPoolIdleAge checks that an idle worker is retired before its
// sandbox's wall time kills it, and replaced.
func TestPoolIdleAge(t *testing.T) {
	checkLeaks(t)
	p := newTestPool(t, poolProfile("python", func(p *policy.Profile) {
		p.Limits.WallPerSandbox = policy.Duration(1500 * time.Millisecond)
		p.Limits.WallPerCall = policy.Duration(1 * time.Second)
		p.Pool.MinIdle, p.Pool.MaxSize = 1, 1
	}), PoolConfig{})
	time.Sleep(2 * time.Second) // past the sandbox's wall time: the worker was retired at 750ms
	waitFor(t, "a warm worker", func() bool { return p.Stats().Idle == 1 })
	if n, err := CallAs[int](testCtx(t), p, "double", 2); err != nil || n != 4 {
		t.Fatalf("call: %v, %v", n, err)
	}
	if st := p.Stats(); st.Restarts != 0 || st.Recycled < 2 {
		t.Errorf("stats: %+v, want recycles and no restart", st)
	}
}

// TestPoolGatherCancel checks that inputs not started when ctx ends fail with
// ctx's error, in order.
func TestPoolGatherCancel(t *testing.T) {
	checkLeaks(t)
	p := newTestPool(t, poolProfile("python", func(p *policy.Profile) {
		p.Pool.MinIdle, p.Pool.MaxSize = 1, 1
	}), PoolConfig{})
	ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	res, errs := Gather[float64](ctx, p, [][]any{{"sleep", 0.1}, {"sleep", 5}, {"sleep", 0.1}, {"sleep", 0.1}})
	if errs == nil || errs[0] != nil || res[0] != 0.1 {
		t.Fatalf("input 0: %v %v", res, errs)
	}
	for i := 1; i < 4; i++ {
		if !errors.Is(errs[i], context.DeadlineExceeded) {
			t.Errorf("input %d: %v", i, errs[i])
		}
	}
}
