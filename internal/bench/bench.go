// Package bench measures sandbond against floors measured in the same run:
// a raw JSON-line ping-pong with the same interpreter over the same kind of
// channel, and a bare interpreter start. It backs both `go test -bench` and
// the `sandboxd bench` table, so that targets are ratios, never absolute
// times (machines are noisy).
package bench

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/drivers"
)

// A Case is one row of the table: the same work done by sandbond and by
// its floor. Each function does the work n times.
type Case struct {
	Name     string
	Lang     string
	Target   float64 // the ratio sandbond must stay under
	Sandbond func(n int) error
	Floor    func(n int) error
	// Prepare starts what the case keeps warm; Close releases it.
	Prepare func() error
	Close   func()
}

// definitions are the functions each language defines for the cases.
var definitions = map[string]string{
	"python": "def b_add(a, b): return a + b\ndef b_len(s): return len(s)\ndef b_echo(x): return x\ndef b_callgo(): return go_noop(1)\n" +
		"class BenchObj:\n    def add(self, a, b): return a + b\ndef b_bytes(x): return x\n",
	"php": "function b_add($a, $b) { return $a + $b; }\nfunction b_len($s) { return strlen($s); }\nfunction b_echo($x) { return $x; }\nfunction b_callgo() { return go_noop(1); }\n" +
		"class BenchObj { function add($a, $b) { return $a + $b; } }\nfunction b_bytes($x) { return new Sandbond\\Bytes($x); }\n",
	"perl": "sub b_add { return $_[0] + $_[1]; }\nsub b_len { return length($_[0]); }\nsub b_echo { return $_[0]; }\nsub b_callgo { return go_noop(1); }\n" +
		"package BenchObj; sub new { return bless {}, shift } sub add { return $_[1] + $_[2] } package main;\nsub b_bytes { return Sandbond::Bytes->new($_[0]); }\n",
	"node": "function b_add(a, b) { return a + b; }\nfunction b_len(s) { return s.length; }\nfunction b_echo(x) { return x; }\nfunction b_callgo() { return go_noop(1); }\n" +
		"globalThis.BenchObj = class { add(a, b) { return a + b; } };\nfunction b_bytes(x) { return x; }\n",
}

// Languages lists the languages with benchmark cases.
func Languages() []string {
	var ls []string
	for l := range definitions {
		ls = append(ls, l)
	}
	sort.Strings(ls)
	return ls
}

// warm is a bond and a floor process kept across measurements.
type warm struct {
	lang    string
	bond    *bond.Bond
	floor   *floorProc
	obj     *bond.Handle     // a BenchObj kept in the interpreter
	copiers map[int]*catProc // the floors of the bytes rows, by size
}

func (w *warm) prepare() error {
	if w.bond != nil {
		return nil
	}
	ctx := context.Background()
	// What a driver builds on the host once per program (compiled stage 2,
	// PHP's opcache file cache) is built now, so that the rows measure the
	// starts of a program that has been running for a while. Without it
	// (an interpreter without opcache) the starts use the source.
	if drv, err := drivers.Lookup(w.lang); err == nil {
		if interp, err := drv.ResolveInterpreter(ctx, drv.Command); err == nil {
			_ = drv.Prepare(ctx, interp)
		}
	}
	bd, err := bond.Open(ctx, w.lang, nil)
	if err != nil {
		return err
	}
	err = bd.Export(ctx, "go_noop", func(_ context.Context, args []any) (any, error) { return args[0], nil })
	if err == nil {
		err = bd.EvalBlock(ctx, definitions[w.lang])
	}
	var fl *floorProc
	if err == nil {
		fl, err = startFloor(ctx, w.lang)
	}
	if err == nil {
		w.obj, err = bd.New(ctx, "BenchObj")
	}
	w.copiers = map[int]*catProc{}
	if err != nil {
		_ = bd.Close()
		if fl != nil {
			_ = fl.close()
		}
		return fmt.Errorf("%s: %w", w.lang, err)
	}
	w.bond, w.floor = bd, fl
	return nil
}

func (w *warm) close() {
	if w.bond != nil {
		_ = w.bond.Close()
		_ = w.floor.close()
		for _, c := range w.copiers {
			_ = c.close()
		}
		w.bond, w.floor, w.obj, w.copiers = nil, nil, nil, nil
	}
}

// Cases returns the rows for the given languages.
func Cases(langs []string) []Case {
	var cs []Case
	for _, lang := range langs {
		cs = append(cs, langCases(lang)...)
	}
	return cs
}

// times makes a case function that does one unit of work n times.
func times(one func() error) func(n int) error {
	return func(n int) error {
		for i := 0; i < n; i++ {
			if err := one(); err != nil {
				return err
			}
		}
		return nil
	}
}

