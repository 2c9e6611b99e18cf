package drivers_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/internal/testenv"
)

const nodeDefine = `
var _sb_count = 0;
var _sb_cell = new Int32Array(new SharedArrayBuffer(4));

function sb_identity(x) { return x; }
function sb_add(a, b) { return a + b; }
function sb_nargs(...args) { return args.length; }
function sb_counter() { _sb_count += 1; return _sb_count; }
function sb_fail(msg) { throw new TypeError(msg); }
function sb_print() {
  console.log("o1");
  process.stderr.write("e1\n");
  go_mark();
  process.stdout.write("o2\n");
  return 1;
}
function sb_down(n) { return n === 0 ? 0 : go_down(n - 1) + 1; }
function sb_catch() {
  try { go_fail(); } catch (e) { return e.message; }
  return "no exception";
}
function sb_len(x) { return x.length; }
// Synchronous and interruptible: short Atomics.wait slices.
function sb_sleep(s) {
  const end = Date.now() + s * 1000;
  for (let now = Date.now(); now < end; now = Date.now()) {
    Atomics.wait(_sb_cell, 0, 0, Math.min(20, end - now));
  }
  return s;
}
function sb_exit(code) { process.exit(code); }
function sb_big(n) { return "x".repeat(n); }
function sb_bad() { return new Set([1, 2, 3]); }
`

func init() {
	register(&lang{
		Name: "node", Interpreter: "node",
		Define:           nodeDefine,
		FailType:         "TypeError",
		SyntaxErrorExpr:  "1 +",
		SyntaxErrorBlock: "function broken( {",
		NaNExpr:          "0 / 0",
		ListExpr:         "[1, 2, 3]",
		BytesRoundTrip:   true,
		FloatsKeepKind:   false,
		HugeInts:         true,
	})
}

// openNode opens a Node bond with the standard definitions, skipping when
// node is missing only if the conformance suite would (it fails there).
func openNode(t *testing.T, opts func() *bond.Options, out *testenv.Buffer) *bond.Bond {
	t.Helper()
	l := *languages["node"]
	l.Options = opts
	return openLang(t, &l, out)
}

func nodeEval(t *testing.T, b *bond.Bond, code string) any {
	t.Helper()
	v, err := b.Eval(ctxT(t), code)
	if err != nil {
		t.Fatalf("eval %s: %v", code, err)
	}
	return v
}

func nodeExec(t *testing.T, b *bond.Bond, code string) {
	t.Helper()
	if err := b.EvalBlock(ctxT(t), code); err != nil {
		t.Fatalf("exec %s: %v", code, err)
	}
}

func TestNodePromises(t *testing.T) {
	b := openNode(t, nil, nil)
	nodeExec(t, b, `
async function sb_later(x) { await new Promise(r => setTimeout(r, 20)); return x * 2; }
async function sb_reject(msg) { await null; throw new RangeError(msg); }
async function sb_async_host(n) { await new Promise(r => setTimeout(r, 5)); return go_down(n); }
`)
	if v := nodeEval(t, b, "Promise.resolve(42)"); !sameValue(v, int64(42)) {
		t.Fatalf("eval Promise.resolve(42) = %#v", v)
	}
	if v := mustCall(t, b, "sb_later", 21); !sameValue(v, int64(42)) {
		t.Fatalf("sb_later(21) = %#v", v)
	}
	_, err := b.Call(ctxT(t), "sb_reject", "nope-5")
	var re *bond.RemoteError
	if !errors.As(err, &re) || re.Type != "RangeError" || re.Message != "nope-5" {
		t.Fatalf("sb_reject: got %v, want a RangeError nope-5", err)
	}
	// A Promise's continuation may call the host (the host still waits).
	if v := mustCall(t, b, "sb_async_host", 3); !sameValue(v, int64(3)) {
		t.Fatalf("sb_async_host(3) = %#v", v)
	}
	// A thenable that is not a Promise.
	if v := nodeEval(t, b, "({then(ok) { ok('thenable') }})"); v != "thenable" {
		t.Fatalf("thenable = %#v", v)
	}
	// A Promise that never settles is abandoned by an interrupt.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := b.Eval(ctx, "new Promise(() => {})"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("pending promise with a deadline: got %v", err)
	}
	alive(t, b)
	if v := mustCall(t, b, "sb_later", 1); !sameValue(v, int64(2)) {
		t.Fatalf("sb_later(1) after an interrupt = %#v", v)
	}
	// A nested request cannot await: it answers with an error.
	_, err = b.Call(ctxT(t), "go_down", 1) // go_down calls sb_down: no promise, fine
	if err != nil {
		t.Fatal(err)
	}
}

