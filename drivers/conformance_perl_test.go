package drivers_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/internal/testenv"
)

const perlDefine = `
our $sb_count = 0;

sub sb_identity { return $_[0] }

sub sb_add { return $_[0] + $_[1] }

sub sb_nargs { return scalar(@_) }

sub sb_counter { return ++$sb_count }

sub sb_fail { die $_[0] }

sub sb_print {
    print "o1\n";
    print STDERR "e1\n";
    go_mark();
    print "o2\n";
    return 1;
}

sub sb_down {
    my ($n) = @_;
    return 0 if $n == 0;
    return go_down($n - 1) + 1;
}

sub sb_catch {
    eval { go_fail() };
    return $@ ? "$@" : "no exception";
}

sub sb_len {
    my ($x) = @_;
    return ref $x eq 'ARRAY' ? scalar(@$x) : length($x);
}

sub sb_sleep { sleep $_[0]; return $_[0] }

sub sb_exit { exit $_[0] }

sub sb_big { return "x" x $_[0] }

sub sb_bad { return sub { 1 } }
`

// hideJSONXS makes "require JSON::XS" fail, so the driver falls back to
// the core JSON::PP: a second -e line runs before stage 1.
var hideJSONXS = []string{"-e", `BEGIN{unshift@INC,sub{die"JSON::XS hidden by the test\n"if$_[1]eq"JSON/XS.pm";return}}`}

func perlLang(label string, opts func() *bond.Options) *lang {
	return &lang{
		Name: "perl", Label: label, Options: opts, Interpreter: "perl",
		Define:           perlDefine,
		FailType:         "die",
		SyntaxErrorExpr:  "1 +",
		SyntaxErrorBlock: "sub broken {",
		NaNExpr:          "9**9**9 - 9**9**9",
		ListExpr:         "[1, 2, 3]",
		BytesRoundTrip:   false,
		FloatsKeepKind:   false,
		HugeInts:         true,
	}
}

func init() {
	register(perlLang("perl", nil))
	register(perlLang("perl-jsonpp", func() *bond.Options {
		return &bond.Options{Args: hideJSONXS}
	}))
}

// -- Perl-specific behaviour -------------------------------------------------

func perlBond(t *testing.T, out *testenv.Buffer) *bond.Bond {
	t.Helper()
	if _, err := exec.LookPath("perl"); err != nil {
		t.Fatalf("perl not installed: %v (.ci/run installs it)", err)
	}
	return openLang(t, languages["perl"], out)
}

func mustEval(t *testing.T, b *bond.Bond, code string) any {
	t.Helper()
	v, err := b.Eval(ctxT(t), code)
	if err != nil {
		t.Fatalf("eval %q: %v", code, err)
	}
	return v
}

func mustBlock(t *testing.T, b *bond.Bond, code string) {
	t.Helper()
	if err := b.EvalBlock(ctxT(t), code); err != nil {
		t.Fatalf("eval block %q: %v", code, err)
	}
}

func list(xs ...any) []any { return xs }

func TestPerlListAndScalarContext(t *testing.T) {
	b := perlBond(t, nil)
	for _, c := range []struct {
		code string
		want any
	}{
		{"(1, 2, 3)", list(int64(1), int64(2), int64(3))},
		{"()", list()},
		{"42", int64(42)},
		{"undef", nil},
		{"(7)", int64(7)},       // a one-element list is its element
		{"[7]", list(int64(7))}, // a reference stays an array
		{"my @a = (4, 5, 6); @a", list(int64(4), int64(5), int64(6))}, // list context
		{"my @a = (4, 5, 6); scalar(@a)", int64(3)},                   // scalar context on request
		{"scalar(my @b = (1, 2))", int64(2)},
		{"wantarray ? 'list' : 'scalar'", "list"},
		{"scalar(localtime(0)) =~ /1970/ ? 1 : 0", int64(1)},
		{"{a => [1, {b => undef}]}", map[string]any{"a": list(int64(1), map[string]any{"b": nil})}},
	} {
		if v := mustEval(t, b, c.code); !sameValue(v, c.want) {
			t.Errorf("eval %q = %#v, want %#v", c.code, v, c.want)
		}
	}
	// Calls follow the same rule; "scalar NAME" asks for scalar context.
	mustBlock(t, b, `sub three { return (1, 2, 3) } sub none { return } sub ctx { wantarray ? "list" : "scalar" }`)
	for _, c := range []struct {
		name string
		args []any
		want any
	}{
		{"three", nil, list(int64(1), int64(2), int64(3))},
		{"scalar three", nil, int64(3)},
		{"none", nil, list()},
		{"ctx", nil, "list"},
		{"scalar ctx", nil, "scalar"},
		{"scalar reverse", list("ab", "cd"), "dcba"},
		{"reverse", list("ab", "cd"), list("cd", "ab")},
	} {
		if v := mustCall(t, b, c.name, c.args...); !sameValue(v, c.want) {
			t.Errorf("call %q%v = %#v, want %#v", c.name, c.args, v, c.want)
		}
	}
}

