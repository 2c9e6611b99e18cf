package bond

// Tests of the protocol engine against the fake interpreter (fake_test.go):
// hermetic, fast, and free to misbehave in ways no real driver does.

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandbond/sandbond/drivers"
	"github.com/sandbond/sandbond/internal/testenv"
)

// hookWriter records what is written and closes seen once a write
// contains want (used to learn, without sleeping, that a request went out).
type hookWriter struct {
	testenv.Buffer
	want string
	once sync.Once
	seen chan struct{}
}

func newHook(want string) *hookWriter { return &hookWriter{want: want, seen: make(chan struct{})} }

func (h *hookWriter) Write(p []byte) (int, error) {
	n, err := h.Buffer.Write(p)
	if bytes.Contains(p, []byte(h.want)) {
		h.once.Do(func() { close(h.seen) })
	}
	return n, err
}

var bg = context.Background()

// ctxTimeout returns a context with a deadline; the test cancels it at the end.
func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(bg, d)
	t.Cleanup(cancel)
	return ctx
}

// wantBroken checks that b is dead with an error matching target, and
// that a later call fails the same way.
func wantBroken(t *testing.T, b *Bond, target error) {
	t.Helper()
	select {
	case <-b.Done():
	default:
		t.Fatalf("bond still usable; want it broken with %v", target)
	}
	if !errors.Is(b.Err(), target) {
		t.Errorf("Err() = %v; want %v", b.Err(), target)
	}
	if _, err := b.Eval(bg, "1"); !errors.Is(err, target) {
		t.Errorf("Eval after the break = %v; want %v", err, target)
	}
}

// wantAlive checks that b still answers.
func wantAlive(t *testing.T, b *Bond) {
	t.Helper()
	if err := b.Err(); err != nil {
		t.Fatalf("bond broken: %v", err)
	}
	v, err := b.Eval(bg, `"still here"`)
	if err != nil || v != "still here" {
		t.Fatalf("Eval on a surviving bond = %v, %v", v, err)
	}
}

func TestFakeEvalValues(t *testing.T) {
	b := openFake(t, "interp", nil)
	if b.Language() != "fake" || b.Info() != "fake 1.0" || b.Pid() <= 0 {
		t.Fatalf("Language, Info, Pid = %q, %q, %d", b.Language(), b.Info(), b.Pid())
	}
	huge, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	for _, tc := range []struct {
		code string
		want any
	}{
		{`null`, nil},
		{`true`, true},
		{`false`, false},
		{`0`, int64(0)},
		{`-9223372036854775808`, int64(math.MinInt64)},
		{`9223372036854775807`, int64(math.MaxInt64)},
		{`-123456789012345678901234567890`, huge},
		{`1.5`, 1.5},
		{`1.0`, 1.0},
		{`-0.0`, math.Copysign(0, -1)},
		{`1e300`, 1e300},
		{`"héllo\n\u00e9\ud83d\ude00"`, "héllo\né😀"},
		{`[]`, []any{}},
		{`{}`, map[string]any{}},
		{`[1,[2,[3]]]`, []any{int64(1), []any{int64(2), []any{int64(3)}}}},
		{`{"a":{"$bytes":"AAEC/w=="}}`, map[string]any{"a": []byte{0, 1, 2, 255}}},
		{`[{"$$x":1}]`, []any{map[string]any{"$x": int64(1)}}},
		{`{"$$$y":{"$bytes":""}}`, map[string]any{"$$y": []byte{}}},
		{`{"$a":1,"$b":2}`, map[string]any{"$a": int64(1), "$b": int64(2)}},
	} {
		got, err := b.Eval(bg, tc.code)
		if err != nil {
			t.Errorf("Eval(%s): %v", tc.code, err)
			continue
		}
		if !valueEqual(got, tc.want) {
			t.Errorf("Eval(%s) = %#v; want %#v", tc.code, got, tc.want)
		}
	}
	if err := b.EvalBlock(bg, `!stderr:x`); err != nil {
		t.Errorf("EvalBlock: %v", err)
	}
}

func TestOpenFailures(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		want     error
	}{
		{"never-ready", context.DeadlineExceeded},
		{"bad-first", ErrProtocol},
		{"wrong-version", ErrProtocol},
		{"wrong-language", ErrProtocol},
		{"garbage-first", ErrProtocol},
		{"exit-before-ready", ErrTerminated},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			o := &Options{Stderr: &testenv.Buffer{}}
			if tc.scenario == "never-ready" {
				o.StartTimeout = 300 * time.Millisecond
			}
			_, err := Open(bg, "fake", fakeOptions(tc.scenario, o))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v; want %v", err, tc.want)
			}
			if kids := childProcesses(); len(kids) > 0 {
				t.Errorf("children left after a failed Open: %v", kids)
			}
			if tc.scenario == "exit-before-ready" {
				var ee *ExitError
				if !errors.As(err, &ee) || !strings.Contains(ee.Stderr, "no such module") {
					t.Fatalf("error %v lacks the stderr tail", err)
				}
				var xe *exec.ExitError
				if !errors.As(err, &xe) || xe.ExitCode() != 4 {
					t.Errorf("error %v does not carry exit status 4", err)
				}
			}
		})
	}
}

func TestOpenUnknownLanguage(t *testing.T) {
	_, err := Open(bg, "cobol", nil)
	if !errors.Is(err, drivers.ErrUnknownLanguage) {
		t.Fatalf("Open(cobol) = %v; want ErrUnknownLanguage", err)
	}
}

func TestOpenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, err := Open(ctx, "fake", fakeOptions("interp", nil))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a cancelled context = %v; want context.Canceled", err)
	}
}

func TestProtocolViolations(t *testing.T) {
	long := strings.Repeat("z", 200)
	for _, tc := range []struct {
		name, code string
		maxMsg     int
	}{
		{"garbage", `!line:hello world`, 0},
		{"not an object", `!line:[1,2,3]`, 0},
		{"empty line", `!line:`, 0},
		{"trailing data", `!line:{"op":"return","id":1,"value":1} x`, 0},
		{"oversized line", `!line:{"op":"return","id":1,"value":"` + long + `"}`, 100},
		{"invalid UTF-8", `!hex:` + hex.EncodeToString([]byte("{\"op\":\"return\",\"id\":1,\"value\":\"a\xffb\"}")), 0},
		{"invalid UTF-8 in a key", `!hex:` + hex.EncodeToString([]byte("{\"op\":\"return\",\"id\":1,\"value\":{\"\xc0\":1}}")), 0},
		{"lone surrogate", `!line:{"op":"return","id":1,"value":"\ud800"}`, 0},
		{"lone low surrogate", `!line:{"op":"return","id":1,"value":"\udc00x"}`, 0},
		{"raw control char", "!line:{\"op\":\"return\",\"id\":1,\"value\":\"a\tb\"}", 0},
		{"unknown op", `!line:{"op":"frobnicate","id":1}`, 0},
		{"no op", `!line:{"id":1,"value":1}`, 0},
		{"op not a string", `!line:{"op":1,"id":1,"value":1}`, 0},
		{"unknown member", `!line:{"op":"return","id":1,"value":1,"extra":true}`, 0},
		{"missing member", `!line:{"op":"return","id":1}`, 0},
		{"id a string", `!line:{"op":"return","id":"1","value":1}`, 0},
		{"id zero", `!line:{"op":"return","id":0,"value":1}`, 0},
		{"id too big", `!line:{"op":"return","id":9007199254740992,"value":1}`, 0},
		{"id float", `!line:{"op":"return","id":1.0,"value":1}`, 0},
		{"wrong id", `!reply:7:1`, 0},
		{"ready mid-session", `!line:{"op":"ready","version":1,"language":"fake","info":""}`, 0},
		{"ref tag", `!rawvalue:{"$ref":"open('/etc/passwd')"}`, 0},
		{"unknown tag", `!rawvalue:{"$foo":1}`, 0},
		{"bytes not a string", `!rawvalue:{"$bytes":1}`, 0},
		{"bad base64", `!rawvalue:{"$bytes":"!!!"}`, 0},
		{"unpadded base64", `!rawvalue:{"$bytes":"AA"}`, 0},
		{"duplicate keys", `!rawvalue:{"a":1,"a":2}`, 0},
		{"duplicate top-level keys", `!line:{"op":"return","id":1,"id":1,"value":1}`, 0},
		{"NaN", `!rawvalue:NaN`, 0},
		{"float overflow", `!rawvalue:1e999`, 0},
		{"leading zero", `!rawvalue:012`, 0},
		{"single quotes", `!rawvalue:'a'`, 0},
		{"output fd 3", `!line:{"op":"output","fd":3,"data":"x"}`, 0},
		{"output data not a string", `!line:{"op":"output","fd":1,"data":1}`, 0},
		{"error kind unknown", `!line:{"op":"error","id":1,"error":{"kind":"oops","type":"T","message":"m"}}`, 0},
		{"error member unknown", `!line:{"op":"error","id":1,"error":{"kind":"exception","type":"T","message":"m","x":"y"}}`, 0},
		{"error lacks type", `!line:{"op":"error","id":1,"error":{"kind":"exception","message":"m"}}`, 0},
		{"error not an object", `!line:{"op":"error","id":1,"error":"boom"}`, 0},
		{"call args not a list", `!line:{"op":"call","id":1,"name":"f","args":{}}`, 0},
		{"deep nesting", `!rawvalue:` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1), 0},
		{"exit mid-message", `!partial:{"op":"return","id":1,"val`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := openFake(t, "interp", &Options{MaxMessageBytes: tc.maxMsg})
			_, err := b.Eval(bg, tc.code)
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("Eval(%.60q) = %v; want ErrProtocol", tc.code, err)
			}
			wantBroken(t, b, ErrProtocol)
		})
	}
}

func TestMessageSizeLimitBoundary(t *testing.T) {
	// The line {"op":"return","id":1,"value":"zz...z"} at exactly the limit passes.
	const n = 100
	line := fmt.Sprintf(`{"op":"return","id":1,"value":"%s"}`, strings.Repeat("z", n))
	b := openFake(t, "interp", &Options{MaxMessageBytes: len(line)})
	v, err := b.Eval(bg, fmt.Sprintf("!big:%d", n))
	if err != nil || v != strings.Repeat("z", n) {
		t.Fatalf("a message of exactly MaxMessageBytes: %v", err)
	}
	// The next id has the same length, so one more byte is over.
	if _, err := b.Eval(bg, fmt.Sprintf("!big:%d", n+1)); !errors.Is(err, ErrProtocol) {
		t.Fatalf("a message one byte over: %v; want ErrProtocol", err)
	}
}