func TestNodeMethodCallsKeepThis(t *testing.T) {
	b := openNode(t, nil, nil)
	nodeExec(t, b, `
var obj = { v: 7, get(k) { return this.v + k; }, inner: { w: 3, get() { return this.w; } } };
class Counter { constructor() { this.n = 10; } bump(by) { this.n += by; return this.n; } }
var counter = new Counter();
`)
	for _, c := range []struct {
		name string
		args []any
		want any
	}{
		{"obj.get", []any{1}, int64(8)},
		{`obj["get"]`, []any{2}, int64(9)},
		{"obj.inner.get", nil, int64(3)},
		{"counter.bump", []any{5}, int64(15)},
		{"Math.max", []any{1, 5, 3}, int64(5)},
		{"JSON.stringify", []any{map[string]any{"a": []any{1}}}, `{"a":[1]}`},
		{"(x => x + 1)", []any{1}, int64(2)},
		{"String.fromCharCode", []any{104, 105}, "hi"},
	} {
		v, err := b.Call(ctxT(t), c.name, c.args...)
		if err != nil || !sameValue(v, c.want) {
			t.Errorf("call %s%v = %#v, %v; want %#v", c.name, c.args, v, err, c.want)
		}
	}
}

func TestNodeBigInts(t *testing.T) {
	b := openNode(t, nil, nil)
	if v := nodeEval(t, b, "2n ** 70n"); !sameValue(v, bigInt("1180591620717411303424")) {
		t.Fatalf("2n ** 70n = %#v", v)
	}
	if v := nodeEval(t, b, "9007199254740993n"); v != int64(9007199254740993) {
		t.Fatalf("9007199254740993n = %#v", v)
	}
	if v := nodeEval(t, b, "2 ** 60"); v != int64(1)<<60 {
		t.Fatalf("2 ** 60 = %#v (integral numbers travel as integers)", v)
	}
	typeOf := "(x => typeof x)"
	for _, c := range []struct {
		in   any
		want string
	}{
		{int64(1) << 60, "bigint"}, {int64(1<<53 - 1), "number"}, {int64(-(1<<53 - 1)), "number"},
		{bigInt("-123456789012345678901234567890"), "bigint"}, {1.5, "number"}, {"12345678901234567890", "string"},
	} {
		if v := mustCall(t, b, typeOf, c.in); v != c.want {
			t.Errorf("typeof %v = %#v, want %s", c.in, v, c.want)
		}
	}
	// Digits inside strings and floats with long mantissas stay as they are.
	in := map[string]any{"s": "x:12345678901234567890,", "f": 0.12345678901234567, "l": []any{bigInt("99999999999999999999"), int64(1)}}
	if v := mustCall(t, b, "sb_identity", in); !sameValue(v, in) {
		t.Fatalf("identity(%v) = %#v", in, v)
	}
}