func TestPerlCallableForms(t *testing.T) {
	b := perlBond(t, nil)
	mustBlock(t, b, `
package Counter;
sub new { my ($class, $n) = @_; return bless { n => $n }, $class }
sub add { my ($self, $k) = @_; return $self->{n} + $k }
sub twice { return 2 * $_[0] }
package main;
use List::Util ();
our $obj = Counter->new(40);
our $ref = sub { return $_[0] * $_[1] };
our %h = (code => sub { "from a hash: @_" });
sub with_proto($$) { return $_[0] - $_[1] }
`)
	for _, c := range []struct {
		name string
		args []any
		want any
	}{
		{"map { $_ + 1 }", list(1, 2, 3), list(int64(2), int64(3), int64(4))},
		{"grep { $_ % 2 }", list(1, 2, 3, 4, 5), list(int64(1), int64(3), int64(5))},
		{"&$ref", list(6, 7), int64(42)},
		{"$ref->", list(6, 7), int64(42)},
		{"$h{code}->", list("x", "y"), "from a hash: x y"},
		{"$obj->add", list(2), int64(42)},
		{"Counter::twice", list(21), int64(42)},
		{"Counter->new(1)->add", list(41), int64(42)},
		{"List::Util::sum", list(10, 20, 12), int64(42)},
		{"List::Util::max", list(3, 42, 7), int64(42)},
		{"join", list("-", "a", "b", "c"), "a-b-c"},
		{"length", list("héllo"), int64(5)}, // builtins get their arguments one by one
		{"uc", list("abc"), "ABC"},
		{"sprintf", list("%05d|%s", 42, "x"), "00042|x"},
		{"with_proto", list(50, 8), int64(42)},
		{"sub { scalar(@_) }->", list(1, 2, 3), int64(3)},
	} {
		v, err := b.Call(ctxT(t), c.name, c.args...)
		if err != nil || !sameValue(v, c.want) {
			t.Errorf("call %q%v = %#v, %v; want %#v", c.name, c.args, v, err, c.want)
		}
	}
	// Many arguments (NAME(@_) beyond 32).
	args := make([]any, 100)
	for i := range args {
		args[i] = i
	}
	if v := mustCall(t, b, "List::Util::sum", args...); !sameValue(v, int64(4950)) {
		t.Errorf("sum of 0..99 = %#v", v)
	}
	// An object cannot cross the bond; a Ref passes it along instead.
	var se *bond.SerializationError
	if _, err := b.Call(ctxT(t), "Counter->new"); !errors.As(err, &se) || se.Type != "Counter" {
		t.Errorf("Counter->new: got %v, want a serialization error of type Counter", err)
	}
	if v := mustCall(t, b, "sub { $_[0]->add($_[1]) }->", bond.NewRef("Counter->new(30)"), 12); !sameValue(v, int64(42)) {
		t.Errorf("object by Ref = %#v", v)
	}
	// A name that does not compile, and one that does not exist.
	var re *bond.RemoteError
	if _, err := b.Call(ctxT(t), "no such )"); !errors.As(err, &re) || re.Type != "CompileError" {
		t.Errorf("bad name: got %v, want a CompileError", err)
	}
	if _, err := b.Call(ctxT(t), "no_such_function", 1); !errors.As(err, &re) || re.Type != "die" ||
		!strings.Contains(re.Message, "Undefined subroutine &main::no_such_function") {
		t.Errorf("missing function: got %v", err)
	}
	alive(t, b)
}

