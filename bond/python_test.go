package bond

// The engine against the real Python driver (drivers/python.py) and the
// machine's python3 (and pypy3 where installed).

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandbond/sandbond/internal/testenv"
)

// openPy opens a python bond, closed and checked for reaping at the end.
func openPy(t testing.TB, o *Options) *Bond {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	b, err := Open(bg, "python", o)
	if err != nil {
		t.Fatalf("open python: %v", err)
	}
	t.Cleanup(func() { closeAndCheck(t, b) })
	return b
}

// interpreters lists the Python interpreters to run the portable tests on.
func interpreters(t *testing.T) map[string]*Options {
	m := map[string]*Options{"python3": {}}
	if _, err := exec.LookPath("pypy3"); err == nil {
		m["pypy3"] = &Options{Command: "pypy3"}
	}
	return m
}

func TestPythonOpenClose(t *testing.T) {
	for name, o := range interpreters(t) {
		t.Run(name, func(t *testing.T) {
			b := openPy(t, o)
			want := map[string]string{"python3": "CPython 3.", "pypy3": "PyPy 3."}[name]
			if !strings.HasPrefix(b.Info(), want) || b.Language() != "python" {
				t.Errorf("Info, Language = %q, %q; want %s...", b.Info(), b.Language(), want)
			}
			pid := b.Pid()
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				t.Fatalf("interpreter %d not running: %v", pid, err)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("/proc/%d still exists after Close (%v)", pid, err)
			}
			if !errors.Is(b.Err(), ErrClosed) {
				t.Errorf("Err() after Close = %v", b.Err())
			}
		})
	}
}