func TestNodeValues(t *testing.T) {
	b := openNode(t, nil, nil)
	var se *bond.SerializationError
	for _, code := range []string{"[1, NaN]", "({a: Infinity})", "'\\ud800'", "[() => 1]", "new Map()", "Symbol('x')",
		"({k: new (class Foo {})()})", "(() => { const o = {}; o.o = o; return o })()"} {
		if _, err := b.Eval(ctxT(t), code); !errors.As(err, &se) || se.Side != bond.Remote {
			t.Errorf("eval %s: got %v, want a remote serialization error", code, err)
		}
	}
	alive(t, b)
	for code, want := range map[string]any{
		"undefined":                nil,
		"({a: undefined, b: 1})":   map[string]any{"a": nil, "b": int64(1)},
		"[undefined, 2]":           []any{nil, int64(2)},
		"Buffer.from([1, 2, 255])": []byte{1, 2, 255},
		"new Uint8Array([7])":      []byte{7},
		"new Date(0)":              "1970-01-01T00:00:00.000Z",
		"({$x: 1})":                map[string]any{"$x": int64(1)},
		"({$$y: [{$bytes: 'z'}]})": map[string]any{"$$y": []any{map[string]any{"$bytes": "z"}}},
		"Object.assign(Object.create(null), {q: 1})": map[string]any{"q": int64(1)},
		"-0":               int64(0),
		"1e21":             1e21,
		"-(2 ** 63)":       int64(-1 << 63),
		"2 ** 64":          18446744073709551616.0,
		"1.5e300":          1.5e300,
		"'\\ud83d\\ude00'": "😀",
	} {
		if v := nodeEval(t, b, code); !sameValue(v, want) {
			t.Errorf("eval %s = %#v, want %#v", code, v, want)
		}
	}
	if v := mustCall(t, b, "(b => Buffer.isBuffer(b) && b.length)", []byte{1, 2, 3}); !sameValue(v, int64(3)) {
		t.Errorf("bytes do not arrive as a Buffer: %#v", v)
	}
	// A $ref argument is evaluated remotely.
	if v := mustCall(t, b, "sb_len", bond.NewRef("'abcd'")); !sameValue(v, int64(4)) {
		t.Errorf("sb_len(ref) = %#v", v)
	}
	// Arguments of exported functions that cannot travel raise in JS.
	v := nodeEval(t, b, "(() => { try { go_mark(new Set()); return 'sent' } catch (e) { return e.name } })()")
	if v != "SandbondSerializationError" {
		t.Errorf("go_mark(new Set()) raised %#v", v)
	}
}

func TestNodeErrors(t *testing.T) {
	b := openNode(t, nil, nil)
	nodeExec(t, b, `class MyErr extends Error {}
class Named extends Error { constructor(m) { super(m); this.name = "CustomName"; } }`)
	var re *bond.RemoteError
	for code, want := range map[string][2]string{
		"(() => { throw 'plain string' })()":              {"string", "plain string"},
		"(() => { throw new MyErr('m1') })()":             {"MyErr", "m1"},
		"(() => { throw new Named('m2') })()":             {"CustomName", "m2"},
		"(() => { throw {message: 'm3'} })()":             {"Object", "m3"},
		"(() => { throw null })()":                        {"null", "null"},
		"undefinedVariable":                               {"ReferenceError", "undefinedVariable is not defined"},
		"(() => { throw new Error('m4', {cause: 1}) })()": {"Error", "m4"},
	} {
		_, err := b.Eval(ctxT(t), code)
		if !errors.As(err, &re) || re.Type != want[0] || re.Message != want[1] {
			t.Errorf("eval %s: got %v, want %s: %s", code, err, want[0], want[1])
		}
	}
	_, err := b.Eval(ctxT(t), "(function thrower() { throw new Error('tb') })()")
	if !errors.As(err, &re) || !strings.Contains(re.Traceback, "thrower") || strings.Contains(re.Traceback, "sandbond-driver") {
		t.Errorf("traceback = %q", re.Traceback)
	}
	// A host error in JS: its class, goType and token; as the cause of
	// another error it still carries the Go error back.
	v := nodeEval(t, b, "(() => { try { go_fail() } catch (e) { return [e instanceof SandbondHostError, e.name, e.goType, typeof e.token] } })()")
	if !sameValue(v, []any{true, "SandbondHostError", "GoError", "string"}) {
		t.Errorf("host error seen in JS: %#v", v)
	}
	_, err = b.Eval(ctxT(t), "(() => { try { go_fail() } catch (e) { throw new Error('wrapped', {cause: e}) } })()")
	if !errors.Is(err, errGoFail) {
		t.Errorf("wrapped host error: got %v, want its Go cause", err)
	}
	// Deep recursion past the stack ends in an error, and the bond survives.
	if _, err := b.Call(ctxT(t), "sb_down", 5000); !errors.Is(err, bond.ErrRemote) {
		t.Errorf("sb_down(5000): got %v, want a remote error", err)
	}
	alive(t, b)
}