func TestPerlGlobalsPersist(t *testing.T) {
	b := perlBond(t, nil)
	mustBlock(t, b, `our $x = 40; $plain = 1; my $lexical = 5;`)
	mustBlock(t, b, `$x++; our $x; $x++; $plain++;`)
	if v := mustEval(t, b, "$x"); !sameValue(v, int64(42)) {
		t.Errorf("$x = %#v, want 42 (our persists)", v)
	}
	if v := mustEval(t, b, "$main::plain"); !sameValue(v, int64(2)) {
		t.Errorf("$plain = %#v, want 2", v)
	}
	if v := mustEval(t, b, "defined $lexical ? 1 : 0"); !sameValue(v, int64(0)) {
		t.Errorf("a my variable leaked into the next block: %#v", v)
	}
	// Blocks are not strict unless they ask; strict ends with the block.
	if _, err := b.Eval(ctxT(t), "use strict; $undeclared = 1"); err == nil {
		t.Error("use strict was not honoured")
	}
	mustBlock(t, b, "$undeclared = 1;")
	// The driver's own variables are invisible.
	if v := mustEval(t, b, "defined $JSON || defined $rbuf || defined $IN ? 1 : 0"); !sameValue(v, int64(0)) {
		t.Error("user code sees the driver's lexical variables")
	}
	// Code runs in package main.
	if v := mustEval(t, b, "__PACKAGE__"); v != "main" {
		t.Errorf("package = %#v", v)
	}
}

func TestPerlDieStringsAndObjects(t *testing.T) {
	b := perlBond(t, nil)
	mustBlock(t, b, `
package My::Error;
sub new { my ($class, %a) = @_; return bless {%a}, $class }
sub message { return $_[0]{message} }
package My::Plain;
package main;
`)
	var re *bond.RemoteError
	check := func(code, typ, msg, tb string) {
		t.Helper()
		_, err := b.Eval(ctxT(t), code)
		if !errors.As(err, &re) {
			t.Fatalf("eval %q: got %v, want a RemoteError", code, err)
		}
		okMsg := re.Message == msg || (typ == "CompileError" && strings.HasPrefix(re.Message, msg))
		if re.Type != typ || !okMsg || !strings.Contains(re.Traceback, tb) {
			t.Errorf("eval %q: type %q message %q traceback %q; want %q, %q, traceback with %q",
				code, re.Type, re.Message, re.Traceback, typ, msg, tb)
		}
	}
	check(`die "plain"`, "die", "plain", "plain at (eval ")
	check(`die "with newline\n"`, "die", "with newline", "with newline\n")
	check(`die "two\nlines\n"`, "die", "two\nlines", "two\nlines")
	check(`use Carp; Carp::croak("croaked")`, "die", "croaked", "croaked at ")
	check(`1 / 0`, "die", "Illegal division by zero", "Illegal division by zero at (eval ")
	check(`die My::Error->new(message => "object boom")`, "My::Error", "object boom", "")
	check(`die bless({message => "by field"}, "My::Plain")`, "My::Plain", "by field", "")
	check(`die {code => 7}`, "HASH", `{"code":7}`, "")
	check(`die [1, 2]`, "ARRAY", `[1,2]`, "")
	check(`1 +`, "CompileError", "syntax error at (eval ", "syntax error")
	check(`use No::Such::Module;`, "CompileError", "Can't locate No/Such/Module.pm", "")
	if err := b.EvalBlock(ctxT(t), "sub broken {"); !errors.As(err, &re) || re.Type != "CompileError" {
		t.Errorf("eval block with a syntax error: %v", err)
	}
	// Objects stay objects for Perl code that catches them.
	if v := mustEval(t, b, `eval { die My::Error->new(message => "x") }; ref $@`); v != "My::Error" {
		t.Errorf("caught object class = %#v", v)
	}
	alive(t, b)
}

