package drivers_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/drivers"
	"github.com/sandbond/sandbond/internal/testenv"
)

// The PHP driver's standard error stream for ordered output is
// SANDBOND_STDERR: STDERR is the raw descriptor 2, which reaches the host's
// writer unordered with respect to protocol messages.
const phpDefine = `
$_sb_count = 0;

function sb_identity($x) { return $x; }

function sb_add($a, $b) { return $a + $b; }

function sb_nargs(...$args) { return count($args); }

function sb_counter() {
    global $_sb_count;
    return ++$_sb_count;
}

function sb_fail($msg) { throw new InvalidArgumentException($msg); }

function sb_print() {
    echo "o1\n";
    fwrite(SANDBOND_STDERR, "e1\n");
    go_mark();
    print("o2\n");
    return 1;
}

function sb_down($n) { return $n == 0 ? 0 : go_down($n - 1) + 1; }

function sb_catch() {
    try {
        go_fail();
    } catch (Exception $e) {
        return $e->getMessage();
    }
    return "no exception";
}

function sb_len($x) { return is_string($x) ? strlen($x) : count($x); }

function sb_sleep($s) {
    usleep((int)($s * 1000000));
    return $s;
}

function sb_exit($code) { exit($code); }

function sb_big($n) { return str_repeat("x", $n); }

function sb_bad() { return function () {}; }
`

func phpLang(label string, opts func() *bond.Options) *lang {
	return &lang{
		Name: "php", Label: label, Options: opts, Interpreter: "php",
		Define:           phpDefine,
		FailType:         "InvalidArgumentException",
		SyntaxErrorExpr:  "1 +",
		SyntaxErrorBlock: "function broken( {",
		NaNExpr:          "NAN",
		ListExpr:         "[1, 2, 3]",
		BytesRoundTrip:   false, // PHP strings are bytes; invalid UTF-8 cannot go back (Sandbond\Bytes can)
		FloatsKeepKind:   true,
		HugeInts:         false, // integers beyond int64 become floats in PHP
	}
}

// The PHP variants: "php" and "php-stdio" start with the driver's local
// start (stage 2 from opcache's file cache, built first by Setup);
// "php-source" with the source, as a sandboxed or remote PHP does.
func init() {
	register(withSetup(phpLang("php", nil), prepareLocalPHP))
	register(withSetup(phpLang("php-stdio", func() *bond.Options {
		return &bond.Options{Channel: bond.ChannelStdio}
	}), prepareLocalPHP))
	register(phpLang("php-source", func() *bond.Options {
		d, err := drivers.Lookup("php")
		if err != nil {
			panic(err)
		}
		d.Local = nil
		return &bond.Options{Driver: d}
	}))
}

func withSetup(l *lang, setup func(t *testing.T)) *lang {
	l.Setup = setup
	return l
}

// prepareLocalPHP builds the PHP driver's local start and fails the test
// when there is none, so that the variants that use it cannot quietly run
// the source instead.
func prepareLocalPHP(t *testing.T) {
	t.Helper()
	d, err := drivers.Lookup("php")
	if err != nil {
		t.Fatal(err)
	}
	interp, err := d.ResolveInterpreter(ctxT(t), d.Command)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Prepare(ctxT(t), interp); err != nil {
		t.Fatal(err)
	}
	if d.LocalStartFor(ctxT(t), interp) == nil {
		t.Fatal("no local start after Prepare")
	}
}