func TestInterpreterExits(t *testing.T) {
	b := openFake(t, "interp", nil)
	_, err := b.Eval(bg, "!exit:3:fatal: the floor is lava\n")
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("Eval = %v; want *ExitError", err)
	}
	if !errors.Is(err, ErrTerminated) || ee.Language != "fake" || !strings.Contains(ee.Stderr, "the floor is lava") {
		t.Errorf("ExitError = %+v", ee)
	}
	var xe *exec.ExitError
	if !errors.As(err, &xe) || xe.ExitCode() != 3 {
		t.Errorf("exit status not in the chain of %v", err)
	}
	if !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "the floor is lava") {
		t.Errorf("message %q lacks the status or stderr", err)
	}
	wantBroken(t, b, ErrTerminated)

	b0 := openFake(t, "interp", nil)
	_, err = b0.Eval(bg, "!exit:0:")
	if !errors.As(err, &ee) || ee.Err != nil || !strings.Contains(err.Error(), "exit status 0") {
		t.Fatalf("clean exit mid-call = %v", err)
	}
}

func TestOutputClosedButAlive(t *testing.T) {
	b := openFake(t, "interp", &Options{GracePeriod: 200 * time.Millisecond})
	if _, err := b.Eval(bg, "!closeout"); !errors.Is(err, ErrTerminated) {
		t.Fatalf("Eval = %v; want ErrTerminated", err)
	}
	wantBroken(t, b, ErrTerminated)
}

func TestInterrupt(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		b := openFake(t, "interp", nil)
		_, err := b.Eval(ctxTimeout(t, 100*time.Millisecond), "!sleep")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Eval = %v; want DeadlineExceeded", err)
		}
		if errors.Is(err, ErrTerminated) || errors.Is(err, ErrProtocol) {
			t.Errorf("an answered interrupt broke the bond: %v", err)
		}
		wantAlive(t, b)
	})
	t.Run("cancel", func(t *testing.T) {
		hook := newHook(`"code":"!sleep"`)
		b := openFake(t, "interp", &Options{Transcript: hook})
		ctx, cancel := context.WithCancel(bg)
		defer cancel()
		go func() { <-hook.seen; cancel() }()
		_, err := b.Eval(ctx, "!sleep")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Eval = %v; want context.Canceled", err)
		}
		wantAlive(t, b)
		// The next call got its own reply, not the interrupted one's.
		for i := 0; i < 3; i++ {
			if v, err := b.Eval(bg, fmt.Sprint(i)); err != nil || v != int64(i) {
				t.Fatalf("Eval(%d) after a cancel = %v, %v", i, v, err)
			}
		}
	})
	t.Run("calls during the grace period are refused", func(t *testing.T) {
		b := openFake(t, "interp", nil)
		called := false
		if err := b.Export(bg, "cb", func(context.Context, []any) (any, error) { called = true; return 1, nil }); err != nil {
			t.Fatal(err)
		}
		_, err := b.Eval(ctxTimeout(t, 100*time.Millisecond), "!sleepcall")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Eval = %v; want DeadlineExceeded", err)
		}
		if called {
			t.Errorf("an exported function ran after the call was cancelled")
		}
		if v, err := b.Eval(bg, "!last"); err != nil || v != "Canceled" {
			t.Errorf("the interpreter's call got %v, %v; want an error of type Canceled", v, err)
		}
	})
	t.Run("told through a call, no signal", func(t *testing.T) {
		// The interpreter's call is answered with the cancellation and it
		// replies at once: no SIGINT, which could land in a later call.
		b := openFake(t, "interp", nil)
		if err := b.Export(bg, "wait", func(ctx context.Context, _ []any) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			_, err := b.Call(ctxTimeout(t, 30*time.Millisecond), "host", "wait")
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Call = %v; want DeadlineExceeded", err)
			}
		}
		time.Sleep(20 * time.Millisecond)
		if v, err := b.Eval(bg, "!sigint"); err != nil || v != false {
			t.Fatalf("SIGINT received = %v, %v; want false", v, err)
		}
	})
	t.Run("ignored", func(t *testing.T) {
		b := openFake(t, "interp", &Options{GracePeriod: 200 * time.Millisecond})
		_, err := b.Eval(ctxTimeout(t, 100*time.Millisecond), "!ignoreint")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Eval = %v; want DeadlineExceeded", err)
		}
		wantBroken(t, b, ErrTerminated)
	})
	t.Run("answered too late", func(t *testing.T) {
		b := openFake(t, "interp", &Options{GracePeriod: 100 * time.Millisecond})
		_, err := b.Eval(ctxTimeout(t, 50*time.Millisecond), "!late:10s")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Eval = %v; want DeadlineExceeded", err)
		}
		wantBroken(t, b, ErrTerminated)
	})
	t.Run("default timeout", func(t *testing.T) {
		b := openFake(t, "interp", &Options{Timeout: 100 * time.Millisecond})
		if _, err := b.Eval(bg, "!sleep"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Eval = %v; want DeadlineExceeded from Options.Timeout", err)
		}
		wantAlive(t, b)
	})
}

func TestQueueing(t *testing.T) {
	hook := newHook(`"code":"!sleep"`)
	b := openFake(t, "interp", &Options{Transcript: hook})
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	first := make(chan error, 1)
	go func() { _, err := b.Eval(ctx, "!sleep"); first <- err }()
	<-hook.seen
	// A second, unrelated call queues behind the first and gives up with its own context.
	_, err := b.Eval(ctxTimeout(t, 50*time.Millisecond), "2")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "waiting for the bond") {
		t.Fatalf("queued Eval = %v; want DeadlineExceeded while waiting", err)
	}
	if strings.Contains(hook.String(), `"code":"2"`) {
		t.Errorf("the queued request was sent:\n%s", hook.String())
	}
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first Eval = %v; want Canceled", err)
	}
	wantAlive(t, b)
}