func TestNodeEvalBlockScope(t *testing.T) {
	b := openNode(t, nil, nil)
	nodeExec(t, b, "var v1 = 1; function f1() { return 2 } let l1 = 3; const c1 = 4; class K1 {}")
	if v := nodeEval(t, b, "[v1, f1(), l1, c1, typeof K1, typeof globalThis.l1]"); !sameValue(v, []any{int64(1), int64(2), int64(3), int64(4), "function", "undefined"}) {
		t.Fatalf("state after exec = %#v", v)
	}
	if v := mustCall(t, b, "f1"); !sameValue(v, int64(2)) {
		t.Fatalf("f1() = %#v", v)
	}
	var re *bond.RemoteError
	if err := b.EvalBlock(ctxT(t), "let l1 = 5"); !errors.As(err, &re) || re.Type != "SyntaxError" {
		t.Fatalf("redeclaring a let: got %v, want a SyntaxError", err)
	}
	nodeExec(t, b, "var v1 = 10; function f1() { return 20 }")
	if v := nodeEval(t, b, "v1 + f1()"); !sameValue(v, int64(30)) {
		t.Fatalf("after redefinition = %#v", v)
	}
	if v := nodeEval(t, b, "typeof require('path').join"); v != "function" {
		t.Fatalf("require: %#v", v)
	}
	if v := nodeEval(t, b, "import('node:path').then(m => typeof m.join)"); v != "function" {
		t.Fatalf("dynamic import: %#v", v)
	}
}

func TestNodeEventLoopRunsWhileIdle(t *testing.T) {
	out := &testenv.Buffer{}
	b := openNode(t, nil, out)
	nodeExec(t, b, "var flag = 0; Promise.resolve().then(() => { flag += 1 }); process.nextTick(() => { flag += 10 })")
	if v := nodeEval(t, b, "flag"); !sameValue(v, int64(11)) {
		t.Fatalf("microtasks and ticks did not run: flag = %#v", v)
	}
	nodeExec(t, b, "var ticks = 0; var iv = setInterval(() => { ticks++ }, 10)")
	time.Sleep(300 * time.Millisecond)
	if v := nodeEval(t, b, "ticks"); !(toInt(v) >= 5) {
		t.Fatalf("timers did not run while idle: ticks = %#v", v)
	}
	nodeExec(t, b, "clearInterval(iv)")
	// Exported functions throw when the host is not waiting.
	nodeExec(t, b, "var idleErr = ''; setTimeout(() => { try { go_mark() } catch (e) { idleErr = e.message } }, 10)")
	time.Sleep(200 * time.Millisecond)
	if v := nodeEval(t, b, "idleErr"); !strings.Contains(fmt.Sprint(v), "not waiting") {
		t.Fatalf("exported function called while idle: %#v", v)
	}
	// Output from a timer, and an uncaught exception in one.
	nodeExec(t, b, "setTimeout(() => console.log('from-timer'), 10); setTimeout(() => { throw new Error('async-boom') }, 20)")
	time.Sleep(300 * time.Millisecond)
	alive(t, b)
	if s := out.String(); !strings.Contains(s, "from-timer\n") || !strings.Contains(s, "async-boom") {
		t.Fatalf("output = %q", s)
	}
	for i := 0; i < 20; i++ {
		alive(t, b)
	}
}

func toInt(v any) int64 {
	n, _ := v.(int64)
	return n
}

// cpuTicks returns the user+system time of a process in clock ticks.
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	k, _ := strconv.ParseInt(fields[12], 10, 64)
	return u + k
}