func openPHP(t *testing.T, opts *bond.Options) *bond.Bond {
	t.Helper()
	if opts == nil {
		opts = &bond.Options{}
	}
	if opts.GracePeriod == 0 {
		opts.GracePeriod = 2 * time.Second
	}
	b, err := bond.Open(ctxT(t), "php", opts)
	if err != nil {
		t.Fatalf("open php: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func remoteErr(t *testing.T, err error) *bond.RemoteError {
	t.Helper()
	var re *bond.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a *RemoteError", err)
	}
	return re
}

func TestPHPThrowablesAreRemoteErrors(t *testing.T) {
	b := openPHP(t, nil)
	ctx := ctxT(t)
	for _, c := range []struct{ code, typ, msg string }{
		{"1 +", "ParseError", "syntax error"},
		{"strlen([])", "TypeError", "must be of type string"},
		{"intdiv(1, 0)", "DivisionByZeroError", "Division by zero"},
		{"no_such_function_at_all()", "Error", "Call to undefined function"},
		{"throw new RuntimeException('rt')", "RuntimeException", "rt"},
	} {
		_, err := b.Eval(ctx, c.code)
		re := remoteErr(t, err)
		if re.Type != c.typ || !strings.Contains(re.Message, c.msg) || re.Language != "php" {
			t.Errorf("eval %q: %+v, want type %s with %q", c.code, re, c.typ, c.msg)
		}
		if re.Traceback == "" {
			t.Errorf("eval %q: no traceback", c.code)
		}
	}
	if err := b.EvalBlock(ctx, "function ok_then() { return 1; }\nfunction ( {"); !errors.Is(err, bond.ErrRemote) {
		t.Fatalf("block with a parse error: %v", err)
	}
	if v, err := b.Eval(ctx, "1 + 1;"); err != nil || !sameValue(v, int64(2)) {
		t.Fatalf("bond not usable after errors: %v, %v", v, err)
	}
}

func TestPHPWarningsGoToStderr(t *testing.T) {
	var stdout, stderr testenv.Buffer
	b := openPHP(t, &bond.Options{Stdout: &stdout, Stderr: &stderr})
	ctx := ctxT(t)
	v, err := b.Eval(ctx, `(function () { echo "before\n"; $r = $undefined_thing ?? 7; $q = $really_undefined; `+
		`trigger_error("my deprecation", E_USER_DEPRECATED); $s = @file_get_contents("/nonexistent/x"); `+
		`echo "after\n"; return [$r, $q, $s, error_get_last()["message"] ?? ""]; })()`)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := v.([]any)
	if len(list) != 4 || !sameValue(list[0], int64(7)) || list[1] != nil || list[2] != false ||
		!strings.Contains(list[3].(string), "No such file") {
		t.Fatalf("value = %#v", v)
	}
	if got := stdout.String(); got != "before\nafter\n" {
		t.Errorf("stdout = %q", got)
	}
	errs := stderr.String()
	for _, want := range []string{"Warning:  Undefined variable $really_undefined", "Deprecated:  my deprecation"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr %q lacks %q", errs, want)
		}
	}
	if strings.Contains(errs, "nonexistent") {
		t.Errorf("a warning silenced with @ was printed: %q", errs)
	}
	if v, err := b.Eval(ctx, "6 * 7"); err != nil || !sameValue(v, int64(42)) {
		t.Fatalf("bond not usable afterwards: %#v, %v", v, err)
	}
}

func TestPHPFatalErrorTerminates(t *testing.T) {
	for name, code := range map[string]string{
		"redeclare": "function sb_twice() {}\nfunction sb_twice() {}",
		"memory":    "ini_set('memory_limit', '16M'); $big = str_repeat('x', 64 << 20);",
		"user":      "trigger_error('user fatal', E_USER_ERROR);",
	} {
		t.Run(name, func(t *testing.T) {
			b := openPHP(t, nil)
			err := b.EvalBlock(ctxT(t), code)
			var ee *bond.ExitError
			if !errors.Is(err, bond.ErrTerminated) || !errors.As(err, &ee) {
				t.Fatalf("got %v, want ErrTerminated", err)
			}
			want := map[string]string{"redeclare": "Cannot redeclare", "memory": "Allowed memory size", "user": "user fatal"}[name]
			if !strings.Contains(ee.Stderr, want) || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q (stderr %q) lacks PHP's message %q", err, ee.Stderr, want)
			}
		})
	}
}

func TestPHPCallNames(t *testing.T) {
	b := openPHP(t, nil)
	ctx := ctxT(t)
	if err := b.EvalBlock(ctx, `<?php
class SbK {
    public $n = 5;
    static function twice($x) { return 2 * $x; }
    function plus($a) { return $this->n + $a; }
}
$sbk = new SbK;
$sbf = fn($x) => $x * 3;
`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []any
		want any
	}{
		{"explode", []any{",", "a,b,c"}, []any{"a", "b", "c"}},
		{`\str_repeat`, []any{"ab", 2}, "abab"},
		{"SbK::twice", []any{4}, int64(8)},
		{"$sbf", []any{5}, int64(15)},
		{"[$sbk, 'plus']", []any{1}, int64(6)},
		{"$sbk->plus(...)", []any{2}, int64(7)},
		{"fn($a, $b) => $a . $b", []any{"x", "y"}, "xy"},
		{"'strtoupper'", []any{"abc"}, "ABC"},
		{"strlen", []any{bond.NewRef("'four'")}, int64(4)},
		{"$sbf", []any{bond.NewRef("$sbk->n")}, int64(15)},
	} {
		v, err := b.Call(ctx, c.name, c.args...)
		if err != nil || !sameValue(v, c.want) {
			t.Errorf("call %s%v = %#v, %v; want %#v", c.name, c.args, v, err, c.want)
		}
	}
	for _, name := range []string{"echo", "isset", "print", "empty"} {
		_, err := b.Call(ctx, name, "x")
		if re := remoteErr(t, err); !strings.Contains(re.Message, "language construct") {
			t.Errorf("call %s: %+v, want a clear message", name, re)
		}
	}
	_, err := b.Call(ctx, "$sbk", 1)
	if re := remoteErr(t, err); re.Type != "TypeError" || !strings.Contains(re.Message, "not callable") {
		t.Errorf("call of a non-callable: %+v", re)
	}
	if v, err := b.Call(ctx, "max", 1, 2); err != nil || !sameValue(v, int64(2)) {
		t.Fatalf("bond not usable afterwards: %#v, %v", v, err)
	}
}