func TestClose(t *testing.T) {
	hook := newHook(`"code":"!sleep"`)
	b := openFake(t, "interp", &Options{Transcript: hook, GracePeriod: 100 * time.Millisecond})
	pending := make(chan error, 1)
	go func() { _, err := b.Eval(bg, "!sleep"); pending <- err }()
	<-hook.seen
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-pending; !errors.Is(err, ErrClosed) {
		t.Errorf("call in progress during Close = %v; want ErrClosed", err)
	}
	assertReaped(t, b.Pid())
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	wantBroken(t, b, ErrClosed)
	if err := b.Export(bg, "f", func(context.Context, []any) (any, error) { return nil, nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Export after Close = %v", err)
	}
}

func TestNestedCalls(t *testing.T) {
	b := openFake(t, "interp", nil)
	var down Func = func(ctx context.Context, args []any) (any, error) {
		n := args[0].(int64)
		if n == 0 {
			return int64(0), nil
		}
		v, err := b.Call(ctx, "host", "down", n-1)
		if err != nil {
			return nil, err
		}
		return v.(int64) + 1, nil
	}
	if err := b.Export(bg, "down", down); err != nil {
		t.Fatal(err)
	}
	for _, depth := range []int64{1, 200, 1000} {
		v, err := b.Call(bg, "host", "down", depth)
		if err != nil || v != depth {
			t.Fatalf("recursion %d deep = %v, %v", depth, v, err)
		}
	}
	// An exported function hands its context to goroutines: their calls
	// nest (they do not queue behind the call in progress) one at a time.
	if err := b.Export(bg, "fan", func(ctx context.Context, args []any) (any, error) {
		var wg sync.WaitGroup
		results := make([]any, 8)
		errs := make([]error, 8)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = b.Call(ctx, "echo", i)
			}()
		}
		wg.Wait()
		return results, errors.Join(errs...)
	}); err != nil {
		t.Fatal(err)
	}
	v, err := b.Call(bg, "host", "fan")
	if err != nil {
		t.Fatal(err)
	}
	want := []any{}
	for i := range 8 {
		want = append(want, int64(i))
	}
	if !valueEqual(v, want) {
		t.Fatalf("fan = %v", v)
	}
	// A context kept after the exported function returned makes top-level calls.
	var kept context.Context
	if err := b.Export(bg, "keep", func(ctx context.Context, args []any) (any, error) { kept = ctx; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Call(bg, "host", "keep"); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Eval(kept, "5"); err != nil || v != int64(5) {
		t.Fatalf("call through a retired context = %v, %v", v, err)
	}
}

func TestExportErrors(t *testing.T) {
	b := openFake(t, "interp", nil)
	errBoom := errors.New("boom")
	must(t, b.Export(bg, "fail", func(context.Context, []any) (any, error) { return nil, fmt.Errorf("wrapped: %w", errBoom) }))
	must(t, b.Export(bg, "panics", func(context.Context, []any) (any, error) { panic("oh no") }))
	must(t, b.Export(bg, "nan", func(context.Context, []any) (any, error) { return math.NaN(), nil }))
	must(t, b.Export(bg, "canceled", func(context.Context, []any) (any, error) { return nil, context.Canceled }))
	must(t, b.Export(bg, "remote", func(ctx context.Context, _ []any) (any, error) { return b.Eval(ctx, "!raise:ValueError:inner") }))
	if err := b.Export(bg, "nil", nil); err == nil {
		t.Errorf("Export of a nil function succeeded")
	}

	// An uncaught host error comes back with the Go error as its cause.
	_, err := b.Call(bg, "host", "fail")
	var re *RemoteError
	if !errors.As(err, &re) || re.Type != "HostError" || re.Message != "wrapped: boom" {
		t.Fatalf("Call(host fail) = %v; want a RemoteError HostError", err)
	}
	if !errors.Is(err, errBoom) || !errors.Is(err, ErrRemote) {
		t.Errorf("errors.Is(%v, errBoom/ErrRemote) = false", err)
	}
	// Tokens belong to their top-level call: a stale one finds no cause.
	_, err = b.Eval(bg, `!line:{"op":"error","id":`+fmt.Sprint(b.nextID.Load()+1)+`,"error":{"kind":"exception","type":"HostError","message":"boom","token":"g1"}}`)
	if !errors.As(err, &re) || re.Cause != nil {
		t.Errorf("an error with a stale token = %#v; want no Cause", err)
	}

	for _, tc := range []struct{ fn, typ, msg string }{
		{"fail", "GoError", "wrapped: boom"},
		{"panics", "GoError", "exported function panics panicked: oh no"},
		{"nan", "SerializationError", "NaN cannot travel"},
		{"canceled", "Canceled", "context canceled"},
		{"remote", "RemoteError", "ValueError: inner"},
		{"nosuch", "NameError", `no such exported function: "nosuch"`},
	} {
		v, err := b.Call(bg, "hostcatch", tc.fn)
		got, _ := v.([]any)
		if err != nil || len(got) != 2 || got[0] != tc.typ || !strings.Contains(fmt.Sprint(got[1]), tc.msg) {
			t.Errorf("host error from %s = %v, %v; want [%s, ...%s...]", tc.fn, v, err, tc.typ, tc.msg)
		}
	}
	wantAlive(t, b)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRemoteErrors(t *testing.T) {
	b := openFake(t, "interp", nil)
	_, err := b.Eval(bg, "!raise:ZeroDivisionError:division by zero")
	var re *RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("Eval = %v; want *RemoteError", err)
	}
	if re.Language != "fake" || re.Type != "ZeroDivisionError" || re.Message != "division by zero" ||
		!strings.Contains(re.Traceback, "Traceback") || re.Cause != nil {
		t.Errorf("RemoteError = %+v", re)
	}
	if !errors.Is(err, ErrRemote) || errors.Is(err, ErrProtocol) || errors.Is(err, ErrSerialization) {
		t.Errorf("errors.Is mismatch for %v", err)
	}
	if err.Error() != "fake: ZeroDivisionError: division by zero" {
		t.Errorf("Error() = %q", err.Error())
	}
	wantAlive(t, b)

	_, err = b.Eval(bg, "!unserializable")
	var se *SerializationError
	if !errors.As(err, &se) || se.Side != Remote || se.Language != "fake" || se.Type != "set" || !errors.Is(err, ErrSerialization) {
		t.Fatalf("Eval = %#v; want a remote SerializationError", err)
	}
	if !strings.HasPrefix(err.Error(), "remote serialization error in fake (set): ") {
		t.Errorf("Error() = %q", err.Error())
	}
	wantAlive(t, b)
}

func TestLocalSerializationErrors(t *testing.T) {
	tr := &testenv.Buffer{}
	b := openFake(t, "interp", &Options{Transcript: tr})
	for _, tc := range []struct {
		name string
		arg  any
	}{
		{"NaN", math.NaN()},
		{"+Inf", math.Inf(1)},
		{"float32 -Inf", float32(math.Inf(-1))},
		{"invalid UTF-8", "a\xffb"},
		{"invalid UTF-8 key", map[string]any{"\xff": 1}},
		{"int keys", map[int]string{1: "a"}},
		{"chan", make(chan int)},
		{"func", func() {}},
		{"complex", complex(1, 2)},
		{"nested NaN", []any{1, map[string]any{"x": []float64{math.NaN()}}}},
		{"nested Ref", []any{NewRef("x")}},
		{"Ref in a map", map[string]any{"r": NewRef("x")}},
		{"struct with a chan", struct{ C chan int }{make(chan int)}},
		{"cycle", cyclic()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tr.String()
			_, err := b.Call(bg, "echo", tc.arg)
			var se *SerializationError
			if !errors.As(err, &se) || se.Side != Local || se.Language != "fake" || !errors.Is(err, ErrSerialization) {
				t.Fatalf("Call(echo, %s) = %#v; want a local SerializationError", tc.name, err)
			}
			if tr.String() != before {
				t.Errorf("something was sent for an unencodable argument: %q", strings.TrimPrefix(tr.String(), before))
			}
		})
	}
	wantAlive(t, b)
	// The same values returned from an exported function fail on the Go side
	// and travel as a SerializationError reply.
	must(t, b.Export(bg, "bad", func(context.Context, []any) (any, error) { return map[int]int{1: 1}, nil }))
	v, err := b.Call(bg, "hostcatch", "bad")
	if got, _ := v.([]any); err != nil || len(got) != 2 || got[0] != "SerializationError" {
		t.Errorf("hostcatch bad = %v, %v", v, err)
	}
}