func TestNodeIdleDoesNotSpin(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	for _, mode := range []string{"sync", "async"} {
		t.Run(mode, func(t *testing.T) {
			b := openNode(t, nil, nil)
			if mode == "async" { // a ref'd timer keeps the driver in its asynchronous wait
				nodeExec(t, b, "setInterval(() => {}, 100000)")
			}
			alive(t, b)
			time.Sleep(100 * time.Millisecond)
			before := cpuTicks(t, b.Pid())
			time.Sleep(time.Second)
			if used := cpuTicks(t, b.Pid()) - before; used > 5 {
				t.Fatalf("idle node used %d clock ticks in one second", used)
			}
			// EOF on the input: the driver exits at once.
			start := time.Now()
			b.Close()
			if d := time.Since(start); d > time.Second {
				t.Fatalf("Close took %v: the driver did not exit at EOF", d)
			}
		})
	}
}

func TestNodeLargeArgumentFast(t *testing.T) {
	b := openNode(t, nil, nil)
	arg := strings.Repeat("abcdefgh", 100<<10/8)
	mustCall(t, b, "sb_len", arg)
	start := time.Now()
	const n = 20
	for i := 0; i < n; i++ {
		if v := mustCall(t, b, "sb_len", arg); !sameValue(v, int64(len(arg))) {
			t.Fatalf("sb_len = %#v", v)
		}
	}
	per := time.Since(start) / n
	t.Logf("100 KB argument: %v per call", per)
	if per > 20*time.Millisecond {
		t.Fatalf("100 KB argument took %v per call", per)
	}
}

func TestNodeInterruptNested(t *testing.T) {
	b := openNode(t, nil, nil)
	if err := b.Export(ctxT(t), "go_wait", func(ctx context.Context, args []any) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Export(ctxT(t), "go_sleep", func(ctx context.Context, args []any) (any, error) {
		return b.Call(ctx, "sb_sleep", 30)
	}); err != nil {
		t.Fatal(err)
	}
	nodeExec(t, b, "function sb_wait() { return go_wait() } function sb_nested_sleep() { return go_sleep() }")
	for _, name := range []string{"sb_wait", "sb_nested_sleep", "sb_wait"} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := b.Call(ctx, name)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s with a deadline: got %v", name, err)
		}
		if b.Err() != nil {
			t.Fatalf("bond broken after interrupting %s: %v", name, b.Err())
		}
		alive(t, b)
	}
	v, err := bond.CallAs[int](ctxT(t), b, "sb_down", 50)
	if err != nil || v != 50 {
		t.Fatalf("sb_down(50) after interrupts = %v, %v", v, err)
	}
}

// TestNodeDeepRecursion: with Node's default stack, requests nested more
// than 64 levels deep run without an interrupt scope of their own (see
// drivers/node.js, scoped), so 600 levels fit; an interrupt down there
// unwinds to the 64th level and leaves the bond serving.
func TestNodeDeepRecursion(t *testing.T) {
	b := openNode(t, nil, nil)
	if v, err := bond.CallAs[int](ctxT(t), b, "sb_down", 600); err != nil || v != 600 {
		t.Fatalf("sb_down(600) = %v, %v", v, err)
	}
	if err := b.Export(ctxT(t), "go_deep", func(ctx context.Context, args []any) (any, error) {
		return b.Call(ctx, "sb_deep", args...)
	}); err != nil {
		t.Fatal(err)
	}
	nodeExec(t, b, "function sb_deep(n) { return n === 0 ? sb_sleep(30) : go_deep(n - 1); }")
	for _, depth := range []int{10, 100} {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := b.Call(ctx, "sb_deep", depth)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("sb_deep(%d) with a deadline: got %v", depth, err)
		}
		if b.Err() != nil {
			t.Fatalf("bond broken after interrupting sb_deep(%d): %v", depth, b.Err())
		}
		if v, err := bond.CallAs[int](ctxT(t), b, "sb_down", 300); err != nil || v != 300 {
			t.Fatalf("sb_down(300) after interrupting sb_deep(%d) = %v, %v", depth, v, err)
		}
	}
}