func langCases(lang string) []Case {
	w := &warm{lang: lang}
	str100k := strings.Repeat("abcdefghij", 10_000)
	list10k := make([]int, 10_000)
	for i := range list10k {
		list10k[i] = i
	}
	ctx := context.Background()
	call := func(name string, args ...any) func(n int) error {
		return times(func() error { _, err := w.bond.Call(ctx, name, args...); return err })
	}
	floor := func(op string, args ...any) func(n int) error {
		return times(func() error { _, err := w.floor.call(op, args...); return err })
	}
	method := func(name string, args ...any) func(n int) error {
		return times(func() error { _, err := w.obj.Call(ctx, name, args...); return err })
	}
	bytesRow := func(data func() []byte) (sb, fl func(n int) error) {
		return times(func() error { _, err := w.bond.Call(ctx, "b_bytes", data()); return err }),
			times(func() error { return w.pipeCopy(data()) })
	}
	sb1, fl1 := bytesRow(mb1)
	sb64, fl64 := bytesRow(mb64)
	cases := []Case{
		{Name: "small call", Target: 1.5, Sandbond: call("b_add", 1, 2), Floor: floor("add", 1, 2)},
		{Name: "recursive call (calls Go)", Target: 3, Sandbond: call("b_callgo"), Floor: floor("add", 1, 2)},
		{Name: "100 KB string argument", Target: 2, Sandbond: call("b_len", str100k), Floor: floor("len", str100k)},
		{Name: "10,000-int list", Target: 2, Sandbond: call("b_echo", list10k), Floor: floor("echo", list10k)},
		{Name: "cold start to first result", Target: 1.2, Sandbond: coldBond(lang), Floor: coldFloor(lang)},
		{Name: "method call on a handle (floor: plain call)", Target: 1.2, Sandbond: method("add", 1, 2), Floor: call("b_add", 1, 2)},
		{Name: "1 MB bytes round trip (floor: pipe copy)", Target: 1.5, Sandbond: sb1, Floor: fl1},
		{Name: "64 MB bytes round trip (floor: pipe copy)", Target: 1.5, Sandbond: sb64, Floor: fl64},
	}
	for i := range cases {
		cases[i].Lang = lang
		cases[i].Prepare = w.prepare
		cases[i].Close = w.close
	}
	return cases
}

func coldBond(lang string) func(n int) error {
	return times(func() error {
		_, err := firstResult(context.Background(), lang, nil)
		return err
	})
}

// firstResult opens a bond, evaluates 1+1 and closes it, returning the
// time to the first result.
func firstResult(ctx context.Context, lang string, o *bond.Options) (time.Duration, error) {
	t0 := time.Now()
	b, err := bond.Open(ctx, lang, o)
	if err != nil {
		return 0, err
	}
	_, err = b.Eval(ctx, "1+1")
	d := time.Since(t0)
	_ = b.Close()
	return d, err
}

func coldFloor(lang string) func(n int) error {
	return times(func() error {
		fl, err := startFloor(context.Background(), lang)
		if err != nil {
			return err
		}
		_, err = fl.call("add", 1, 1)
		_ = fl.close()
		return err
	})
}

// Result is one measured row.
type Result struct {
	Case            Case
	Sandbond, Floor time.Duration // median per operation
	Ratio           float64
	Err             error
}

// Run measures each case in rounds, alternating the floor and sandbond,
// each measurement lasting about benchtime/rounds. The ratio is the median
// of the rounds' ratios, so that load that changes between rounds cancels
// out; the times are medians too. (Batches much shorter than ~100 ms bias
// the result on small VMs: an interpreter that has just slept wakes
// differently from one in a steady ping-pong.)
func Run(cases []Case, rounds int, benchtime time.Duration) []Result {
	var out []Result
	first := 0 // the first row of the current language
	for i, c := range cases {
		if c.Lang != cases[first].Lang {
			first = i
		}
		res := Result{Case: c}
		if res.Err = c.Prepare(); res.Err == nil {
			res.Sandbond, res.Floor, res.Ratio, res.Err = alternate(c, max(rounds, 3), benchtime/time.Duration(max(rounds, 3)))
		}
		out = append(out, res)
		// A language's processes end with its last row, so that what
		// they hold (PHP's 64 MB rows leave large heaps behind) does
		// not weigh on the next language's rows.
		if i+1 == len(cases) || cases[i+1].Lang != c.Lang {
			for _, d := range cases[first : i+1] {
				d.Close()
			}
		}
	}
	return out
}

func alternate(c Case, rounds int, each time.Duration) (sb, fl time.Duration, ratio float64, err error) {
	var sbs, fls []time.Duration
	var ratios []float64
	for r := 0; r < rounds; r++ {
		f, err := Measure(c.Floor, each)
		if err != nil {
			return 0, 0, 0, err
		}
		s, err := Measure(c.Sandbond, each)
		if err != nil {
			return 0, 0, 0, err
		}
		fls, sbs = append(fls, f), append(sbs, s)
		ratios = append(ratios, float64(s)/float64(max(f, 1)))
	}
	sort.Float64s(ratios)
	return median(sbs), median(fls), ratios[len(ratios)/2], nil
}

// Measure times f, growing n until one run takes about benchtime, and
// returns the time per operation.
func Measure(f func(n int) error, benchtime time.Duration) (time.Duration, error) {
	if err := f(1); err != nil { // warm up
		return 0, err
	}
	for n := 1; ; {
		start := time.Now()
		if err := f(n); err != nil {
			return 0, err
		}
		took := time.Since(start)
		if took >= benchtime || n >= 1<<24 {
			return took / time.Duration(n), nil
		}
		next := n * 4
		if took > 0 {
			next = int(float64(n) * 1.2 * float64(benchtime) / float64(took))
		}
		n = min(max(next, n+1), n*100)
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// Table formats results as a markdown table.
func Table(rs []Result) string {
	var b strings.Builder
	b.WriteString("| case | sandbond | floor | ratio | target |\n|---|---|---|---|---|\n")
	for _, r := range rs {
		if r.Err != nil {
			fmt.Fprintf(&b, "| %s: %s | error: %v | | | |\n", r.Case.Lang, r.Case.Name, r.Err)
			continue
		}
		mark := "ok"
		if r.Ratio > r.Case.Target {
			mark = "over"
		}
		fmt.Fprintf(&b, "| %s: %s | %s | %s | %.2f× | ≤ %.1f× %s |\n", r.Case.Lang, r.Case.Name,
			round(r.Sandbond), round(r.Floor), r.Ratio, r.Case.Target, mark)
	}
	return b.String()
}

func round(d time.Duration) string {
	if d >= time.Millisecond {
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}