func cyclic() any {
	a := []any{nil}
	a[0] = a
	return a
}

func TestArgumentsEncoding(t *testing.T) {
	b := openFake(t, "interp", nil)
	type point struct { // one field: a struct's fields travel in no set order
		Y string `json:"y,omitempty"`
		B Bytes  `json:"b"`
	}
	for _, tc := range []struct {
		args []any
		want string
	}{
		{nil, `[]`},
		{[]any{nil, true, 1, int64(-2), uint64(math.MaxUint64), 1.5, float32(0.1), 2.0}, `[null,true,1,-2,18446744073709551615,1.5,0.1,2.0]`},
		{[]any{NewRef("open('/etc/hostname')"), NewRef("x")}, `[{"$ref":"open('/etc/hostname')"},{"$ref":"x"}]`},
		{[]any{[]byte("hi"), Bytes{0xff}}, `[{"$bytes":"aGk="},{"$bytes":"/w=="}]`},
		{[]any{map[string]any{"$x": 1}, map[string]int{"$$y": 2}}, `[{"$$x":1},{"$$$y":2}]`},
		{[]any{point{B: Bytes("a")}}, `[{"b":{"$bytes":"YQ=="}}]`},
		{[]any{"\u2028<>&\n\x00"}, `["\u2028<>&\n\u0000"]`},
	} {
		v, err := b.Call(bg, "args", tc.args...)
		if err != nil {
			t.Errorf("Call(args, %v): %v", tc.args, err)
			continue
		}
		if v != tc.want {
			t.Errorf("Call(args, %v) sent %s; want %s", tc.args, v, tc.want)
		}
	}
}

