package drivers_test

// The conformance suite: one table of cases, run against every language
// registered by a conformance_<lang>_test.go file. Each language provides
// the same functions in its own syntax (see lang.Define).

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/internal/testenv"
)

// lang is what a language contributes to the conformance suite.
type lang struct {
	// Name is the driver name passed to bond.Open.
	Name string
	// Label names the variant in test names (defaults to Name).
	Label string
	// Options, when set, returns extra options (e.g. another interpreter).
	Options func() *bond.Options
	// Interpreter is the command that must exist for the suite to run.
	Interpreter string
	// Setup, when set, runs before the variant's tests (once per test).
	Setup func(t *testing.T)
	// Define is an EvalBlock that defines these global functions:
	//   sb_identity(x)   returns x unchanged
	//   sb_add(a, b)     returns a + b (numbers)
	//   sb_nargs(...)    returns the number of arguments it got
	//   sb_counter()     increments a global counter and returns it
	//   sb_fail(msg)     raises an exception of type FailType with message msg
	//   sb_print()       writes "o1\n" to stdout, "e1\n" to stderr, calls go_mark(),
	//                    writes "o2\n" to stdout, returns 1
	//   sb_down(n)       returns 0 if n == 0, else go_down(n - 1) + 1
	//   sb_catch()       calls go_fail() catching its exception, returns the message
	//   sb_len(x)        returns the length of a list or string
	//   sb_sleep(s)      sleeps s seconds, interruptibly, returns s
	//   sb_exit(code)    ends the interpreter with exit status code
	//   sb_big(n)        returns a string of n "x" characters
	//   sb_bad()         returns a value that cannot be serialized
	Define string
	// FailType is the exception type sb_fail raises, as reported.
	FailType string
	// SyntaxErrorExpr and SyntaxErrorBlock do not parse.
	SyntaxErrorExpr, SyntaxErrorBlock string
	// NaNExpr evaluates to a NaN.
	NaNExpr string
	// ListExpr evaluates to a list of the three numbers 1, 2, 3.
	ListExpr string
	// Language facts for the identity round trip.
	BytesRoundTrip bool // []byte comes back as []byte (else as a string)
	FloatsKeepKind bool // 1.0 comes back as a float (else as an integer)
	HugeInts       bool // integers beyond int64 round-trip exactly
}

var languages = map[string]*lang{}

func register(l *lang) {
	if l.Label == "" {
		l.Label = l.Name
	}
	languages[l.Label] = l
}

func eachLang(t *testing.T, f func(t *testing.T, l *lang)) {
	var names []string
	for n := range languages {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		l := languages[n]
		t.Run(n, func(t *testing.T) {
			if _, err := exec.LookPath(l.Interpreter); err != nil {
				t.Fatalf("%s interpreter %q not installed: %v (.ci/run installs it)", l.Label, l.Interpreter, err)
			}
			if l.Setup != nil {
				l.Setup(t)
			}
			f(t, l)
		})
	}
}

var errGoFail = errors.New("go-fail-123")

