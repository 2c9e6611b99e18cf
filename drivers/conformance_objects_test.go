package drivers_test

// Conformance cases for handles, blobs and files (PROTOCOL.md, "Handles,
// blobs and files"), run for every registered language. Each language
// defines, next to its standard functions:
//
//	SbPoint(x, y)     a class with properties x and y, methods norm2()
//	                  (x*x + y*y) and moved(dx) (a new SbPoint), and a JSON
//	                  form {"x": x, "y": y}
//	sb_is_point(p)    whether p is a live SbPoint
//	sb_gen(n)         an iterable of the squares 0, 1, 4, ... (n items)
//	sb_naturals()     an endless iterable 0, 1, 2, ...
//	sb_bytes_info(b)  [whether b is the language's bytes type, its length, its MD5 in hex]
//	sb_make_bytes(n)  n bytes: byte i is i % 251
//	sb_read_file(f)   the contents of a file argument as a string

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sandbond/sandbond/bond"
)

var objectDefines = map[string]string{
	"python": `
import hashlib, itertools
class SbPoint:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def norm2(self):
        return self.x * self.x + self.y * self.y
    def moved(self, dx):
        return SbPoint(self.x + dx, self.y)
    def __json__(self):
        return {"x": self.x, "y": self.y}
def sb_is_point(p):
    return isinstance(p, SbPoint)
def sb_gen(n):
    for i in range(n):
        yield i * i
def sb_naturals():
    return itertools.count()
def sb_bytes_info(b):
    return [type(b) is bytes, len(b), hashlib.md5(b).hexdigest()]
def sb_make_bytes(n):
    return bytes(i % 251 for i in range(n))
def sb_read_file(f):
    return f.read().decode()
`,
	"php": `
class SbPoint implements JsonSerializable {
    public $x; public $y;
    function __construct($x, $y) { $this->x = $x; $this->y = $y; }
    function norm2() { return $this->x * $this->x + $this->y * $this->y; }
    function moved($dx) { return new SbPoint($this->x + $dx, $this->y); }
    function jsonSerialize(): mixed { return ['x' => $this->x, 'y' => $this->y]; }
}
function sb_is_point($p) { return $p instanceof SbPoint; }
function sb_gen($n) { for ($i = 0; $i < $n; $i++) { yield $i * $i; } }
function sb_naturals() { for ($i = 0; ; $i++) { yield $i; } }
function sb_bytes_info($b) { return [is_string($b), strlen($b), md5($b)]; }
function sb_make_bytes($n) { $s = ''; for ($i = 0; $i < $n; $i++) { $s .= chr($i % 251); } return new Sandbond\Bytes($s); }
function sb_read_file($f) { return stream_get_contents($f); }
`,
	"perl": `
use Digest::MD5 ();
package SbPoint;
sub new { my ($class, $x, $y) = @_; return bless { x => $x, y => $y }, $class }
sub norm2 { my $s = shift; return $s->{x} * $s->{x} + $s->{y} * $s->{y} }
sub moved { my ($s, $dx) = @_; return SbPoint->new($s->{x} + $dx, $s->{y}) }
sub TO_JSON { my $s = shift; return { x => $s->{x}, y => $s->{y} } }
package main;
sub sb_is_point { my $p = shift; return (ref($p) && eval { $p->isa('SbPoint') }) ? \1 : \0 }
sub sb_gen { my $n = shift; my $i = 0; return sub { return if $i >= $n; my $v = $i * $i; $i++; return $v } }
sub sb_naturals { my $i = 0; return sub { return $i++ } }
sub sb_bytes_info { my $b = shift; return [utf8::is_utf8($b) ? \0 : \1, length($b), Digest::MD5::md5_hex($b)] }
sub sb_make_bytes { my $n = shift; return Sandbond::Bytes->new(join('', map { chr($_ % 251) } 0 .. $n - 1)) }
sub sb_read_file { my $f = shift; local $/; my $s = <$f>; return $s }
`,
	"node": `
globalThis.SbPoint = class SbPoint {
  constructor(x, y) { this.x = x; this.y = y; }
  norm2() { return this.x * this.x + this.y * this.y; }
  moved(dx) { return new SbPoint(this.x + dx, this.y); }
  toJSON() { return { x: this.x, y: this.y }; }
};
function sb_is_point(p) { return p instanceof SbPoint; }
function* sb_gen(n) { for (let i = 0; i < n; i++) yield i * i; }
function* sb_naturals() { for (let i = 0; ; i++) yield i; }
function sb_bytes_info(b) { return [Buffer.isBuffer(b), b.length, require('crypto').createHash('md5').update(b).digest('hex')]; }
function sb_make_bytes(n) { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = i % 251; return b; }
function sb_read_file(f) { return f.toString(); }
`,
}