func TestTypedHelpers(t *testing.T) {
	b := openFake(t, "interp", nil)
	if n, err := EvalAs[int](bg, b, "42"); err != nil || n != 42 {
		t.Errorf("EvalAs[int] = %v, %v", n, err)
	}
	if s, err := EvalAs[[]string](bg, b, `["a","b"]`); err != nil || !reflect.DeepEqual(s, []string{"a", "b"}) {
		t.Errorf("EvalAs[[]string] = %v, %v", s, err)
	}
	if m, err := EvalAs[map[string]int](bg, b, `{"a":1,"b":2}`); err != nil || !reflect.DeepEqual(m, map[string]int{"a": 1, "b": 2}) {
		t.Errorf("EvalAs[map[string]int] = %v, %v", m, err)
	}
	if n, err := EvalAs[*big.Int](bg, b, "123456789012345678901234567890"); err != nil || n.String() != "123456789012345678901234567890" {
		t.Errorf("EvalAs[*big.Int] = %v, %v", n, err)
	}
	if n, err := EvalAs[uint64](bg, b, "18446744073709551615"); err != nil || n != math.MaxUint64 {
		t.Errorf("EvalAs[uint64] = %v, %v", n, err)
	}
	if v, err := EvalAs[any](bg, b, `{"a":[1]}`); err != nil || !valueEqual(v, map[string]any{"a": []any{int64(1)}}) {
		t.Errorf("EvalAs[any] = %v, %v", v, err)
	}
	if v, err := EvalAs[[]byte](bg, b, `{"$bytes":"AAE="}`); err != nil || !bytes.Equal(v, []byte{0, 1}) {
		t.Errorf("EvalAs[[]byte] = %v, %v", v, err)
	}
	if v, err := EvalAs[Bytes](bg, b, `{"$bytes":"AAE="}`); err != nil || !bytes.Equal(v, []byte{0, 1}) {
		t.Errorf("EvalAs[Bytes] = %v, %v", v, err)
	}
	type rec struct {
		A int               `json:"a"`
		B []byte            `json:"b"`
		C Bytes             `json:"c"`
		D map[string]string `json:"d"`
	}
	want := rec{A: 1, B: []byte{1}, C: Bytes{2}, D: map[string]string{"$k": "v"}}
	got, err := EvalAs[rec](bg, b, `{"a":1,"b":{"$bytes":"AQ=="},"c":{"$bytes":"Ag=="},"d":{"$$k":"v"}}`)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("EvalAs[rec] = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []func() error{
		func() error { _, err := EvalAs[int](bg, b, "1.5"); return err },
		func() error { _, err := EvalAs[uint8](bg, b, "300"); return err },
		func() error { _, err := EvalAs[string](bg, b, "[1]"); return err },
		func() error { _, err := EvalAs[rec](bg, b, `{"a":"x"}`); return err },
	} {
		err := bad()
		var se *SerializationError
		if !errors.As(err, &se) || se.Side != Local {
			t.Errorf("a result that does not fit = %v; want a local SerializationError", err)
		}
	}
	wantAlive(t, b)

	if n, err := CallAs[int64](bg, b, "add", 1, 2, 3); err != nil || n != 6 {
		t.Errorf("CallAs = %v, %v", n, err)
	}
	add := CallableAs[*big.Int](b, "add")
	if n, err := add(bg, uint64(math.MaxUint64), 1); err != nil || n.String() != "18446744073709551616" {
		t.Errorf("CallableAs = %v, %v", n, err)
	}
	echo := b.Callable("echo")
	if v, err := echo(bg, "x"); err != nil || v != "x" {
		t.Errorf("Callable = %v, %v", v, err)
	}
	if _, err := CallAs[int](bg, b, "nosuch"); !errors.Is(err, ErrRemote) {
		t.Errorf("CallAs of a missing name = %v", err)
	}
	if _, err := EvalAs[int](bg, b, "!raise:E:m"); !errors.Is(err, ErrRemote) {
		t.Errorf("EvalAs raising = %v", err)
	}
}

func TestDecode(t *testing.T) {
	type rec struct {
		N *big.Int `json:"n"`
		F float64  `json:"f"`
	}
	n, _ := new(big.Int).SetString("100000000000000000000", 10)
	got, err := Decode[rec](map[string]any{"n": n, "f": int64(3)})
	if err != nil || got.N.Cmp(n) != 0 || got.F != 3 {
		t.Fatalf("Decode[rec] = %+v, %v", got, err)
	}
	if s, err := Decode[string]("x"); err != nil || s != "x" {
		t.Fatalf("Decode[string] = %q, %v", s, err)
	}
	if _, err := Decode[int]("x"); err == nil {
		t.Fatalf("Decode[int](\"x\") succeeded")
	}
}