// TestPythonCloseKillsChildren: Close ends what the interpreter started too.
func TestPythonCloseKillsChildren(t *testing.T) {
	b := openPy(t, nil)
	v, err := b.Eval(bg, `__import__('subprocess').Popen(['sleep', '300']).pid`)
	if err != nil {
		t.Fatal(err)
	}
	child := int(v.(int64))
	closeAndCheck(t, b)
	// SIGKILL was sent to the whole group before Close returned; the child,
	// no longer ours, dies and is reaped by init. Poll /proc for that:
	// there is nothing to wait on for a process that is not our child.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, _, state, ok := readStat(fmt.Sprintf("/proc/%d/stat", child))
		if !ok || state == "Z" || state == "X" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the interpreter's child %d survived Close (state %s)", child, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPythonBasics(t *testing.T) {
	for name, o := range interpreters(t) {
		t.Run(name, func(t *testing.T) {
			b := openPy(t, o)
			two64 := mustBig("18446744073709551616")
			if err := b.EvalBlock(bg, "import math\ndef add(a, b):\n    return a + b\nclass K:\n    def m(self, x):\n        return x * 2\nk = K()"); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				run  func() (any, error)
				want any
			}{
				{"eval", func() (any, error) { return b.Eval(bg, "1 + 1") }, int64(2)},
				{"eval global", func() (any, error) { return b.Eval(bg, "add(2, 3)") }, int64(5)},
				{"eval str", func() (any, error) { return b.Eval(bg, "'é' * 2 + '😀'") }, "éé😀"},
				{"eval None", func() (any, error) { return b.Eval(bg, "None") }, nil},
				{"eval tuple", func() (any, error) { return b.Eval(bg, "(1, 'a', [True, None])") }, []any{int64(1), "a", []any{true, nil}}},
				{"eval dict", func() (any, error) { return b.Eval(bg, "{'a': {'$b': 1.5}}") }, map[string]any{"a": map[string]any{"$b": 1.5}}},
				{"eval bytes", func() (any, error) { return b.Eval(bg, "b'\\x00\\xff' + bytearray(b'a')") }, []byte{0, 255, 'a'}},
				{"eval float", func() (any, error) { return b.Eval(bg, "2.0") }, 2.0},
				{"eval 2**64", func() (any, error) { return b.Eval(bg, "2**64") }, two64},
				{"eval 2**53+1", func() (any, error) { return b.Eval(bg, "2**53 + 1") }, int64(1<<53 + 1)},
				{"call name", func() (any, error) { return b.Call(bg, "add", 40, 2) }, int64(42)},
				{"call builtin", func() (any, error) { return b.Call(bg, "len", "abc") }, int64(3)},
				{"call expression", func() (any, error) { return b.Call(bg, "lambda *a: list(reversed(a))", 1, "x", nil) }, []any{nil, "x", int64(1)}},
				{"call method", func() (any, error) { return b.Call(bg, "k.m", 21) }, int64(42)},
				{"call dotted", func() (any, error) { return b.Call(bg, "math.floor", 2.5) }, int64(2)},
				{"call big", func() (any, error) { return b.Call(bg, "lambda x: x + 1", two64) }, mustBig("18446744073709551617")},
				{"call big negative", func() (any, error) {
					return b.Call(bg, "lambda x: x * x", mustBig("-340282366920938463463374607431768211456"))
				}, mustBig("115792089237316195423570985008687907853269984665640564039457584007913129639936")},
				{"call 2**53+1", func() (any, error) { return b.Call(bg, "lambda x: x - 1", int64(1<<53+1)) }, int64(1 << 53)},
				{"call uint64", func() (any, error) { return b.Call(bg, "lambda x: x == 2**64 - 1", uint64(math.MaxUint64)) }, true},
				{"call bytes", func() (any, error) { return b.Call(bg, "lambda b: type(b).__name__ + b.hex()", []byte{1, 2}) }, "bytes0102"},
				{"call $ keys", func() (any, error) {
					return b.Call(bg, "lambda d: sorted(d.keys())", map[string]any{"$ref": 1})
				}, []any{"$ref"}},
				{"call float", func() (any, error) { return b.Call(bg, "lambda f: (type(f).__name__, f)", 3.0) }, []any{"float", 3.0}},
				{"callable", func() (any, error) { return b.Callable("add")(bg, "a", "b") }, "ab"},
			} {
				got, err := tc.run()
				if err != nil {
					t.Errorf("%s: %v", tc.name, err)
					continue
				}
				if !valueEqual(got, tc.want) {
					t.Errorf("%s = %#v; want %#v", tc.name, got, tc.want)
				}
			}
			// Typed helpers.
			if n, err := EvalAs[int](bg, b, "6 * 7"); err != nil || n != 42 {
				t.Errorf("EvalAs[int] = %v, %v", n, err)
			}
			type point struct {
				X, Y int
				Tags []string `json:"tags"`
				Raw  Bytes    `json:"raw"`
			}
			if p, err := EvalAs[point](bg, b, "{'X': 1, 'Y': 2, 'tags': ['a'], 'raw': b'\\x01'}"); err != nil ||
				!reflect.DeepEqual(p, point{1, 2, []string{"a"}, Bytes{1}}) {
				t.Errorf("EvalAs[point] = %+v, %v", p, err)
			}
			if xs, err := EvalAs[[]any](bg, b, "[2**53 + 1, 2**64]"); err != nil || !valueEqual(xs, []any{int64(1<<53 + 1), two64}) {
				t.Errorf("EvalAs[[]any] = %#v, %v; want exact integers", xs, err)
			}
			if s, err := CallAs[string](bg, b, "str.upper", "abc"); err != nil || s != "ABC" {
				t.Errorf("CallAs[string] = %q, %v", s, err)
			}
			if n, err := CallAs[*big.Int](bg, b, "pow", 3, 50); err != nil || n.String() != "717897987691852588770249" {
				t.Errorf("CallAs[*big.Int] = %v, %v", n, err)
			}
			pow := CallableAs[int64](b, "pow")
			if n, err := pow(bg, 2, 62); err != nil || n != 1<<62 {
				t.Errorf("CallableAs = %v, %v", n, err)
			}
			if _, err := CallAs[int](bg, b, "pow", 2, 64); !errors.Is(err, ErrSerialization) {
				t.Errorf("CallAs[int] of 2**64 = %v; want a local SerializationError", err)
			}
			// EvalBlock state persists; globals are the bond's own.
			if err := b.EvalBlock(bg, "counter = 0\nfor i in range(10):\n    counter += i"); err != nil {
				t.Fatal(err)
			}
			if v, err := b.Eval(bg, "counter"); err != nil || v != int64(45) {
				t.Errorf("counter = %v, %v", v, err)
			}
			if v, err := b.Eval(bg, "[k for k in globals() if k.startswith('_sandbond') or k == '_sb_r']"); err != nil || !valueEqual(v, []any{}) {
				t.Errorf("driver names leak into the user's globals: %v, %v", v, err)
			}
		})
	}
}