func TestPerlHostErrors(t *testing.T) {
	b := perlBond(t, nil)
	v := mustEval(t, b, `eval { go_fail() }; my $e = $@; [ref $e, $e->message, $e->type, $e->token ne "" ? 1 : 0, "$e"]`)
	want := list("Sandbond::HostError", "exported: go-fail-123", "GoError", int64(1), "exported: go-fail-123")
	if !sameValue(v, want) {
		t.Fatalf("caught host error = %#v, want %#v", v, want)
	}
	// Rethrown, the error keeps its token and Go sees its own error again.
	_, err := b.Eval(ctxT(t), `eval { go_fail() }; die $@ if $@`)
	var re *bond.RemoteError
	if !errors.As(err, &re) || re.Type != "Sandbond::HostError" || !errors.Is(err, errGoFail) {
		t.Fatalf("rethrown host error: %v", err)
	}
	// An exported function called with something Go cannot take.
	_, err = b.Eval(ctxT(t), `go_mark(sub {})`)
	var se *bond.SerializationError
	if !errors.As(err, &se) || se.Side != bond.Remote || !strings.Contains(se.Message, "go_mark") {
		t.Fatalf("unserializable argument to an export: %v", err)
	}
	alive(t, b)
}

func TestPerlValues(t *testing.T) {
	b := perlBond(t, nil)
	mustBlock(t, b, `
package WithJSON; sub new { bless {v => $_[1]}, $_[0] } sub TO_JSON { return {value => $_[0]{v}} }
package main;
use Math::BigInt;
`)
	for _, c := range []struct {
		code string
		want any
	}{
		{`[\1, \0]`, list(true, false)},
		{`WithJSON->new(5)`, map[string]any{"value": int64(5)}},
		{`Math::BigInt->new("123456789012345678901234567890")`, bigInt("123456789012345678901234567890")},
		{`Math::BigInt->new("-5")`, int64(-5)},
		{`18446744073709551615`, bigInt("18446744073709551615")},
		{`[9223372036854775807, -9223372036854775807 - 1]`, list(int64(math.MaxInt64), int64(math.MinInt64))},
		{`{'$x' => 1}`, map[string]any{"$x": int64(1)}},
		{`{'$$y' => [{'$bytes' => 2}]}`, map[string]any{"$$y": list(map[string]any{"$bytes": int64(2)})}},
		{`["info", "a,inf", ":nan", "Infinity", "\x{D7FF}\x{E000}"]`, list("info", "a,inf", ":nan", "Infinity", "\uD7FF\uE000")},
		{`1.5`, 1.5},
		{`0 + "3"`, int64(3)},
		{`"3"`, "3"},
		{`my $n = 7; my $s = "$n"; $n`, "7"}, // JSON::XS: a number used as a string is a string
		{`my $n = 7; my $s = "$n"; 0 + $n`, int64(7)},
		{`"\x{1F600}"`, "\U0001F600"},
		{`my $s = "caf\xc3\xa9"; utf8::decode($s); $s`, "café"},
	} {
		if v := mustEval(t, b, c.code); !sameValue(v, c.want) {
			t.Errorf("eval %s = %#v (%T), want %#v", c.code, v, v, c.want)
		}
	}
	// Values coming in.
	mustBlock(t, b, `sub describe { my ($x) = @_; return ref($x) || (utf8::is_utf8($x) ? "chars" : "bytes") . ":" . length($x) }`)
	for _, c := range []struct {
		arg  any
		want string
	}{
		{[]byte{0, 1, 2, 255}, "bytes:4"},
		{"é☃", "chars:2"},
		{true, "JSON::PP::Boolean"},
		{bigInt("-1180591620717411303424"), "Math::BigInt"},
		{map[string]any{"$bytes": "x"}, "HASH"},
	} {
		if v := mustCall(t, b, "describe", c.arg); v != c.want {
			t.Errorf("describe(%#v) = %#v, want %q", c.arg, v, c.want)
		}
	}
	if v := mustCall(t, b, "sb_identity", []byte{'a', 0, 255}); v != "a\x00ÿ" {
		t.Errorf("bytes come back as %#v", v)
	}
	if v := mustCall(t, b, "sub { $_[0] ? 'yes' : 'no' }->", false); v != "no" {
		t.Errorf("false is true in Perl: %#v", v)
	}
	// What cannot travel.
	for _, code := range []string{
		`"\x{D800}"`, `["ok", {k => "\x{DFFF}"}]`, `"\x{110000}"`, `{"\x{D800}" => 1}`,
		`*STDOUT`, `\*STDOUT`, `sub {}`, `qr/x/`, `\\1`, `bless {}, "Nope"`,
		`9**9**9`, `-9**9**9`, `[1, 9**9**9 / 9**9**9]`, `Math::BigInt->binf`,
	} {
		var se *bond.SerializationError
		if _, err := b.Eval(ctxT(t), code); !errors.As(err, &se) || se.Side != bond.Remote {
			t.Errorf("eval %s: got %v, want a remote SerializationError", code, err)
		}
	}
	if _, err := b.Eval(ctxT(t), `my $a = []; push @$a, $a; $a`); err == nil {
		t.Errorf("a cyclic structure was sent")
	}
	alive(t, b)
}