func TestPHPGlobalsPersist(t *testing.T) {
	b := openPHP(t, nil)
	ctx := ctxT(t)
	if err := b.Export(ctx, "go_nested", func(ctx context.Context, args []any) (any, error) {
		// a nested request: runs in the emulated global scope
		if err := b.EvalBlock(ctx, "$y = $x + 10; $x = 100; unset($gone);"); err != nil {
			return nil, err
		}
		return b.Eval(ctx, "$y")
	}); err != nil {
		t.Fatal(err)
	}
	steps := []string{"$x = 1;", "$x += 1", "$gone = 'here';", "$ny = go_nested(); $seen = [$x, isset($gone), $y];"}
	for _, s := range steps {
		if err := b.EvalBlock(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	v, err := b.Eval(ctx, "[$ny, $seen, $x, isset($gone)]")
	want := []any{int64(12), []any{int64(100), false, int64(12)}, int64(100), false}
	if err != nil || !sameValue(v, want) {
		t.Fatalf("globals = %#v, %v; want %#v", v, err, want)
	}
	if v, err := b.Call(ctx, "sb_g"); err == nil {
		t.Fatalf("undefined function: got %#v", v)
	}
	if err := b.EvalBlock(ctx, "function sb_g() { global $x; return $x; }"); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Call(ctx, "sb_g"); err != nil || !sameValue(v, int64(100)) {
		t.Fatalf("sb_g() = %#v, %v", v, err)
	}
}

func TestPHPValues(t *testing.T) {
	b := openPHP(t, nil)
	ctx := ctxT(t)
	for _, c := range []struct {
		code string
		want any
	}{
		{"[]", []any{}},
		{"new stdClass", map[string]any{}},
		{"new ArrayObject([1, 2])", map[string]any{"0": int64(1), "1": int64(2)}},
		{"['a' => 1, 5 => [true, null]]", map[string]any{"a": int64(1), "5": []any{true, nil}}},
		{"[1 => 'a', 0 => 'b']", map[string]any{"1": "a", "0": "b"}},
		{"['$x' => 1]", map[string]any{"$x": int64(1)}},
		{"['$$y' => ['$bytes' => 'x']]", map[string]any{"$$y": map[string]any{"$bytes": "x"}}},
		{"new Sandbond\\Bytes(\"\\x00\\xff\")", []byte{0, 255}},
		{"1.0", 1.0},
		{"-0.0", math.Copysign(0, -1)},
		{"1e300", 1e300},
		{"PHP_INT_MAX", int64(math.MaxInt64)},
		{"PHP_INT_MIN", int64(math.MinInt64)},
		{"\"é\\u{1D11E}\\u{2028}\"", "é\U0001D11E\u2028"},
	} {
		v, err := b.Eval(ctx, c.code)
		if err != nil || !sameValue(v, c.want) {
			t.Errorf("eval %s = %#v (%T), %v; want %#v", c.code, v, v, err, c.want)
		}
	}
	for _, code := range []string{`"\xff"`, "INF", "fopen('php://memory', 'r')", "new DateTime()", `["k\xff" => 1]`, "[[NAN]]"} {
		_, err := b.Eval(ctx, code)
		var se *bond.SerializationError
		if !errors.As(err, &se) || se.Side != bond.Remote {
			t.Errorf("eval %s: got %v, want a remote SerializationError", code, err)
		}
	}
	// what comes in: an empty map stays a map, $bytes is a string, a
	// map with keys 0..n-1 becomes a list (PHP's nature)
	v, err := b.Call(ctx, "fn($a) => [gettype($a[0]), get_debug_type($a[1]), $a[2], $a[3]]",
		[]any{map[string]any{}, []byte("bin"), map[string]any{"0": "z"}, map[string]any{"$$k": 1}})
	want := []any{"object", "string", []any{"z"}, map[string]any{"$$k": int64(1)}}
	if err != nil || !sameValue(v, want) {
		t.Fatalf("incoming values = %#v, %v; want %#v", v, err, want)
	}
	if v, err := b.Call(ctx, "fn($a) => [count($a), $a instanceof ArrayObject]", map[string]any{}); err != nil ||
		!sameValue(v, []any{int64(0), true}) {
		t.Fatalf("empty map = %#v, %v", v, err)
	}
	// a key starting with NUL cannot be a PHP property: still a map
	nul := map[string]any{"\x00k": int64(1), "$": "d"}
	if v, err := b.Call(ctx, "fn($x) => $x", nul); err != nil || !sameValue(v, nul) {
		t.Fatalf("NUL key = %#v, %v", v, err)
	}
	nulTagged := []any{map[string]any{"\x00k": []byte("b")}, map[string]any{}}
	if v, err := b.Call(ctx, "fn($x) => $x", nulTagged...); err != nil || !sameValue(v, map[string]any{"\x00k": "b"}) {
		t.Fatalf("NUL key with tags = %#v, %v", v, err)
	}
	// deeper than PHP's JSON parser goes: a serialization error, both ways
	var deep any = int64(1)
	for i := 0; i < 3000; i++ {
		deep = map[string]any{"a": deep}
	}
	var se *bond.SerializationError
	if _, err := b.Call(ctx, "sb_nothing", deep); !errors.As(err, &se) || se.Side != bond.Remote {
		t.Fatalf("3000 nested maps: got %v, want a remote SerializationError", err)
	}
	if err := b.Export(ctx, "go_deep", func(ctx context.Context, args []any) (any, error) { return deep, nil }); err != nil {
		t.Fatal(err)
	}
	v, err = b.Eval(ctx, `(function () { try { go_deep(); } catch (Sandbond\SerializationError $e) { return "caught"; } })()`)
	if err != nil || v != "caught" {
		t.Fatalf("deep reply from Go: %#v, %v", v, err)
	}
	// a long line, far beyond PHP's 8 KiB read chunks
	long := strings.Repeat("0123456789", 100_000)
	if v, err := b.Call(ctx, "strrev", long); err != nil || v != reverse(long) {
		t.Fatalf("long line: %v", err)
	}
}

func reverse(s string) string {
	r := []byte(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

func TestPHPHostErrorIsCatchable(t *testing.T) {
	b := openPHP(t, nil)
	ctx := ctxT(t)
	if err := b.Export(ctx, "go_fail", func(ctx context.Context, args []any) (any, error) {
		return nil, errGoFail
	}); err != nil {
		t.Fatal(err)
	}
	v, err := b.Eval(ctx, `(function () { try { go_fail(1); } catch (Sandbond\HostError $e) { `+
		`return [get_class($e), $e->getMessage(), $e->goType]; } })()`)
	if err != nil || !sameValue(v, []any{"Sandbond\\HostError", "go-fail-123", "GoError"}) {
		t.Fatalf("caught = %#v, %v", v, err)
	}
	// wrapped in another exception, the Go error is still found
	_, err = b.Eval(ctx, `(function () { try { go_fail(); } catch (Exception $e) { throw new LogicException("wrapped", 0, $e); } })()`)
	if re := remoteErr(t, err); re.Type != "LogicException" || !errors.Is(err, errGoFail) {
		t.Fatalf("wrapped host error: %+v (cause %v)", re, re.Cause)
	}
	// exporting the same name again is allowed; over a PHP function it is not
	if err := b.Export(ctx, "go_fail", func(ctx context.Context, args []any) (any, error) { return "again", nil }); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Call(ctx, "go_fail"); err != nil || v != "again" {
		t.Fatalf("re-exported go_fail() = %#v, %v", v, err)
	}
	if err := b.Export(ctx, "strlen", func(ctx context.Context, args []any) (any, error) { return nil, nil }); !errors.Is(err, bond.ErrRemote) {
		t.Fatalf("export over strlen: %v", err)
	}
	// arguments that cannot be sent raise in PHP
	v, err = b.Eval(ctx, `(function () { try { go_fail(fopen('php://memory', 'r')); } catch (Sandbond\SerializationError $e) { return $e->getMessage(); } })()`)
	if s, _ := v.(string); err != nil || !strings.Contains(s, "resource") {
		t.Fatalf("unsendable argument: %#v, %v", v, err)
	}
}

func TestPHPStdioCannotForgeReplies(t *testing.T) {
	var stdout, stderr testenv.Buffer
	b := openPHP(t, &bond.Options{Channel: bond.ChannelStdio, Stdout: &stdout, Stderr: &stderr})
	ctx := ctxT(t)
	forged := `{"op":"return","id":2,"value":"forged"}`
	if err := b.EvalBlock(ctx, "$forged = '"+forged+"' . \"\\n\";"); err != nil {
		t.Fatal(err)
	}
	// STDOUT is closed in stdio mode (its descriptor was freed): a TypeError
	_, err := b.Eval(ctx, "fwrite(STDOUT, $forged)")
	if re := remoteErr(t, err); re.Type != "TypeError" {
		t.Fatalf("fwrite(STDOUT): %+v", re)
	}
	for _, code := range []string{
		"file_put_contents('php://stdout', $forged)",
		"fwrite(fopen('php://fd/1', 'w'), $forged)",
		"pclose(popen('echo \\'" + forged + "\\'', 'w'))", // a child writing to its fd 1
	} {
		v, err := b.Eval(ctx, code)
		if err != nil || v == "forged" {
			t.Fatalf("%s = %#v, %v", code, v, err)
		}
	}
	if err := b.EvalBlock(ctx, `echo "printed\n";`); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Eval(ctx, "40 + 2"); err != nil || !sameValue(v, int64(42)) {
		t.Fatalf("after the attempts: %#v, %v", v, err)
	}
	_ = b.Close() // and wait for the stderr pipe to drain
	if got := strings.Count(stderr.String(), forged); got != 3 {
		t.Errorf("stderr has the forged line %d times, want 3: %q", got, stderr.String())
	}
	if got := stdout.String(); got != "printed\n" {
		t.Errorf("stdout = %q", got)
	}
}

func TestPHPInterrupts(t *testing.T) {
	var stdout testenv.Buffer
	b := openPHP(t, &bond.Options{Stdout: &stdout})
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := b.Eval(ctx, `(function () { while (true) { echo "spam\n"; } })()`)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || b.Err() != nil {
			t.Fatalf("round %d: %v (bond: %v)", i, err, b.Err())
		}
	}
	if err := b.EvalBlock(ctxT(t), `echo "END\n";`); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(stdout.String(), "\nEND\n") {
		t.Fatalf("output after interrupts ends with %q", tail(stdout.String(), 40))
	}
	// the interrupt is an \Error: catch (Exception) does not swallow it
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := b.Eval(ctx, `(function () { for (;;) { try { usleep(10000000); } catch (Exception $e) {} } })()`)
	if !errors.Is(err, context.DeadlineExceeded) || b.Err() != nil {
		t.Fatalf("interrupt through catch (Exception): %v (bond: %v)", err, b.Err())
	}
	// waiting for a child in stream_select (a blocking fgets would not be
	// interrupted: PHP retries a read cut short by a signal)
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = b.Eval(ctx, `(function () { $p = proc_open(['sleep', '30'], [1 => ['pipe', 'w']], $pipes); `+
		`$r = [$pipes[1]]; $w = $e = null; return stream_select($r, $w, $e, 60); })()`)
	if !errors.Is(err, context.DeadlineExceeded) || b.Err() != nil {
		t.Fatalf("interrupt of stream_select: %v (bond: %v)", err, b.Err())
	}
	// cancelled while PHP waits for Go, and PHP keeps calling Go
	if err := b.Export(ctxT(t), "go_wait", func(ctx context.Context, args []any) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, err = b.Eval(ctx, `(function () { for (;;) { try { go_wait(); } catch (Exception $e) {} } })()`)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || b.Err() != nil {
			t.Fatalf("interrupt while calling Go: %v (bond: %v)", err, b.Err())
		}
	}
	if v, err := b.Eval(ctxT(t), "'still here'"); err != nil || v != "still here" {
		t.Fatalf("after interrupts: %#v, %v", v, err)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func TestPHPDriverShape(t *testing.T) {
	d, err := drivers.Lookup("php")
	if err != nil {
		t.Fatal(err)
	}
	// stage 1 drops exactly the first five bytes of stage 2
	if !bytes.HasPrefix(d.Code, []byte("<?php\n")) {
		t.Fatal("php.php must begin with \"<?php\\n\"")
	}
	p, err := d.ResolveInterpreter(ctxT(t), d.Command)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(p)
	if err != nil || !filepath.IsAbs(p) || fi.Mode()&os.ModeSymlink != 0 {
		t.Fatalf("resolved %q (%v): want an absolute path that is not a link", p, err)
	}
}