func TestPythonRecursion(t *testing.T) {
	for name, o := range interpreters(t) {
		t.Run(name, func(t *testing.T) {
			b := openPy(t, o)
			must(t, b.Export(bg, "go_down", func(ctx context.Context, args []any) (any, error) {
				n := args[0].(int64)
				if n == 0 {
					return []any{"go"}, nil
				}
				v, err := b.Call(ctx, "py_down", n-1)
				if err != nil {
					return nil, err
				}
				return append(v.([]any), "go"), nil
			}))
			must(t, b.EvalBlock(bg, "def py_down(n):\n    return ['py'] if n == 0 else go_down(n - 1) + ['py']"))
			const depth = 400 // 200 levels each way
			v, err := b.Call(bg, "py_down", depth)
			if err != nil {
				t.Fatal(err)
			}
			got := v.([]any)
			if len(got) != depth+1 || got[0] != "py" || got[depth] != "py" { // innermost first
				t.Fatalf("recursion %d deep returned %d frames (%v...)", depth, len(got), got[:min(4, len(got))])
			}
			for i := 1; i < len(got); i++ {
				if got[i] == got[i-1] {
					t.Fatalf("frames %d and %d both %v: the calls did not alternate", i-1, i, got[i])
				}
			}
			// An exported function calls the bond through its context.
			must(t, b.Export(bg, "ask", func(ctx context.Context, args []any) (any, error) {
				return b.Eval(ctx, args[0].(string))
			}))
			if v, err := b.Eval(bg, "ask('6 * 7') + 1"); err != nil || v != int64(43) {
				t.Errorf("ask = %v, %v", v, err)
			}
			// The bond is usable after deep recursion, from the top.
			if v, err := b.Eval(bg, "'top'"); err != nil || v != "top" {
				t.Errorf("after recursion: %v, %v", v, err)
			}
		})
	}
}

func TestPythonProxy(t *testing.T) {
	a := openPy(t, nil)
	c := openPy(t, nil)
	must(t, a.EvalBlock(bg, "def sq(x):\n    return x * x\ndef sq_inc(x):\n    return inc_from_c(x) * inc_from_c(x)"))
	must(t, c.EvalBlock(bg, "def inc(x):\n    return x + 1"))
	must(t, a.Proxy(bg, "sq", c, "sq_from_a"))
	must(t, a.Proxy(bg, "sq_inc", c, ""))
	must(t, c.Proxy(bg, "inc", a, "inc_from_c"))
	if v, err := c.Eval(bg, "sq_from_a(7)"); err != nil || v != int64(49) {
		t.Errorf("sq_from_a(7) = %v, %v", v, err)
	}
	// c -> Go -> a -> Go -> c (nested in c's call in progress) and back.
	if v, err := c.Eval(bg, "sq_inc(2)"); err != nil || v != int64(9) {
		t.Errorf("sq_inc(2) = %v, %v", v, err)
	}
	// Errors cross both bonds with their types.
	_, err := c.Eval(bg, "sq_from_a('x')")
	var re *RemoteError
	if !errors.As(err, &re) || re.Type != "HostError" || !strings.Contains(re.Message, "TypeError") {
		t.Errorf("a proxied exception = %v", err)
	}
	if !errors.Is(err, ErrRemote) {
		t.Errorf("errors.Is(%v, ErrRemote) = false", err)
	}
	var inner *RemoteError
	if re != nil && (!errors.As(re.Cause, &inner) || inner.Type != "TypeError") {
		t.Errorf("the cause of a proxied exception is %v; want a's RemoteError", re.Cause)
	}
	wantAlive(t, a)
	wantAlive(t, c)
}

func TestPythonRef(t *testing.T) {
	b := openPy(t, nil)
	want, err := os.ReadFile("/etc/hostname")
	if err != nil {
		t.Skip("no /etc/hostname")
	}
	v, err := b.Call(bg, "lambda f: (type(f).__name__, f.read())", NewRef("open('/etc/hostname')"))
	if err != nil || !valueEqual(v, []any{"TextIOWrapper", string(want)}) {
		t.Errorf("a file handle by Ref = %#v, %v", v, err)
	}
	must(t, b.EvalBlock(bg, "import threading\nlock = threading.Lock()"))
	if v, err := b.Call(bg, "lambda l, n: (l.acquire(), l.locked(), n)", NewRef("lock"), 5); err != nil || !valueEqual(v, []any{true, true, int64(5)}) {
		t.Errorf("a lock by Ref = %v, %v", v, err)
	}
	// The handle itself cannot travel.
	if _, err := b.Eval(bg, "lock"); !errors.Is(err, ErrSerialization) {
		t.Errorf("Eval(lock) = %v; want a remote SerializationError", err)
	}
	if _, err := b.Call(bg, "print", NewRef("undefined_name")); !errors.Is(err, ErrRemote) {
		t.Errorf("a Ref to an undefined name = %v; want NameError", err)
	}
	wantAlive(t, b)
}

