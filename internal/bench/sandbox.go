package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/policy"
	"github.com/sandbond/sandbond/profiles"
	"github.com/sandbond/sandbond/sandbox"
)

// Budgets of the sandbox rows. Two of them are absolute (a sandbox may add
// at most this much to the same work unsandboxed): their rows' Target is
// the ratio (floor + budget) / floor, computed from the floor measured in
// the same run.
const (
	// ColdStartBudget is what a sandbox may add to a cold start.
	ColdStartBudget = 6 * time.Millisecond
	// FreshTaskBudget is what a call on a fresh (never used) warm
	// sandbox from a pool may add, at the median, to the same call on a
	// warm unsandboxed bond.
	FreshTaskBudget = 1 * time.Millisecond
	// SandboxCallTarget is the ratio a call in a warm sandbox may cost
	// against the same call on an unsandboxed bond.
	SandboxCallTarget = 1.05
	// MemoryBudget is what a warm sandbox may add to the memory of the
	// bare interpreter.
	MemoryBudget = 2 << 20
)

// budgets maps the names of rows with an absolute budget to it.
var budgets = map[string]time.Duration{
	rowColdBare: ColdStartBudget,
	rowColdBond: ColdStartBudget,
	rowFresh:    FreshTaskBudget,
}

const (
	rowColdBare = "sandboxed cold start to first result (floor: bare start + round trip)"
	rowColdBond = "sandboxed cold start to first result (floor: unsandboxed bond)"
	rowFresh    = "fresh sandbox per task from a warm pool, p50 (floor: warm bond)"
	rowCall     = "call in a warm sandbox (floor: unsandboxed bond)"
)

// RunSandbox measures the sandbox rows for each language, against floors
// measured in the same run, and returns them in [Result] form ([Table]
// formats them; [SandboxTable] adds the absolute differences):
//
//   - a sandboxed cold start to the first result (bond.Open in a container
//     of the decoder profile, one Eval) against a bare interpreter start
//     plus one raw round trip, and against an unsandboxed bond; teardown is
//     not timed on either side; median of interleaved starts;
//   - a call on a fresh sandbox taken from a warm pool of the decoder
//     profile (fresh_per_task: each call on a never-used worker) against the
//     same call on a warm unsandboxed bond; p50 of interleaved calls, each
//     sandboxed call made once a warm worker waits;
//   - a call in a warm sandbox (a recycled pool of the worker profile)
//     against the same call on an unsandboxed bond, measured like the other
//     call rows ([Run]).
//
// rounds and benchtime size the measurements as in [Run]. The program must
// have called sandbox.Init first thing in main (or in TestMain).
func RunSandbox(langs []string, rounds int, benchtime time.Duration) []Result {
	var out []Result
	for _, lang := range langs {
		out = append(out, coldRows(lang, rounds, benchtime)...)
		out = append(out, freshRow(lang, rounds, benchtime))
		out = append(out, Run([]Case{callCase(lang)}, rounds, benchtime)...)
	}
	return out
}

// sandboxProfile sets a shipped profile's language to lang.
func sandboxProfile(p *policy.Profile, lang string) *policy.Profile {
	p.Language = lang
	return p
}

func benchLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// withBudget fills in a row's Target and Ratio from its floor.
func withBudget(r Result) Result {
	if r.Err == nil && r.Floor > 0 {
		if b, ok := budgets[r.Case.Name]; ok {
			r.Case.Target = float64(r.Floor+b) / float64(r.Floor)
		}
		r.Ratio = float64(r.Sandbond) / float64(r.Floor)
	}
	return r
}

// iterations is how many interleaved samples a custom row takes: enough to
// fill rounds × benchtime on the slow side, at least 10, at most 300.
func iterations(rounds int, benchtime, one time.Duration) int {
	if one <= 0 {
		one = time.Millisecond
	}
	return min(max(int(time.Duration(rounds)*benchtime/one), 10), 300)
}