func TestPerlJSONPPFallback(t *testing.T) {
	b := openLang(t, languages["perl-jsonpp"], nil)
	if !strings.Contains(b.Info(), "JSON::PP") {
		t.Fatalf("Info() = %q: JSON::XS was not hidden", b.Info())
	}
	for _, v := range []any{int64(1), "1", true, false, nil, 1.5, int64(math.MaxInt64), bigInt("18446744073709551617"),
		list(int64(1), "1", map[string]any{"$x": "y"}), "é ☃ 𝄞"} {
		if got := mustCall(t, b, "sb_identity", v); !sameValue(got, v) {
			t.Errorf("identity(%#v) = %#v (%T) with JSON::PP", v, got, got)
		}
	}
	var se *bond.SerializationError
	for _, code := range []string{`"\x{D800}"`, `"\x{110000}"`, `9**9**9`} {
		if _, err := b.Eval(ctxT(t), code); !errors.As(err, &se) {
			t.Errorf("eval %s with JSON::PP: got %v, want a SerializationError", code, err)
		}
	}
	if b2 := perlBond(t, nil); !strings.Contains(b2.Info(), "JSON::XS") {
		t.Errorf("Info() = %q, want JSON::XS by default", b2.Info())
	}
}

func TestPerl100KBArgumentIsFast(t *testing.T) {
	b := perlBond(t, nil)
	if !strings.Contains(b.Info(), "JSON::XS") {
		t.Fatalf("Info() = %q, want JSON::XS", b.Info())
	}
	arg := strings.Repeat("abcdéfgh\n", 100<<10/10)
	mustCall(t, b, "sb_len", arg) // warm up
	const n = 20
	start := time.Now()
	for i := 0; i < n; i++ {
		if v := mustCall(t, b, "sb_len", arg); !sameValue(v, int64(len([]rune(arg)))) {
			t.Fatalf("sb_len = %#v", v)
		}
	}
	per := time.Since(start) / n
	t.Logf("100 KB argument: %v per call", per)
	// python-bond took ~290 ms; JSON::PP ~20x longer than JSON::XS.
	if per > 25*time.Millisecond {
		t.Errorf("100 KB argument took %v per call", per)
	}
}

func TestPerlOutput(t *testing.T) {
	out := &testenv.Buffer{}
	b := perlBond(t, out)
	mustBlock(t, b, `
use feature 'say';
print "p1\n";
printf("%s-%03d\n", "pf", 7);
say "s1";
syswrite(STDOUT, "sw1\nignored", 4);
warn "w1\n";
warn "w2";
{ use warnings; my $u; my $x = "a" . $u; }
print STDERR "e1\n";
print "partial";
`)
	mustEval(t, b, "1")
	got := out.String()
	for _, want := range []string{"p1\npf-007\ns1\nsw1\n", "w1\n", "w2 at (eval ", "Use of uninitialized value $u", "e1\n", "partial"} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
	// Encodings: bytes are UTF-8, wide characters are written as UTF-8,
	// invalid bytes become U+FFFD, binmode :utf8 makes Latin-1 text UTF-8.
	out2 := &testenv.Buffer{}
	b2 := perlBond(t, out2)
	mustBlock(t, b2, `
print "caf\xc3\xa9 ", "bad\xff ";
print "\x{263a}\n";
binmode(STDOUT, ':utf8');
print "caf\xe9\n";
binmode(STDOUT);
print "x" x 9000, "\xe2\x98\xba", "y" x 9000, "\n";
print "z" x 8192, "\xe2";
print "\x98\xba!\n";
`)
	want := "café bad\uFFFD ☺\ncafé\n" + strings.Repeat("x", 9000) + "☺" + strings.Repeat("y", 9000) + "\n" +
		strings.Repeat("z", 8192) + "☺!\n"
	if got := out2.String(); got != want {
		t.Errorf("output = %q..., want %q...", got[:min(len(got), 40)], want[:40])
	}
}