func TestPythonCancel(t *testing.T) {
	t.Run("deadline interrupts sleep", func(t *testing.T) {
		for name, o := range interpreters(t) {
			t.Run(name, func(t *testing.T) {
				b := openPy(t, o)
				start := time.Now()
				_, err := b.Eval(ctxTimeout(t, 200*time.Millisecond), "__import__('time').sleep(30)")
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Eval = %v; want DeadlineExceeded", err)
				}
				if errors.Is(err, ErrTerminated) {
					t.Errorf("an interrupted call killed the interpreter: %v", err)
				}
				if time.Since(start) >= 30*time.Second {
					t.Errorf("the call ran to the end of the sleep")
				}
				// The next calls get their own replies.
				for i := range 5 {
					if v, err := b.Eval(bg, fmt.Sprintf("'reply %d'", i)); err != nil || v != fmt.Sprintf("reply %d", i) {
						t.Fatalf("call %d after the interrupt = %v, %v", i, v, err)
					}
				}
			})
		}
	})
	t.Run("cancel in a loop", func(t *testing.T) {
		// Cancel once the loop runs: an interrupt that arrives before the
		// driver has started the user code is ignored (see the report).
		hook := newHook("started")
		b := openPy(t, &Options{Stdout: hook})
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		go func() { <-hook.seen; cancel() }()
		_, err := b.Eval(ctx, "exec('print(\\'started\\')\\nwhile True: pass')")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Eval = %v; want Canceled", err)
		}
		wantAlive(t, b)
	})
	t.Run("KeyboardInterrupt ignored", func(t *testing.T) {
		b := openPy(t, &Options{GracePeriod: 300 * time.Millisecond})
		must(t, b.EvalBlock(bg, "import time\ndef stubborn():\n    while True:\n        try:\n            time.sleep(30)\n        except KeyboardInterrupt:\n            pass"))
		pid := b.Pid()
		_, err := b.Call(ctxTimeout(t, 200*time.Millisecond), "stubborn")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Call = %v; want DeadlineExceeded", err)
		}
		wantBroken(t, b, ErrTerminated)
		closeAndCheck(t, b)
		assertReaped(t, pid)
	})
	t.Run("caught KeyboardInterrupt answers", func(t *testing.T) {
		b := openPy(t, nil)
		must(t, b.EvalBlock(bg, "import time\ndef polite():\n    try:\n        time.sleep(30)\n    except KeyboardInterrupt:\n        return 'stopped'"))
		_, err := b.Call(ctxTimeout(t, 200*time.Millisecond), "polite")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Call = %v; want DeadlineExceeded even though Python returned", err)
		}
		if v, err := b.Eval(bg, "'fresh'"); err != nil || v != "fresh" {
			t.Fatalf("next call = %v, %v; want its own reply, not the stale 'stopped'", v, err)
		}
	})
	t.Run("during a callback", func(t *testing.T) {
		b := openPy(t, nil)
		entered := make(chan struct{})
		must(t, b.Export(bg, "wait_go", func(ctx context.Context, _ []any) (any, error) {
			close(entered)
			<-ctx.Done()
			return nil, ctx.Err()
		}))
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		go func() { <-entered; cancel() }()
		_, err := b.Eval(ctx, "wait_go()")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Eval = %v; want Canceled", err)
		}
		wantAlive(t, b)
	})
	t.Run("default timeout", func(t *testing.T) {
		b := openPy(t, &Options{Timeout: 200 * time.Millisecond})
		if _, err := b.Eval(bg, "__import__('time').sleep(30)"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Eval = %v; want DeadlineExceeded from Options.Timeout", err)
		}
		if v, err := b.Eval(bg, "1"); err != nil || v != int64(1) {
			t.Fatalf("next call = %v, %v", v, err)
		}
	})
}