func TestConcurrentCalls(t *testing.T) {
	b := openFake(t, "interp", nil)
	must(t, b.Export(bg, "twice", func(ctx context.Context, args []any) (any, error) {
		v, err := b.Call(ctx, "echo", args[0])
		if err != nil {
			return nil, err
		}
		return []any{args[0], v}, nil
	}))
	const workers, calls = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range calls {
				n := int64(w*1000 + i)
				if i%5 == 0 { // a nested call now and then
					v, err := b.Call(bg, "host", "twice", n)
					if err != nil || !valueEqual(v, []any{n, n}) {
						errs <- fmt.Errorf("nested call %d = %v, %v", n, v, err)
					}
					continue
				}
				v, err := b.Call(bg, "echo", n)
				if err != nil || v != n {
					errs <- fmt.Errorf("call %d = %v, %v", n, v, err)
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

func TestOutputs(t *testing.T) {
	t.Run("ordered with replies", func(t *testing.T) {
		out := &testenv.Buffer{}
		b := openFake(t, "interp", &Options{Stdout: out, Stderr: out})
		must(t, b.Export(bg, "mark", func(context.Context, []any) (any, error) {
			fmt.Fprint(out, "[go]")
			return nil, nil
		}))
		for _, code := range []string{"!print:1:a", "!print:2:b"} {
			if _, err := b.Eval(bg, code); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.Call(bg, "host", "mark"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Eval(bg, "!print:1:c"); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); got != "ab[go]c" {
			t.Fatalf("output = %q; want %q", got, "ab[go]c")
		}
	})
	forged := `{"op":"return","id":2,"value":"forged"}` + "\n"
	t.Run("raw fd 1 cannot forge a reply", func(t *testing.T) {
		stdout := &testenv.Buffer{}
		b := openFake(t, "interp", &Options{Stdout: stdout})
		if v, err := b.Eval(bg, "!stdout:"+forged); err != nil || v != nil {
			t.Fatalf("Eval = %v, %v; want the real reply", v, err)
		}
		if v, err := b.Eval(bg, `"real"`); err != nil || v != "real" {
			t.Fatalf("next Eval = %v, %v", v, err)
		}
		closeAndCheck(t, b)
		if !strings.Contains(stdout.String(), forged) {
			t.Errorf("Stdout = %q; want the raw bytes", stdout.String())
		}
	})
	t.Run("stdio channel", func(t *testing.T) {
		stdout, stderr := &testenv.Buffer{}, &testenv.Buffer{}
		b := openFake(t, "interp", &Options{Stdout: stdout, Stderr: stderr, Channel: ChannelStdio})
		argv, err := b.Eval(bg, "!argv")
		if err != nil {
			t.Fatal(err)
		}
		if a := argv.([]any); a[len(a)-2] != "0" || a[len(a)-1] != "1" {
			t.Errorf("argv = %v; want the protocol on fds 0 1", argv)
		}
		if v, err := b.Eval(bg, "!stdout:"+forged); err != nil || v != nil {
			t.Fatalf("Eval = %v, %v; want the real reply", v, err)
		}
		if _, err := b.Eval(bg, "!print:1:printed"); err != nil {
			t.Fatal(err)
		}
		closeAndCheck(t, b)
		if !strings.Contains(stderr.String(), forged) {
			t.Errorf("Stderr = %q; want the raw fd 1 bytes there", stderr.String())
		}
		if stdout.String() != "printed" {
			t.Errorf("Stdout = %q; want only the output message", stdout.String())
		}
	})
	t.Run("dedicated fds", func(t *testing.T) {
		b := openFake(t, "interp", nil)
		v, err := b.Eval(bg, "!fds")
		// 0: /dev/null (a character device), 1 and 2: pipes.
		if err != nil || !valueEqual(v, []any{"20000", "10000", "10000"}) {
			t.Fatalf("fds = %v, %v", v, err)
		}
	})
	t.Run("limit by messages", func(t *testing.T) {
		stdout := &testenv.Buffer{}
		b := openFake(t, "interp", &Options{Stdout: stdout, MaxOutputBytes: 5000})
		if _, err := b.Eval(bg, "!flood:20000"); !errors.Is(err, ErrOutputLimit) {
			t.Fatalf("Eval = %v; want ErrOutputLimit", err)
		}
		wantBroken(t, b, ErrOutputLimit)
		if n := len(stdout.String()); n != 5000 {
			t.Errorf("Stdout got %d bytes; want exactly the limit, 5000", n)
		}
	})
	t.Run("limit by raw writes", func(t *testing.T) {
		stdout := &testenv.Buffer{}
		b := openFake(t, "interp", &Options{Stdout: stdout, MaxOutputBytes: 5000})
		_, _ = b.Eval(bg, "!rawflood:100000") // the reply may beat the copier
		<-b.Done()
		if !errors.Is(b.Err(), ErrOutputLimit) {
			t.Fatalf("Err() = %v; want ErrOutputLimit", b.Err())
		}
		if n := len(stdout.String()); n != 5000 {
			t.Errorf("Stdout got %d bytes; want exactly the limit, 5000", n)
		}
	})
	t.Run("stderr tail", func(t *testing.T) {
		b := openFake(t, "interp", nil)
		_, err := b.Eval(bg, "!exit:1:"+strings.Repeat("a", 10000)+"END")
		var ee *ExitError
		if !errors.As(err, &ee) || len(ee.Stderr) != stderrTailSize || !strings.HasSuffix(ee.Stderr, "END") {
			t.Fatalf("ExitError.Stderr has %d bytes; want the last %d", len(ee.Stderr), stderrTailSize)
		}
	})
}

func TestOptionsFake(t *testing.T) {
	argv := func(t *testing.T, o *Options, drvArgs ...string) []any {
		o = fakeOptions("interp", o)
		o.Driver.DefaultArgs = drvArgs
		b, err := Open(bg, "ignored", o)
		if err != nil {
			t.Fatal(err)
		}
		defer closeAndCheck(t, b)
		v, err := b.Eval(bg, "!argv")
		if err != nil {
			t.Fatal(err)
		}
		return v.([]any)
	}
	stage1 := []any{"-fake", "fake-stage1", "3", "4"}
	t.Run("args", func(t *testing.T) {
		got := argv(t, &Options{Args: []string{"-x", "a b", "$HOME;"}}, "-d")
		want := append([]any{"-d", "-x", "a b", "$HOME;"}, stage1...)
		if !valueEqual(got, want) {
			t.Errorf("argv = %q; want %q", got, want)
		}
	})
	t.Run("no default args", func(t *testing.T) {
		got := argv(t, &Options{Args: []string{"-x"}, NoDefaultArgs: true}, "-d")
		if want := append([]any{"-x"}, stage1...); !valueEqual(got, want) {
			t.Errorf("argv = %q; want %q", got, want)
		}
	})
	t.Run("env and dir", func(t *testing.T) {
		dir := t.TempDir()
		b := openFake(t, "interp", &Options{Env: []string{"SANDBOND_TEST=yes"}, Dir: dir})
		if v, err := b.Eval(bg, "!env:SANDBOND_TEST"); err != nil || v != "yes" {
			t.Errorf("env = %v, %v", v, err)
		}
		if v, err := b.Eval(bg, "!env:PATH"); err != nil || v != nil {
			t.Errorf("PATH = %v, %v; want it unset with an explicit Env", v, err)
		}
		real, _ := filepath.EvalSymlinks(dir)
		if v, err := b.Eval(bg, "!cwd"); err != nil || v != real {
			t.Errorf("cwd = %v, %v; want %s", v, err, real)
		}
	})
	t.Run("command", func(t *testing.T) {
		b := openFake(t, "interp", &Options{Command: fakeExe()})
		v, err := b.Eval(bg, "!argv")
		if err != nil {
			t.Fatal(err)
		}
		// A command means the stdio channel, with the same stage 1.
		if want := []any{"-fake", "fake-stage1", "0", "1"}; !valueEqual(v, want) {
			t.Errorf("argv = %q; want %q", v, want)
		}
	})
	t.Run("command through the shell", func(t *testing.T) {
		b := openFake(t, "interp", &Options{Command: "SANDBOND_VIA=shell exec " + quote(fakeExe())})
		if v, err := b.Eval(bg, "!env:SANDBOND_VIA"); err != nil || v != "shell" {
			t.Errorf("env set by the shell command = %v, %v", v, err)
		}
		// Interrupts still reach the interpreter (as a group).
		if _, err := b.Eval(ctxTimeout(t, 100*time.Millisecond), "!sleep"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Eval = %v", err)
		}
		wantAlive(t, b)
	})
	t.Run("missing command", func(t *testing.T) {
		_, err := Open(bg, "fake", fakeOptions("interp", &Options{Command: "/nonexistent/interpreter"}))
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Open with a missing command = %v; want ErrNotExist", err)
		}
	})
}

// TestLaunchSpec checks what the bond asks of a launcher.
func TestLaunchSpec(t *testing.T) {
	rec := &recordingLauncher{}
	b := openFake(t, "interp", &Options{Launcher: rec, Dir: "/", Args: []string{"-a"}})
	if _, err := b.Eval(bg, "1"); err != nil {
		t.Fatal(err)
	}
	s := rec.spec
	if s.Language != "fake" || s.Dir != "/" || s.Argv[0] != fakeExe() || len(s.Files) != 8 || s.Files[0] != nil {
		t.Errorf("spec = %+v", s)
	}
	// fds 5, 6, 7: the side channel, named in the environment.
	if !slices.Contains(s.Env, "SANDBOND_SIDE=5,6,7") {
		t.Errorf("env lacks SANDBOND_SIDE=5,6,7")
	}
	if got := s.Argv[1:]; !reflect.DeepEqual(got, []string{"-a", "-fake", "fake-stage1", "3", "4"}) {
		t.Errorf("argv = %q", got)
	}
}

type recordingLauncher struct{ spec LaunchSpec }

func (l *recordingLauncher) Launch(ctx context.Context, spec *LaunchSpec) (Process, error) {
	l.spec = *spec
	return ExecLauncher{}.Launch(ctx, spec)
}

func TestCloseFromExport(t *testing.T) {
	b := openFake(t, "interp", &Options{GracePeriod: 200 * time.Millisecond})
	must(t, b.Export(bg, "closeme", func(context.Context, []any) (any, error) { return nil, b.Close() }))
	if _, err := b.Call(bg, "host", "closeme"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Call = %v; want ErrClosed", err)
	}
	assertReaped(t, b.Pid())
}

func TestCloseWhileBusy(t *testing.T) {
	b := openFake(t, "interp", nil)
	must(t, b.Export(bg, "id", func(_ context.Context, args []any) (any, error) { return args[0], nil }))
	var wg sync.WaitGroup
	started := make(chan struct{}, 8)
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				var err error
				if w%2 == 0 {
					_, err = b.Call(bg, "echo", i)
				} else {
					_, err = b.Call(bg, "host", "id", i)
				}
				if i == 0 {
					started <- struct{}{}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 8 {
		<-started
	}
	closeAndCheck(t, b)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("a call cut by Close failed with %v; want ErrClosed", err)
		}
	}
}

func TestExportReplace(t *testing.T) {
	b := openFake(t, "interp", nil)
	must(t, b.Export(bg, "f", func(context.Context, []any) (any, error) { return "first", nil }))
	must(t, b.Export(bg, "f", func(context.Context, []any) (any, error) { return "second", nil }))
	if v, err := b.Call(bg, "host", "f"); err != nil || v != "second" {
		t.Fatalf("Call = %v, %v; want the second function", v, err)
	}
}

func TestCallWithDoneContext(t *testing.T) {
	tr := &testenv.Buffer{}
	b := openFake(t, "interp", &Options{Transcript: tr})
	ctx, cancel := context.WithCancel(bg)
	cancel()
	before := tr.String()
	if _, err := b.Eval(ctx, "1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Eval = %v; want Canceled", err)
	}
	if tr.String() != before {
		t.Errorf("a request was sent for a cancelled context: %q", strings.TrimPrefix(tr.String(), before))
	}
	wantAlive(t, b)
}