func coldRows(lang string, rounds int, benchtime time.Duration) []Result {
	bare := Result{Case: Case{Name: rowColdBare, Lang: lang}}
	unsb := Result{Case: Case{Name: rowColdBond, Lang: lang}}
	fail := func(err error) []Result {
		bare.Err, unsb.Err = err, err
		return []Result{bare, unsb}
	}
	prof := sandboxProfile(profiles.Decoder(), lang)
	l, err := sandbox.NewContainerLauncher(prof, sandbox.WithLogger(benchLogger()))
	if err != nil {
		return fail(err)
	}
	defer l.Close()
	ctx := context.Background()
	sandboxed := func() (time.Duration, error) {
		o := sandbox.BondOptions(prof)
		o.Launcher = l
		return firstResult(ctx, lang, o)
	}
	plain := func() (time.Duration, error) { return firstResult(ctx, lang, nil) }
	floor := func() (time.Duration, error) {
		t0 := time.Now()
		fl, err := startFloor(ctx, lang)
		if err != nil {
			return 0, err
		}
		_, err = fl.call("add", 1, 1)
		d := time.Since(t0)
		_ = fl.close()
		return d, err
	}
	// Warm up (interpreter resolution, binds, page cache), and size the run.
	var one time.Duration
	for _, f := range []func() (time.Duration, error){floor, plain, sandboxed} {
		d, err := f()
		if err != nil {
			return fail(err)
		}
		one = max(one, d)
	}
	var fs, ps, ss []time.Duration
	for range iterations(rounds, benchtime, one) {
		for _, x := range []struct {
			f   func() (time.Duration, error)
			out *[]time.Duration
		}{{floor, &fs}, {plain, &ps}, {sandboxed, &ss}} {
			d, err := x.f()
			if err != nil {
				return fail(err)
			}
			*x.out = append(*x.out, d)
		}
	}
	bare.Sandbond, bare.Floor = median(ss), median(fs)
	unsb.Sandbond, unsb.Floor = median(ss), median(ps)
	return []Result{withBudget(bare), withBudget(unsb)}
}