func TestPythonOutputOrder(t *testing.T) {
	out := &testenv.Buffer{}
	b := openPy(t, &Options{Stdout: out, Stderr: out})
	must(t, b.Export(bg, "mark", func(_ context.Context, args []any) (any, error) {
		fmt.Fprintf(out, "[go %v]", args[0])
		return nil, nil
	}))
	code := "import sys\n" +
		"print('a')\n" +
		"mark(1)\n" +
		"print('b', file=sys.stderr)\n" +
		"sys.stdout.write('c')\n" +
		"mark(2)\n" +
		"sys.stderr.write('d\\n')\n" +
		"sys.stdout.buffer.write(b'e\\xff')\n" +
		"mark(3)\n" +
		"print('f', end='')"
	if err := b.EvalBlock(bg, code); err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(out, "[returned]")
	if got, want := out.String(), "a\n[go 1]b\nc[go 2]d\ne\uFFFD[go 3]f[returned]"; got != want {
		t.Errorf("output = %q; want %q", got, want)
	}
}

func TestPythonRawWritesCannotForge(t *testing.T) {
	for _, ch := range []Channel{ChannelFDs, ChannelStdio} {
		t.Run(fmt.Sprint("channel ", ch), func(t *testing.T) {
			stdout, stderr := &testenv.Buffer{}, &testenv.Buffer{}
			b := openPy(t, &Options{Channel: ch, Stdout: stdout, Stderr: stderr})
			id := b.nextID.Load() + 1 // the id of the next request
			forged := fmt.Sprintf(`{"op":"return","id":%d,"value":"forged"}`, id)
			code := fmt.Sprintf("__import__('os').write(1, b'%s\\n') and 'real'", forged)
			if v, err := b.Eval(bg, code); err != nil || v != "real" {
				t.Fatalf("Eval = %v, %v; want the real reply", v, err)
			}
			if v, err := b.Eval(bg, "'next'"); err != nil || v != "next" {
				t.Fatalf("next Eval = %v, %v", v, err)
			}
			closeAndCheck(t, b)
			where := stdout
			if ch == ChannelStdio {
				where = stderr // fd 1 points at fd 2 in stdio mode
			}
			if !strings.Contains(where.String(), forged) {
				t.Errorf("the raw write is not in the expected writer: stdout %q, stderr %q", stdout.String(), stderr.String())
			}
		})
	}
}