// openLang opens a bond for l with the standard exports and definitions.
func openLang(t *testing.T, l *lang, out *testenv.Buffer) *bond.Bond {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := &bond.Options{}
	if l.Options != nil {
		opts = l.Options()
	}
	opts.GracePeriod = 2 * time.Second
	if out != nil {
		opts.Stdout, opts.Stderr = out, out
	}
	b, err := bond.Open(ctx, l.Name, opts)
	if err != nil {
		t.Fatalf("open %s: %v", l.Label, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	exports := map[string]bond.Func{
		"go_mark": func(ctx context.Context, args []any) (any, error) {
			if out != nil {
				_, _ = out.Write([]byte("[mark]\n"))
			}
			return nil, nil
		},
		"go_down": func(ctx context.Context, args []any) (any, error) {
			return b.Call(ctx, "sb_down", args...)
		},
		"go_fail": func(ctx context.Context, args []any) (any, error) {
			return nil, fmt.Errorf("exported: %w", errGoFail)
		},
	}
	for name, fn := range exports {
		if err := b.Export(ctx, name, fn); err != nil {
			t.Fatalf("export %s: %v", name, err)
		}
	}
	if err := b.EvalBlock(ctx, l.Define); err != nil {
		t.Fatalf("define %s snippets: %v", l.Label, err)
	}
	return b
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustCall(t *testing.T, b *bond.Bond, name string, args ...any) any {
	t.Helper()
	v, err := b.Call(ctxT(t), name, args...)
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return v
}

// alive asserts that the bond still answers.
func alive(t *testing.T, b *bond.Bond) {
	t.Helper()
	if v := mustCall(t, b, "sb_add", 20, 22); !sameValue(v, int64(42)) {
		t.Fatalf("bond not usable afterwards: sb_add(20, 22) = %#v", v)
	}
}

func sameValue(a, b any) bool {
	if x, ok := a.(*big.Int); ok {
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !sameValue(x[k], y[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func bigInt(s string) *big.Int {
	n, _ := new(big.Int).SetString(s, 10)
	return n
}

type conformanceCase struct {
	name string
	run  func(t *testing.T, l *lang)
}

func TestConformance(t *testing.T) {
	for _, c := range conformanceCases {
		t.Run(c.name, func(t *testing.T) {
			eachLang(t, c.run)
		})
	}
}

var conformanceCases = []conformanceCase{
	{"open_close", caseOpenClose},
	{"identity_round_trip", caseIdentity},
	{"eval_block_state", func(t *testing.T, l *lang) {
		b := openLang(t, l, nil)
		for want := int64(1); want <= 3; want++ {
			if v := mustCall(t, b, "sb_counter"); !sameValue(v, want) {
				t.Fatalf("sb_counter() = %#v, want %d", v, want)
			}
		}
	}},
	{"call_0_to_n_args", func(t *testing.T, l *lang) {
		b := openLang(t, l, nil)
		f := b.Callable("sb_nargs")
		for n := 0; n <= 6; n++ {
			args := make([]any, n)
			for i := range args {
				args[i] = i
			}
			v, err := f(ctxT(t), args...)
			if err != nil || !sameValue(v, int64(n)) {
				t.Fatalf("sb_nargs with %d args = %#v, %v", n, v, err)
			}
		}
		add := bond.CallableAs[int](b, "sb_add")
		if v, err := add(ctxT(t), 2, 3); err != nil || v != 5 {
			t.Fatalf("typed sb_add(2, 3) = %v, %v", v, err)
		}
	}},
	{"export_recursion_200", func(t *testing.T, l *lang) {
		b := openLang(t, l, nil)
		v, err := bond.CallAs[int](ctxT(t), b, "sb_down", 200)
		if err != nil || v != 200 {
			t.Fatalf("sb_down(200) = %v, %v", v, err)
		}
	}},
	{"proxy_same_language", func(t *testing.T, l *lang) {
		b1, b2 := openLang(t, l, nil), openLang(t, l, nil)
		if err := b1.Proxy(ctxT(t), "sb_counter", b2, "px_counter"); err != nil {
			t.Fatal(err)
		}
		mustCall(t, b1, "sb_counter") // b1's counter is now 1
		if v := mustCall(t, b2, "px_counter"); !sameValue(v, int64(2)) {
			t.Fatalf("px_counter() in the second bond = %#v, want 2 (the first bond's state)", v)
		}
	}},
	{"ref_immediate_argument", func(t *testing.T, l *lang) {
		b := openLang(t, l, nil)
		if v := mustCall(t, b, "sb_len", bond.NewRef(l.ListExpr)); !sameValue(v, int64(3)) {
			t.Fatalf("sb_len(ref %s) = %#v, want 3", l.ListExpr, v)
		}
	}},
	{"remote_exception", func(t *testing.T, l *lang) {
		b := openLang(t, l, nil)
		_, err := b.Call(ctxT(t), "sb_fail", "boom-77")
		var re *bond.RemoteError
		if !errors.As(err, &re) || !errors.Is(err, bond.ErrRemote) {
			t.Fatalf("sb_fail: got %v, want a *RemoteError", err)
		}
		if re.Type != l.FailType || !strings.Contains(re.Message, "boom-77") || re.Language != l.Name {
			t.Fatalf("RemoteError = %+v, want type %q with message boom-77", re, l.FailType)
		}
		alive(t, b)
	}},
	{"syntax_errors", func(t *testing.T, l *lang) {
		b := openLang(t, l, nil)
		if _, err := b.Eval(ctxT(t), l.SyntaxErrorExpr); !errors.Is(err, bond.ErrRemote) {
			t.Fatalf("eval %q: got %v, want a remote error", l.SyntaxErrorExpr, err)
		}
		if err := b.EvalBlock(ctxT(t), l.SyntaxErrorBlock); !errors.Is(err, bond.ErrRemote) {
			t.Fatalf("eval block %q: got %v, want a remote error", l.SyntaxErrorBlock, err)
		}
		alive(t, b)
	}},
	{"go_error_into_interpreter", func(t *testing.T, l *lang) {
		b := openLang(t, l, nil)
		v := mustCall(t, b, "sb_catch")
		if s, _ := v.(string); !strings.Contains(s, "go-fail-123") {
			t.Fatalf("sb_catch() = %#v, want the Go error's message", v)
		}
		_, err := b.Call(ctxT(t), "go_fail")
		if !errors.Is(err, bond.ErrRemote) || !errors.Is(err, errGoFail) {
			t.Fatalf("uncaught Go error: got %v, want a RemoteError whose cause is the Go error", err)
		}
		alive(t, b)
	}},
	{"serialization_errors", caseSerialization},
	{"output_in_order", func(t *testing.T, l *lang) {
		out := &testenv.Buffer{}
		b := openLang(t, l, out)
		mustCall(t, b, "sb_print")
		if got, want := out.String(), "o1\ne1\n[mark]\no2\n"; got != want {
			t.Fatalf("output = %q, want %q", got, want)
		}
	}},
	{"megabyte_argument_and_result", func(t *testing.T, l *lang) {
		b := openLang(t, l, nil)
		big := strings.Repeat("é", 1<<19) // 1 MiB of UTF-8
		if v := mustCall(t, b, "sb_identity", big); v != big {
			t.Fatalf("1 MiB identity differs (len %d)", len(fmt.Sprint(v)))
		}
		if v := mustCall(t, b, "sb_big", 1<<20); v != strings.Repeat("x", 1<<20) {
			t.Fatalf("sb_big(1 MiB) differs")
		}
	}},
	{"cancel_interrupts_and_bond_survives", func(t *testing.T, l *lang) {
		b := openLang(t, l, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := b.Call(ctx, "sb_sleep", 30)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("sb_sleep(30) with a deadline: got %v", err)
		}
		if b.Err() != nil {
			t.Fatalf("bond broken after an interrupt: %v", b.Err())
		}
		alive(t, b)
	}},
	{"exit_mid_call", func(t *testing.T, l *lang) {
		b := openLang(t, l, nil)
		_, err := b.Call(ctxT(t), "sb_exit", 3)
		var ee *bond.ExitError
		if !errors.Is(err, bond.ErrTerminated) || !errors.As(err, &ee) {
			t.Fatalf("sb_exit(3): got %v, want ErrTerminated", err)
		}
		var xe *exec.ExitError
		if !errors.As(err, &xe) || xe.ExitCode() != 3 {
			t.Fatalf("sb_exit(3): exit status not carried: %v", err)
		}
		if _, err := b.Call(ctxT(t), "sb_add", 1, 2); !errors.Is(err, bond.ErrTerminated) {
			t.Fatalf("call after exit: got %v, want ErrTerminated", err)
		}
	}},
	{"killed_mid_call", func(t *testing.T, l *lang) {
		b := openLang(t, l, nil)
		done := make(chan error, 1)
		go func() {
			_, err := b.Call(ctxT(t), "sb_sleep", 30)
			done <- err
		}()
		time.Sleep(200 * time.Millisecond) // let the call start; correctness does not depend on it
		if err := syscall.Kill(b.Pid(), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, bond.ErrTerminated) {
				t.Fatalf("killed mid-call: got %v, want ErrTerminated", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("call did not return after the interpreter was killed")
		}
	}},
	{"interact", func(t *testing.T, l *lang) {
		b := openLang(t, l, nil)
		var out strings.Builder
		in := strings.NewReader("!6*7\n!sb_add(40, 2) + 1\n!sb_fail(\"repl-boom\")\n!sb_counter()\n")
		if err := b.Interact(ctxT(t), in, &out); err != nil {
			t.Fatalf("Interact: %v", err)
		}
		for _, want := range []string{"42\n", "43\n", "repl-boom", "1\n"} {
			if !strings.Contains(out.String(), want) {
				t.Fatalf("REPL output lacks %q:\n%s", want, out.String())
			}
		}
		alive(t, b)
	}},
	{"concurrent_goroutines", func(t *testing.T, l *lang) {
		b := openLang(t, l, nil)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 25; i++ {
					v, err := bond.CallAs[int](ctxT(t), b, "sb_add", g*1000, i)
					if err != nil || v != g*1000+i {
						errs <- fmt.Errorf("goroutine %d call %d: %v, %v", g, i, v, err)
						return
					}
				}
			}(g)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}},
}

func caseOpenClose(t *testing.T, l *lang) {
	b := openLang(t, l, nil)
	if b.Info() == "" || b.Language() != l.Name {
		t.Fatalf("Info %q, Language %q", b.Info(), b.Language())
	}
	pid := b.Pid()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("interpreter %d still exists after Close (kill 0: %v)", pid, err)
	}
	if _, err := b.Eval(ctxT(t), "1"); !errors.Is(err, bond.ErrClosed) {
		t.Fatalf("eval after Close: got %v, want ErrClosed", err)
	}
}

func caseIdentity(t *testing.T, l *lang) {
	b := openLang(t, l, nil)
	type rt struct {
		name      string
		in, want  any
		condition bool
	}
	float := any(1.0)
	if !l.FloatsKeepKind {
		float = int64(1)
	}
	bytesWant := any([]byte{0, 1, 2, 255})
	if !l.BytesRoundTrip {
		bytesWant = nil // checked separately below
	}
	cases := []rt{
		{"null", nil, nil, true},
		{"true", true, true, true},
		{"false", false, false, true},
		{"zero", 0, int64(0), true},
		{"negative", -17, int64(-17), true},
		{"2^53+1", int64(1<<53 + 1), int64(1<<53 + 1), true},
		{"int64 max", int64(math.MaxInt64), int64(math.MaxInt64), true},
		{"2^64+1", bigInt("18446744073709551617"), bigInt("18446744073709551617"), l.HugeInts},
		{"-2^70", bigInt("-1180591620717411303424"), bigInt("-1180591620717411303424"), l.HugeInts},
		{"float", 1.5, 1.5, true},
		{"float -0.25e-10", -0.25e-10, -0.25e-10, true},
		{"integral float", 1.0, float, true},
		{"empty string", "", "", true},
		{"digit string stays a string", "1", "1", true},
		{"unicode", "é ☃ 𝄞 \u2028 \x00 \"\\", "é ☃ 𝄞 \u2028 \x00 \"\\", true},
		{"empty list", []any{}, []any{}, true},
		{"empty map", map[string]any{}, map[string]any{}, true},
		{"nested", map[string]any{"a": []any{int64(1), "b", map[string]any{"c": nil}}, "d": true},
			map[string]any{"a": []any{int64(1), "b", map[string]any{"c": nil}}, "d": true}, true},
		{"dollar key map", map[string]any{"$bytes": "x"}, map[string]any{"$bytes": "x"}, true},
		{"bytes", []byte{0, 1, 2, 255}, bytesWant, l.BytesRoundTrip},
	}
	for _, c := range cases {
		if !c.condition {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			v := mustCall(t, b, "sb_identity", c.in)
			if !sameValue(v, c.want) {
				t.Fatalf("identity(%#v) = %#v (%T), want %#v (%T)", c.in, v, v, c.want, c.want)
			}
		})
	}
	if !l.BytesRoundTrip {
		v := mustCall(t, b, "sb_identity", []byte("plain ascii"))
		if v != "plain ascii" && !reflect.DeepEqual(v, []byte("plain ascii")) {
			t.Fatalf("identity(bytes) = %#v, want the same bytes back as bytes or string", v)
		}
	}
}

func caseSerialization(t *testing.T, l *lang) {
	b := openLang(t, l, nil)
	var se *bond.SerializationError
	_, err := b.Call(ctxT(t), "sb_bad")
	if !errors.As(err, &se) || se.Side != bond.Remote {
		t.Fatalf("sb_bad(): got %v, want a remote SerializationError", err)
	}
	alive(t, b)
	if _, err := b.Eval(ctxT(t), l.NaNExpr); !errors.As(err, &se) || se.Side != bond.Remote {
		t.Fatalf("eval NaN: got %v, want a remote SerializationError", err)
	}
	alive(t, b)
	for name, arg := range map[string]any{
		"NaN":          math.NaN(),
		"Inf":          math.Inf(-1),
		"invalid UTF8": "\xff\xfe",
		"int keys":     map[int]int{1: 2},
		"channel":      make(chan int),
	} {
		_, err := b.Call(ctxT(t), "sb_identity", arg)
		if !errors.As(err, &se) || se.Side != bond.Local {
			t.Fatalf("identity(%s): got %v, want a local SerializationError", name, err)
		}
	}
	alive(t, b)
}

func TestCrossLanguageProxy(t *testing.T) {
	var names []string
	for n, l := range languages {
		if l.Label == l.Name { // one variant per language
			names = append(names, n)
		}
	}
	sort.Strings(names)
	bonds := map[string]*bond.Bond{}
	for _, n := range names {
		bonds[n] = openLang(t, languages[n], nil)
	}
	for _, from := range names {
		for _, to := range names {
			if from == to {
				continue
			}
			t.Run(from+"_into_"+to, func(t *testing.T) {
				name := "px_" + from
				if err := bonds[from].Proxy(ctxT(t), "sb_add", bonds[to], name); err != nil {
					t.Fatal(err)
				}
				v, err := bond.CallAs[int](ctxT(t), bonds[to], name, 40, 2)
				if err != nil || v != 42 {
					t.Fatalf("%s's sb_add called from %s = %v, %v", from, to, v, err)
				}
			})
		}
	}
}