func freshRow(lang string, rounds int, benchtime time.Duration) Result {
	r := Result{Case: Case{Name: rowFresh, Lang: lang}}
	prof := sandboxProfile(profiles.Decoder(), lang)
	prof.Pool.MinIdle, prof.Pool.MaxSize = 1, 2
	ctx := context.Background()
	p, err := sandbox.NewPool(ctx, sandbox.PoolConfig{Profile: prof, Setup: definitions[lang], Function: "b_add", Logger: benchLogger()})
	if err != nil {
		r.Err = err
		return r
	}
	defer p.Close()
	b, err := bond.Open(ctx, lang, nil)
	if err != nil {
		r.Err = err
		return r
	}
	defer b.Close()
	if err := b.EvalBlock(ctx, definitions[lang]); err != nil {
		r.Err = err
		return r
	}
	// warm waits until a fresh worker is idle and nothing else starts, so
	// that the timed call measures the warm path only.
	warm := func() error {
		deadline := time.Now().Add(30 * time.Second)
		for s := p.Stats(); s.Idle < 1 || s.Starting > 0; s = p.Stats() {
			if time.Now().After(deadline) {
				return fmt.Errorf("no warm worker after 30s: %+v", s)
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(5 * time.Millisecond) // let the previous worker's teardown settle
		return nil
	}
	call := func() (time.Duration, error) {
		t0 := time.Now()
		v, err := sandbox.CallAs[int](ctx, p, 1, 2)
		d := time.Since(t0)
		if err == nil && v != 3 {
			err = fmt.Errorf("b_add(1, 2) = %d", v)
		}
		return d, err
	}
	t0 := time.Now()
	err = warm()
	if err == nil {
		_, err = call()
	}
	if err != nil {
		r.Err = err
		return r
	}
	one := time.Since(t0)
	var ss, fs []time.Duration
	for range iterations(rounds, benchtime, one) {
		// Both sides run in the same quiet moment: no sandbox starting,
		// both bonds idle for as long.
		if err := warm(); err != nil {
			r.Err = err
			return r
		}
		t := time.Now()
		if _, err := b.Call(ctx, "b_add", 1, 2); err != nil {
			r.Err = err
			return r
		}
		fs = append(fs, time.Since(t))
		d, err := call()
		if err != nil {
			r.Err = err
			return r
		}
		ss = append(ss, d)
	}
	r.Sandbond, r.Floor = median(ss), median(fs)
	return withBudget(r)
}

func callCase(lang string) Case {
	var (
		p *sandbox.Pool
		b *bond.Bond
	)
	ctx := context.Background()
	c := Case{Name: rowCall, Lang: lang, Target: SandboxCallTarget}
	c.Prepare = func() error {
		if p != nil {
			return nil
		}
		prof := sandboxProfile(profiles.Worker(), lang)
		prof.Pool.MinIdle, prof.Pool.MaxSize, prof.Pool.RecycleAfter = 1, 1, 0
		var err error
		p, err = sandbox.NewPool(ctx, sandbox.PoolConfig{Profile: prof, Setup: definitions[lang], Function: "b_add", Logger: benchLogger()})
		if err != nil {
			return err
		}
		if b, err = bond.Open(ctx, lang, nil); err == nil {
			err = b.EvalBlock(ctx, definitions[lang])
		}
		if err != nil {
			_ = p.Close()
			p = nil
		}
		return err
	}
	c.Close = func() {
		if p != nil {
			_ = p.Close()
			_ = b.Close()
			p, b = nil, nil
		}
	}
	c.Sandbond = func(n int) error {
		for range n {
			if _, err := p.Call(ctx, 1, 2); err != nil {
				return err
			}
		}
		return nil
	}
	c.Floor = func(n int) error {
		for range n {
			if _, err := b.Call(ctx, "b_add", 1, 2); err != nil {
				return err
			}
		}
		return nil
	}
	return c
}

// SandboxTable formats sandbox rows like [Table], with the absolute
// difference (sandbond - floor) and, for rows with an absolute budget, the
// budget the target ratio stands for.
func SandboxTable(rs []Result) string {
	var b strings.Builder
	b.WriteString("| case | sandbond | floor | difference | ratio | target |\n|---|---|---|---|---|---|\n")
	for _, r := range rs {
		if r.Err != nil {
			fmt.Fprintf(&b, "| %s: %s | error: %v | | | | |\n", r.Case.Lang, r.Case.Name, r.Err)
			continue
		}
		mark := "ok"
		if r.Ratio > r.Case.Target {
			mark = "over"
		}
		target := fmt.Sprintf("≤ %.2f×", r.Case.Target)
		if bud, ok := budgets[r.Case.Name]; ok {
			target += " (floor + " + round(bud) + ")"
		}
		diff := r.Sandbond - r.Floor
		sign := "+"
		if diff < 0 {
			sign, diff = "−", -diff
		}
		fmt.Fprintf(&b, "| %s: %s | %s | %s | %s%s | %.2f× | %s %s |\n", r.Case.Lang, r.Case.Name,
			round(r.Sandbond), round(r.Floor), sign, round(diff), r.Ratio, target, mark)
	}
	return b.String()
}

// MemoryResult is the memory of warm interpreters of one language: bond
// workers with the benchmark definitions loaded, sandboxed (decoder
// profile) and not.
type MemoryResult struct {
	// Lang is the language measured.
	Lang string
	// Sandboxed and Bare are the median resident set sizes (VmRSS) of the
	// interpreter process, in bytes.
	Sandboxed, Bare int64
	// Cgroup is the median memory charged to a sandbox's cgroup (page
	// cache and kernel memory included), in bytes; 0 when unavailable.
	Cgroup int64
	// Err is why the row could not be measured.
	Err error
}

// SandboxMemory measures n warm interpreters per language, sandboxed and
// bare, all alive at once. The program must have called sandbox.Init.
func SandboxMemory(langs []string, n int) []MemoryResult {
	var out []MemoryResult
	for _, lang := range langs {
		out = append(out, memoryOf(lang, max(n, 1)))
	}
	return out
}

func memoryOf(lang string, n int) (r MemoryResult) {
	r.Lang = lang
	ctx := context.Background()
	prof := sandboxProfile(profiles.Decoder(), lang)
	l, err := sandbox.NewContainerLauncher(prof, sandbox.WithLogger(benchLogger()))
	if err != nil {
		r.Err = err
		return r
	}
	defer l.Close()
	var bonds []*bond.Bond
	defer func() {
		for _, b := range bonds {
			_ = b.Close()
		}
	}()
	var sb, bare, cg []int64
	for i := range 2 * n {
		sandboxed := i%2 == 0
		var o *bond.Options
		if sandboxed {
			o = sandbox.BondOptions(prof)
			o.Launcher = l
		}
		b, err := bond.Open(ctx, lang, o)
		if err != nil {
			r.Err = err
			return r
		}
		bonds = append(bonds, b)
		if err := b.EvalBlock(ctx, definitions[lang]); err != nil {
			r.Err = err
			return r
		}
		if _, err := b.Call(ctx, "b_add", 1, 2); err != nil {
			r.Err = err
			return r
		}
	}
	time.Sleep(100 * time.Millisecond) // let start-up garbage settle
	for i, b := range bonds {
		rss, err := vmRSS(b.Pid())
		if err != nil {
			r.Err = err
			return r
		}
		if i%2 == 1 {
			bare = append(bare, rss)
			continue
		}
		sb = append(sb, rss)
		if c, err := cgroupMemory(b.Pid()); err == nil {
			cg = append(cg, c)
		}
	}
	r.Sandboxed, r.Bare = medianInt(sb), medianInt(bare)
	if len(cg) > 0 {
		r.Cgroup = medianInt(cg)
	}
	return r
}

// vmRSS reads the resident set size of pid from /proc, in bytes.
func vmRSS(pid int) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// cgroupMemory reads the memory charged to pid's memory cgroup (v2
// memory.current, or v1 memory.usage_in_bytes).
func cgroupMemory(pid int) (int64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		var file string
		switch {
		case f[0] == "0" && f[1] == "":
			file = filepath.Join("/sys/fs/cgroup", f[2], "memory.current")
		case strings.Contains(","+f[1]+",", ",memory,"):
			file = filepath.Join("/sys/fs/cgroup/memory", f[2], "memory.usage_in_bytes")
		default:
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	return 0, errors.New("no memory cgroup")
}

func medianInt(v []int64) int64 {
	s := append([]int64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// MemoryTable formats memory results as a markdown table, with the target
// of at most [MemoryBudget] over the bare interpreter.
func MemoryTable(rs []MemoryResult) string {
	var b strings.Builder
	b.WriteString("| case | sandboxed RSS | bare RSS | difference | target | sandbox cgroup charge |\n|---|---|---|---|---|---|\n")
	mib := func(v int64) string { return fmt.Sprintf("%.2f MiB", float64(v)/(1<<20)) }
	for _, r := range rs {
		name := r.Lang + ": memory per warm sandbox"
		if r.Err != nil {
			fmt.Fprintf(&b, "| %s | error: %v | | | | |\n", name, r.Err)
			continue
		}
		diff := r.Sandboxed - r.Bare
		mark := "ok"
		if diff > MemoryBudget {
			mark = "over"
		}
		sign := "+"
		if diff < 0 {
			sign, diff = "−", -diff
		}
		cg := "n/a"
		if r.Cgroup > 0 {
			cg = mib(r.Cgroup)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s%s | ≤ +%s %s | %s |\n", name, mib(r.Sandboxed), mib(r.Bare), sign, mib(diff), mib(MemoryBudget), mark, cg)
	}
	return b.String()
}