func TestPythonRemoteErrors(t *testing.T) {
	b := openPy(t, nil)
	must(t, b.EvalBlock(bg, "class Oops(ValueError):\n    pass\ndef fails(x):\n    raise Oops('bad %s' % x)"))
	for _, tc := range []struct {
		name, typ, msg, tb string
		run                func() error
	}{
		{"eval", "ZeroDivisionError", "division by zero", "ZeroDivisionError", func() error { _, err := b.Eval(bg, "1/0"); return err }},
		{"call", "Oops", "bad 7", "in fails", func() error { _, err := b.Call(bg, "fails", 7); return err }},
		{"name", "NameError", "name 'nope' is not defined", "NameError", func() error { _, err := b.Call(bg, "nope"); return err }},
		{"syntax eval", "SyntaxError", "", "SyntaxError", func() error { _, err := b.Eval(bg, "1 +"); return err }},
		{"statement in eval", "SyntaxError", "", "", func() error { _, err := b.Eval(bg, "x = 1"); return err }},
		{"syntax exec", "SyntaxError", "", "", func() error { return b.EvalBlock(bg, "def f(:\n  pass") }},
		{"exec raise", "KeyError", "'k'", "KeyError", func() error { return b.EvalBlock(bg, "{}['k']") }},
		{"typed", "TypeError", "", "", func() error { _, err := EvalAs[int](bg, b, "len(5)"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			var re *RemoteError
			if !errors.As(err, &re) || !errors.Is(err, ErrRemote) {
				t.Fatalf("error = %v; want a RemoteError", err)
			}
			if re.Type != tc.typ || re.Language != "python" || !strings.Contains(re.Message, tc.msg) || !strings.Contains(re.Traceback, tc.tb) {
				t.Errorf("RemoteError = %+v; want type %s, message ~%q, traceback ~%q", re, tc.typ, tc.msg, tc.tb)
			}
			if re.Cause != nil {
				t.Errorf("Cause = %v; want none", re.Cause)
			}
			wantAlive(t, b)
		})
	}
}

func TestPythonSerializationErrors(t *testing.T) {
	b := openPy(t, nil)
	for _, code := range []string{"float('nan')", "[float('inf')]", "{1, 2}", "{1: 'a'}", "{(1, 2): 'a'}", "object()", "'\\ud800'", "{'a': [len]}"} {
		t.Run("remote "+code, func(t *testing.T) {
			_, err := b.Eval(bg, code)
			var se *SerializationError
			if !errors.As(err, &se) || se.Side != Remote || se.Language != "python" || !errors.Is(err, ErrSerialization) {
				t.Fatalf("Eval(%s) = %v; want a remote SerializationError", code, err)
			}
			wantAlive(t, b)
		})
	}
	for name, arg := range map[string]any{
		"NaN": math.NaN(), "invalid UTF-8": "\xff", "map[int]string": map[int]string{1: "a"}, "chan": make(chan int),
	} {
		t.Run("local "+name, func(t *testing.T) {
			_, err := b.Call(bg, "len", arg)
			var se *SerializationError
			if !errors.As(err, &se) || se.Side != Local || se.Language != "python" {
				t.Fatalf("Call(len, %s) = %v; want a local SerializationError", name, err)
			}
			wantAlive(t, b)
		})
	}
	t.Run("local code", func(t *testing.T) {
		for _, run := range []func() error{
			func() error { _, err := b.Eval(bg, "'a\xffb'"); return err },
			func() error { return b.EvalBlock(bg, "x = '\xff'") },
			func() error { _, err := b.Call(bg, "le\xffn", "x"); return err },
			func() error {
				return b.Export(bg, "f\xff", func(context.Context, []any) (any, error) { return nil, nil })
			},
		} {
			if err := run(); !errors.Is(err, ErrSerialization) {
				t.Errorf("invalid UTF-8 in code or a name = %v; want a local SerializationError", err)
			}
			wantAlive(t, b)
		}
	})
	t.Run("exported function returns NaN", func(t *testing.T) {
		must(t, b.Export(bg, "nan", func(context.Context, []any) (any, error) { return math.NaN(), nil }))
		_, err := b.Eval(bg, "nan()")
		var re *RemoteError
		if !errors.As(err, &re) || re.Type != "HostError" || !strings.Contains(re.Message, "NaN") {
			t.Fatalf("Eval(nan()) = %v; want the Go side's serialization error raised in Python", err)
		}
		if !errors.Is(err, ErrSerialization) {
			t.Errorf("the cause of %v is not the local SerializationError", err)
		}
		wantAlive(t, b)
	})
	t.Run("Python sends NaN to Go", func(t *testing.T) {
		must(t, b.Export(bg, "sink", func(context.Context, []any) (any, error) { return nil, nil }))
		_, err := b.Eval(bg, "sink(float('nan'))")
		var se *SerializationError
		if !errors.As(err, &se) || se.Side != Remote || !strings.Contains(se.Message, "sink") {
			t.Fatalf("Eval(sink(nan)) = %v; want Python's SerializationError", err)
		}
		wantAlive(t, b)
	})
}

func TestPythonGoErrorCause(t *testing.T) {
	b := openPy(t, nil)
	errQuota := errors.New("quota exceeded")
	must(t, b.Export(bg, "charge", func(context.Context, []any) (any, error) { return nil, fmt.Errorf("charge: %w", errQuota) }))
	must(t, b.EvalBlock(bg, "def pay():\n    return charge() + 1\ndef careful():\n    try:\n        charge()\n    except Exception as e:\n        return [type(e).__name__, e.go_type, str(e)]"))
	for _, code := range []string{"charge()", "pay()"} {
		_, err := b.Eval(bg, code)
		var re *RemoteError
		if !errors.As(err, &re) || re.Type != "HostError" || re.Message != "charge: quota exceeded" {
			t.Fatalf("Eval(%s) = %v; want a HostError", code, err)
		}
		if !errors.Is(err, errQuota) {
			t.Errorf("Eval(%s): errors.Is(err, errQuota) = false; Cause = %v", code, re.Cause)
		}
	}
	if v, err := b.Call(bg, "careful"); err != nil || !valueEqual(v, []any{"HostError", "GoError", "charge: quota exceeded"}) {
		t.Errorf("careful = %v, %v", v, err)
	}
	// A Python exception raised while handling the Go error has no Go cause.
	_, err := b.Eval(bg, "(lambda: (_ for _ in ()).throw(ValueError('own')))()")
	var re *RemoteError
	if !errors.As(err, &re) || re.Type != "ValueError" || re.Cause != nil {
		t.Errorf("an unrelated exception = %#v", err)
	}
}

func TestPythonExit(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		status     int
		stderr     string
	}{
		{"os._exit(3)", "__import__('os')._exit(3)", 3, ""},
		{"stderr then exit", "__import__('os').write(2, b'dying words\\n') and __import__('os')._exit(3)", 3, "dying words"},
		{"sys.exit()", "__import__('sys').exit()", 0, ""},
		{"sys.exit(4)", "__import__('sys').exit(4)", 4, ""},
		{"sys.exit(message)", "__import__('sys').exit('goodbye')", 1, "goodbye"},
		{"printed then exit", "print('last words', file=__import__('sys').stderr) or __import__('sys').exit(5)", 5, "last words"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := openPy(t, nil)
			pid := b.Pid()
			_, err := b.Eval(bg, tc.code)
			var ee *ExitError
			if !errors.As(err, &ee) || !errors.Is(err, ErrTerminated) || ee.Language != "python" {
				t.Fatalf("Eval = %v; want an ExitError", err)
			}
			status := 0
			var xe *exec.ExitError
			if errors.As(err, &xe) {
				status = xe.ExitCode()
			} else if ee.Err != nil {
				t.Fatalf("ExitError.Err = %v", ee.Err)
			}
			if status != tc.status {
				t.Errorf("exit status %d; want %d (%v)", status, tc.status, err)
			}
			if !strings.Contains(ee.Stderr, tc.stderr) {
				t.Errorf("Stderr = %q; want %q", ee.Stderr, tc.stderr)
			}
			wantBroken(t, b, ErrTerminated)
			closeAndCheck(t, b)
			assertReaped(t, pid)
		})
	}
}