func openObjects(t *testing.T, l *lang) *bond.Bond {
	t.Helper()
	b := openLang(t, l, nil)
	if err := b.EvalBlock(ctxT(t), objectDefines[l.Name]); err != nil {
		t.Fatalf("object definitions: %v", err)
	}
	return b
}

func TestConformanceObjects(t *testing.T) {
	for _, c := range objectCases {
		t.Run(c.name, func(t *testing.T) {
			eachLang(t, c.run)
		})
	}
}

var objectCases = []conformanceCase{
	{"new_method_get_set_value", func(t *testing.T, l *lang) {
		b := openObjects(t, l)
		ctx := ctxT(t)
		p, err := b.New(ctx, "SbPoint", 3, 4)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := p.Call(ctx, "norm2"); err != nil || !sameValue(v, int64(25)) {
			t.Fatalf("norm2() = %#v, %v", v, err)
		}
		if err := p.Set(ctx, "x", 5); err != nil {
			t.Fatal(err)
		}
		if v, err := p.Get(ctx, "x"); err != nil || !sameValue(v, int64(5)) {
			t.Fatalf("get x after set = %#v, %v", v, err)
		}
		q, err := p.CallKeep(ctx, "moved", 10)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := q.Value(ctx); err != nil || !sameValue(v, map[string]any{"x": int64(15), "y": int64(4)}) {
			t.Fatalf("moved(10).Value() = %#v, %v", v, err)
		}
		// A handle argument arrives as the live object, at any depth.
		if v, err := b.Call(ctx, "sb_is_point", q); err != nil || v != true {
			t.Fatalf("sb_is_point(handle) = %#v, %v", v, err)
		}
		if v, err := b.Call(ctx, "sb_len", []any{p, q, p}); err != nil || !sameValue(v, int64(3)) {
			t.Fatalf("sb_len([p, q, p]) = %#v, %v", v, err)
		}
		var re *bond.RemoteError
		if _, err := p.Call(ctx, "no_such_method"); !errors.As(err, &re) {
			t.Fatalf("a missing method = %v; want a RemoteError", err)
		}
		alive(t, b)
	}},
	{"keep_len_ops", func(t *testing.T, l *lang) {
		b := openObjects(t, l)
		ctx := ctxT(t)
		list, err := b.Keep(ctx, l.ListExpr)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := list.Len(ctx); err != nil || n != 3 {
			t.Fatalf("Len = %d, %v", n, err)
		}
		if v, err := list.Op(ctx, bond.OpGetItem, 1); err != nil || !sameValue(v, int64(2)) {
			t.Fatalf("list[1] = %#v, %v", v, err)
		}
		if v, err := list.Op(ctx, bond.OpContains, 3); err != nil || v != true {
			t.Fatalf("3 in list = %#v, %v", v, err)
		}
		n, err := b.Keep(ctx, "40")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			op   string
			arg  any
			want any
		}{
			{bond.OpAdd, 2, int64(42)}, {bond.OpSub, 2, int64(38)}, {bond.OpMul, 2, int64(80)},
			{bond.OpMod, 7, int64(5)}, {bond.OpEq, 40, true}, {bond.OpNe, 40, false},
			{bond.OpLt, 41, true}, {bond.OpGe, 41, false},
		} {
			if v, err := n.Op(ctx, c.op, c.arg); err != nil || !sameValue(v, c.want) {
				t.Errorf("40 %s %v = %#v, %v; want %#v", c.op, c.arg, v, err, c.want)
			}
		}
		if v, err := n.Op(ctx, bond.OpStr); err != nil || v != "40" {
			t.Errorf("str(40) = %#v, %v", v, err)
		}
		// The right operand may be a handle too.
		two, err := b.Keep(ctx, "2")
		if err != nil {
			t.Fatal(err)
		}
		if v, err := n.Op(ctx, bond.OpAdd, two); err != nil || !sameValue(v, int64(42)) {
			t.Errorf("40 + handle(2) = %#v, %v", v, err)
		}
		alive(t, b)
	}},
	{"release", func(t *testing.T, l *lang) {
		b := openObjects(t, l)
		ctx := ctxT(t)
		p, err := b.New(ctx, "SbPoint", 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.Release(ctx); !errors.Is(err, bond.ErrReleased) {
			t.Fatalf("second Release = %v; want ErrReleased", err)
		}
		if _, err := p.Value(ctx); !errors.Is(err, bond.ErrReleased) {
			t.Fatalf("Value after Release = %v; want ErrReleased", err)
		}
		other := openObjects(t, l)
		q, err := other.New(ctx, "SbPoint", 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Call(ctx, "sb_is_point", q); !errors.Is(err, bond.ErrForeignHandle) {
			t.Fatalf("another bond's handle = %v; want ErrForeignHandle", err)
		}
		alive(t, b)
	}},
	{"iterate_in_chunks", func(t *testing.T, l *lang) {
		b := openObjects(t, l)
		ctx := ctxT(t)
		var got []any
		for v, err := range b.Iter(ctx, "sb_gen(10)", 3) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		want := []any{}
		for i := int64(0); i < 10; i++ {
			want = append(want, i*i)
		}
		if !sameValue(got, want) {
			t.Fatalf("sb_gen(10) gave %#v", got)
		}
		// An endless generator runs only as far as the loop goes.
		n := 0
		for v, err := range b.Iter(ctx, "sb_naturals()", 4) {
			if err != nil || !sameValue(v, int64(n)) {
				t.Fatalf("item %d = %#v, %v", n, v, err)
			}
			if n++; n == 6 {
				break
			}
		}
		list, err := b.Keep(ctx, l.ListExpr)
		if err != nil {
			t.Fatal(err)
		}
		got = nil
		for v, err := range list.Items(ctx, 0) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
		if !sameValue(got, []any{int64(1), int64(2), int64(3)}) {
			t.Fatalf("list items = %#v", got)
		}
		alive(t, b)
	}},
	{"bytes_of_any_size", func(t *testing.T, l *lang) {
		b := openObjects(t, l)
		ctx := ctxT(t)
		for _, n := range []int{0, 100, 32<<10 - 1, 32 << 10, 1 << 20, 16<<20 + 7} {
			data := make([]byte, n)
			for i := range data {
				data[i] = byte(i*7 + i>>8)
			}
			sum := md5.Sum(data)
			v, err := b.Call(ctx, "sb_bytes_info", data)
			if err != nil || !sameValue(v, []any{true, int64(n), hex.EncodeToString(sum[:])}) {
				t.Fatalf("sb_bytes_info(%d bytes) = %#v, %v", n, v, err)
			}
			want := make([]byte, n)
			for i := range want {
				want[i] = byte(i % 251)
			}
			v, err = b.Call(ctx, "sb_make_bytes", n)
			if got, ok := v.([]byte); err != nil || !ok || !bytes.Equal(got, want) {
				t.Fatalf("sb_make_bytes(%d) = %T of length %d, %v", n, v, len(got), err)
			}
		}
		alive(t, b)
	}},
	{"file_argument", func(t *testing.T, l *lang) {
		path := filepath.Join(t.TempDir(), "input.txt")
		if err := os.WriteFile(path, []byte("line one\nline two\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := openObjects(t, l)
		for i := 0; i < 2; i++ { // the caller's offset does not move
			if v, err := b.Call(ctxT(t), "sb_read_file", f); err != nil || v != "line one\nline two\n" {
				t.Fatalf("sb_read_file = %#v, %v", v, err)
			}
		}
		alive(t, b)
	}},
	{"handles_in_nested_calls", func(t *testing.T, l *lang) {
		b := openObjects(t, l)
		ctx := ctxT(t)
		p, err := b.New(ctx, "SbPoint", 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		// An exported function uses the handle while the interpreter waits.
		if err := b.Export(ctx, "go_use_point", func(ctx context.Context, args []any) (any, error) {
			return p.Call(ctx, "norm2")
		}); err != nil {
			t.Fatal(err)
		}
		if v, err := b.Call(ctx, "go_use_point"); err != nil || !sameValue(v, int64(2)) {
			t.Fatalf("go_use_point() through the interpreter = %#v, %v", v, err)
		}
	}},
}