// TestNodeInterruptBurst: SIGINTs landing anywhere (user code, the
// driver's own code, idle) while calls nest must never break the protocol
// or kill the interpreter; interrupted calls fail with the interrupt.
func TestNodeInterruptBurst(t *testing.T) {
	b := openNode(t, nil, nil)
	if err := b.Export(ctxT(t), "go_noop", func(ctx context.Context, args []any) (any, error) { return 1, nil }); err != nil {
		t.Fatal(err)
	}
	nodeExec(t, b, "function sb_callgo() { return go_noop() }")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				_ = syscall.Kill(b.Pid(), syscall.SIGINT)
			}
		}
	}()
	calls, interrupted := 0, 0
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); calls++ {
		var err error
		switch calls % 3 {
		case 0:
			_, err = b.Call(ctxT(t), "sb_add", 1, 2)
		case 1:
			_, err = b.Call(ctxT(t), "sb_callgo")
		case 2:
			_, err = b.Call(ctxT(t), "sb_down", 3)
		}
		var re *bond.RemoteError
		if err != nil && errors.As(err, &re) && strings.Contains(re.Message, "interrupted") {
			interrupted++
		} else if err != nil {
			close(stop)
			<-done
			t.Fatalf("call %d: %v", calls, err)
		}
	}
	close(stop)
	<-done
	t.Logf("%d calls, %d interrupted", calls, interrupted)
	// The last SIGINT sent can still be on its way through Node's signal
	// thread and stop one more call; after that the bond must serve.
	if _, err := b.Call(ctxT(t), "sb_add", 1, 1); err != nil && !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("first call after the burst: %v", err)
	}
	alive(t, b)
}

func TestNodeStdio(t *testing.T) {
	out, errOut := &testenv.Buffer{}, &testenv.Buffer{}
	ctx := ctxT(t)
	b, err := bond.Open(ctx, "node", &bond.Options{Channel: bond.ChannelStdio, Stdout: out, Stderr: errOut, GracePeriod: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.EvalBlock(ctx, nodeDefine); err != nil {
		t.Fatal(err)
	}
	// Writing a forged reply straight to fd 1 must not reach the protocol.
	nodeExec(t, b, `require('fs').writeSync(1, '{"op":"return","id":999999,"value":"forged"}\n');
console.log('via-console');
require('child_process').execSync('echo from-child', {stdio: 'inherit'});`)
	if v := mustCall(t, b, "sb_add", 1, 2); !sameValue(v, int64(3)) {
		t.Fatalf("sb_add after the forgery = %#v", v)
	}
	if b.Err() != nil {
		t.Fatal(b.Err())
	}
	if !strings.Contains(out.String(), "via-console") {
		t.Errorf("stdout = %q", out.String())
	}
	if e := errOut.String(); !strings.Contains(e, "forged") || !strings.Contains(e, "from-child") {
		t.Errorf("stderr = %q, want the raw fd 1 writes", e)
	}
	// Interrupts reach the interpreter through the stage-1 process.
	ctx2, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := b.Call(ctx2, "sb_sleep", 30); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sb_sleep with a deadline: got %v", err)
	}
	if v := mustCall(t, b, "sb_add", 2, 2); !sameValue(v, int64(4)) {
		t.Fatalf("sb_add after an interrupt = %#v", v)
	}
	_, err = b.Call(ctxT(t), "sb_exit", 4)
	var xe interface{ ExitCode() int }
	if !errors.Is(err, bond.ErrTerminated) || !errors.As(err, &xe) || xe.ExitCode() != 4 {
		t.Fatalf("sb_exit(4) in stdio mode: got %v", err)
	}
}

func TestNodeDriverLookup(t *testing.T) {
	for _, name := range []string{"node", "js", "JavaScript", "nodejs"} {
		b, err := bond.Open(ctxT(t), name, nil)
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		if b.Language() != "node" || !strings.HasPrefix(b.Info(), "Node.js v") {
			t.Errorf("%s: language %q, info %q", name, b.Language(), b.Info())
		}
		b.Close()
	}
}