func TestPythonConcurrency(t *testing.T) {
	b := openPy(t, nil)
	must(t, b.Export(bg, "go_echo", func(ctx context.Context, args []any) (any, error) {
		return b.Call(ctx, "lambda x: x", args[0])
	}))
	must(t, b.EvalBlock(bg, "def via_go(x):\n    return go_echo(x)"))
	const workers, calls = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				n := int64(w*1000 + i)
				name := "lambda x: x"
				if i%4 == 0 {
					name = "via_go"
				}
				v, err := b.Call(bg, name, n)
				if err != nil || v != n {
					errs <- fmt.Errorf("worker %d call %d (%s) = %v, %v", w, i, name, v, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestPythonOptions(t *testing.T) {
	t.Run("dir and env", func(t *testing.T) {
		dir := t.TempDir()
		b := openPy(t, &Options{Dir: dir, Env: append(os.Environ(), "SANDBOND_OPT=42")})
		real, _ := filepath.EvalSymlinks(dir)
		if v, err := b.Eval(bg, "__import__('os').getcwd()"); err != nil || v != real {
			t.Errorf("cwd = %v, %v; want %s", v, err, real)
		}
		if v, err := b.Eval(bg, "__import__('os').environ.get('SANDBOND_OPT')"); err != nil || v != "42" {
			t.Errorf("env = %v, %v", v, err)
		}
	})
	t.Run("args", func(t *testing.T) {
		b := openPy(t, &Options{Args: []string{"-W", "error::DeprecationWarning", "-X", "dev mode"}})
		if v, err := b.Eval(bg, "__import__('sys').orig_argv[1:6]"); err != nil ||
			!valueEqual(v, []any{"-u", "-W", "error::DeprecationWarning", "-X", "dev mode"}) {
			t.Errorf("argv = %v, %v", v, err)
		}
		if v, err := b.Eval(bg, "__import__('sys').warnoptions"); err != nil || !valueEqual(v, []any{"error::DeprecationWarning"}) {
			t.Errorf("warnoptions = %v, %v", v, err)
		}
	})
	t.Run("no default args", func(t *testing.T) {
		b := openPy(t, &Options{NoDefaultArgs: true, Args: []string{"-B"}})
		if v, err := b.Eval(bg, "__import__('sys').orig_argv[1:3]"); err != nil || !valueEqual(v, []any{"-B", "-c"}) {
			t.Errorf("argv = %v, %v; want no -u", v, err)
		}
	})
	t.Run("max output bytes", func(t *testing.T) {
		stdout := &testenv.Buffer{}
		b := openPy(t, &Options{Stdout: stdout, MaxOutputBytes: 1000})
		_, err := b.Eval(bg, "print('x' * 100000)")
		if !errors.Is(err, ErrOutputLimit) {
			t.Fatalf("Eval = %v; want ErrOutputLimit", err)
		}
		wantBroken(t, b, ErrOutputLimit)
		if n := len(stdout.String()); n != 1000 {
			t.Errorf("Stdout got %d bytes; want 1000", n)
		}
	})
	t.Run("max message bytes", func(t *testing.T) {
		b := openPy(t, &Options{MaxMessageBytes: 1000})
		if v, err := b.Eval(bg, "'x' * 900"); err != nil || len(v.(string)) != 900 {
			t.Fatalf("a message under the limit: %v", err)
		}
		if _, err := b.Eval(bg, "'x' * 5000"); !errors.Is(err, ErrProtocol) {
			t.Fatalf("Eval = %v; want ErrProtocol", err)
		}
		wantBroken(t, b, ErrProtocol)
	})
	t.Run("transcript", func(t *testing.T) {
		tr := &testenv.Buffer{}
		b := openPy(t, &Options{Transcript: tr})
		if _, err := b.Eval(bg, "print('hi') or 1 + 1"); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`<- {"op":"ready","version":1,"language":"python","info":"` + b.Info() + `"`,
			`-> {"op":"eval","id":1,"code":"print('hi') or 1 + 1"}` + "\n",
			`<- {"op":"output","fd":1,"data":"hi\n"}` + "\n",
			`<- {"op":"return","id":1,"value":2}` + "\n",
		} {
			if !strings.Contains(tr.String(), want) {
				t.Errorf("transcript lacks %q:\n%s", want, tr.String())
			}
		}
	})
	t.Run("command", func(t *testing.T) {
		b := openPy(t, &Options{Command: "env python3"})
		if v, err := b.Eval(bg, "1"); err != nil || v != int64(1) {
			t.Fatalf("Eval = %v, %v", v, err)
		}
	})
	t.Run("command through the shell", func(t *testing.T) {
		stderr := &testenv.Buffer{}
		b := openPy(t, &Options{Command: "cd / && SANDBOND_SH=1 exec python3", Stderr: stderr})
		v, err := b.Eval(bg, "[__import__('os').getcwd(), __import__('os').environ.get('SANDBOND_SH')]")
		if err != nil || !valueEqual(v, []any{"/", "1"}) {
			t.Fatalf("Eval = %v, %v", v, err)
		}
		// The stdio channel: raw fd 1 goes to stderr.
		if _, err := b.Eval(bg, "__import__('os').write(1, b'raw fd 1\\n')"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Eval(ctxTimeout(t, 200*time.Millisecond), "__import__('time').sleep(30)"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("interrupt through the shell = %v", err)
		}
		wantAlive(t, b)
		closeAndCheck(t, b)
		if !strings.Contains(stderr.String(), "raw fd 1") {
			t.Errorf("stderr = %q; want the raw fd 1 write", stderr.String())
		}
	})
	t.Run("stdio channel", func(t *testing.T) {
		stdout, stderr := &testenv.Buffer{}, &testenv.Buffer{}
		b := openPy(t, &Options{Channel: ChannelStdio, Stdout: stdout, Stderr: stderr})
		if _, err := b.Eval(bg, "print('via message') or __import__('os').write(1, b'raw\\n')"); err != nil {
			t.Fatal(err)
		}
		if v, err := b.Eval(bg, "__import__('sys').stdin.read()"); err != nil || v != "" {
			t.Errorf("stdin = %v, %v; want /dev/null", v, err)
		}
		closeAndCheck(t, b)
		if stdout.String() != "via message\n" || stderr.String() != "raw\n" {
			t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
		}
	})
	t.Run("start timeout", func(t *testing.T) {
		_, err := Open(bg, "python", &Options{Command: "sleep 30; python3", StartTimeout: 200 * time.Millisecond})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Open = %v; want DeadlineExceeded", err)
		}
	})
}

func TestPythonPartialWritesKeepOrder(t *testing.T) {
	var shared testenv.Buffer
	b, err := Open(context.Background(), "python", &Options{Stdout: &shared, Stderr: &shared})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	code := "import sys\nfor c in 'abcdef':\n    (sys.stdout if c in 'ace' else sys.stderr).write(c)"
	if err := b.EvalBlock(context.Background(), code); err != nil {
		t.Fatal(err)
	}
	if got := shared.String(); got != "abcdef" {
		t.Fatalf("interleaved partial writes arrived as %q, want %q", got, "abcdef")
	}
}