func TestPerlStdioChannel(t *testing.T) {
	out := &testenv.Buffer{}
	b, err := bond.Open(ctxT(t), "perl", &bond.Options{Channel: bond.ChannelStdio, Stdout: out, Stderr: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	forged := `{"op":"return","id":2,"value":"forged"}` + "\n"
	mustBlock(t, b, `
use POSIX ();
our $forged = '{"op":"return","id":2,"value":"forged"}' . "\n";
sub forge {
    syswrite(STDOUT, $forged);
    print $forged;
    POSIX::write(1, $forged, length $forged);
    open(my $fh, '>&=', 1) or die; syswrite($fh, $forged); close $fh;
    system("echo", "-n", $forged);
    system("cat /dev/stdin");
    return "real";
}
`)
	for i := 0; i < 3; i++ {
		if v := mustCall(t, b, "forge"); v != "real" {
			t.Fatalf("forge() = %#v", v)
		}
	}
	if b.Err() != nil {
		t.Fatalf("bond broken: %v", b.Err())
	}
	if v := mustEval(t, b, "fileno(STDIN) . ':' . (-c STDIN ? 'chr' : 'other')"); v != "0:chr" {
		t.Errorf("stdin = %#v, want /dev/null", v)
	}
	if n := strings.Count(out.String(), forged); n < 3*5 {
		t.Errorf("forged lines seen as output %d times, want >= 15: %q", n, out.String())
	}
	if v := mustEval(t, b, "40 + 2"); !sameValue(v, int64(42)) {
		t.Fatalf("bond not usable: %#v", v)
	}
}

func TestPerlRecursionWithWarnings(t *testing.T) {
	l := *languages["perl"]
	l.Options = func() *bond.Options { return &bond.Options{Args: []string{"-w"}} }
	out := &testenv.Buffer{}
	b := openLang(t, &l, out)
	v, err := bond.CallAs[int](ctxT(t), b, "sb_down", 300)
	if err != nil || v != 300 {
		t.Fatalf("sb_down(300) under -w = %v, %v", v, err)
	}
	mustBlock(t, b, `use warnings; sub deep { my $n = shift; return $n ? go_deep($n - 1) + 1 : 0 }`)
	if err := b.Export(ctxT(t), "go_deep", func(ctx context.Context, args []any) (any, error) {
		return b.Call(ctx, "deep", args...)
	}); err != nil {
		t.Fatal(err)
	}
	if v, err := bond.CallAs[int](ctxT(t), b, "deep", 250); err != nil || v != 250 {
		t.Fatalf("deep(250) = %v, %v", v, err)
	}
	alive(t, b)
}

func TestPerlInterruptNested(t *testing.T) {
	b := perlBond(t, nil)
	// The interrupt lands in Perl code called from Go called from Perl.
	if err := b.Export(ctxT(t), "go_sleep", func(ctx context.Context, args []any) (any, error) {
		return b.Call(ctx, "sb_sleep", args...)
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := b.Eval(ctx, "go_sleep(30)")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("nested sleep with a deadline: got %v", err)
	}
	if b.Err() != nil {
		t.Fatalf("bond broken: %v", b.Err())
	}
	// A Perl eval {} may see the interrupt, as it may see any die.
	mustBlock(t, b, `sub catch_int { my $r = eval { sleep 30; 1 }; return ref $@ }`)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	_, _ = b.Call(ctx2, "catch_int")
	alive(t, b)
}

func TestPerlExitStatus(t *testing.T) {
	b := perlBond(t, nil)
	mustBlock(t, b, `END { print "bye\n" }`)
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v (the driver must exit 0 at EOF)", err)
	}
}

func TestPerlInteract(t *testing.T) {
	out := &testenv.Buffer{}
	b := perlBond(t, out)
	var screen bytes.Buffer
	in := strings.NewReader("our $z = 20;\nprint \"z is $z\\n\";\n!$z + 22\n!(1, 2)\ndie \"oops\"\n")
	if err := b.Interact(ctxT(t), in, &screen); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"z is 20\n", "42\n", "[1,2]\n", "oops"} {
		if !strings.Contains(screen.String(), want) {
			t.Errorf("REPL screen %q lacks %q", screen.String(), want)
		}
	}
}
