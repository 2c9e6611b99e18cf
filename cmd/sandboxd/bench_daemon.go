package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sandbond/sandbond/policy"
)

func benchDaemonVerb() verb {
	return verb{name: "bench-daemon", summary: "load-test sandboxd on a temp socket against in-process pool calls", run: runBenchDaemon}
}

const benchDaemonHelp = `usage: sandboxd bench-daemon [-clients N] [-duration D] [-rounds R] [-profile P] [-lang L]

Starts a pool of sandboxed workers for an identity function, then measures
in one run, with N concurrent clients each:
  in-process  pool.Call from N goroutines
  sandboxd    the same calls through the daemon's API on a temp Unix socket,
              once with net/http's client and once with a light HTTP/1.1
              client (one kept-alive connection per client, no goroutines
              of its own)
  null        the daemon's API with a pool that answers at once (the
              daemon's own cost: HTTP, JSON, credentials, metrics)
and prints throughput, p50/p99 latency, each row against the in-process
row of the same run, and this process's CPU time per call as a markdown
table. The rows are measured in R interleaved rounds (each row D/R per
round) so that a machine whose load changes during the run weighs on
every row alike; the table pools the rounds' calls, and the summary gives
the median and range of the per-round differences. -nethttp adds rows
served by net/http alone, the daemon's server before its light loop.
-client-process runs the sandboxd rows' clients in a process of their
own, as a daemon's clients are: the CPU column is then the daemon's. The
profile flags profile one row (-profile-row; by default the sandboxd row
with the light client) in its first round.

flags:
`

// benchRow is one measured line.
type benchRow struct {
	Name    string
	Clients int
	Calls   int
	Errors  int
	Elapsed time.Duration
	P50     time.Duration
	P99     time.Duration
	Conns   int           // connections the daemon accepted (warm-up included)
	CPU     time.Duration // this process's CPU time (user and system) during the row
	Rounds  []time.Duration
	// ClientCPU is the client process's CPU time, with -client-process
	// (CPU is then the daemon's alone).
	ClientCPU time.Duration
}

func runBenchDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench-daemon", benchDaemonHelp, stderr)
	clients := fs.Int("clients", 8, "concurrent clients")
	duration := fs.Duration("duration", 3*time.Second, "measuring time per row (spread over the rounds)")
	rounds := fs.Int("rounds", 3, "interleaved rounds: each row is measured this many times, for -duration divided by it")
	profile := fs.String("profile", "worker", "profile of the workers (shipped name or file)")
	lang := fs.String("lang", "python", "language of the workers")
	workers := fs.Int("workers", 2, "pool size (max_size and min_idle)")
	nethttp := fs.Bool("nethttp", false, "add rows served by net/http alone (the daemon's server without its light loop), for comparison")
	clientProcess := fs.Bool("client-process", false, "run the sandboxd rows' clients in a process of their own (as real clients are): the CPU column is then the daemon's alone")
	var prof benchProfiles
	fs.StringVar(&prof.cpu, "cpuprofile", "", "write a CPU profile of the sandboxd row to `file`")
	fs.StringVar(&prof.block, "blockprofile", "", "write a block profile of the sandboxd row to `file`")
	fs.StringVar(&prof.mutex, "mutexprofile", "", "write a mutex profile of the sandboxd row to `file`")
	fs.StringVar(&prof.trace, "trace", "", "write a runtime trace of the sandboxd row to `file`")
	profRow := fs.Int("profile-row", 3, "the `row` (1: in-process, 2: sandboxd with net/http's client, 3: sandboxd with the raw client, ...) the profile flags profile")
	chaos := fs.Int("chaos", 0, "after the table, run the clients again while killing `N` random workers' interpreters, and check that every call was answered and nothing was left behind")
	sporadic := fs.Bool("sporadic", false, "add rows of in-process calls made 1 ms and 5 ms apart (the bond's idle reader takes over after 2 ms)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *clients < 1 || *duration <= 0 || *workers < 1 || *rounds < 1 {
		fmt.Fprintln(stderr, "sandboxd bench-daemon: -clients, -workers, -rounds and -duration must be positive")
		return errUsage
	}
	p, err := loadProfileRef(*profile)
	if err != nil {
		return problemLines("bench-daemon", err)
	}
	p.Language = *lang
	p.Pool.MaxSize, p.Pool.MinIdle, p.Pool.FreshPerTask, p.Pool.RecycleAfter = *workers, *workers, false, 0
	p.Pool.QueueTimeout = policy.Duration(30 * time.Second)
	if err := p.Validate(); err != nil {
		return problemLines("bench-daemon", err)
	}
	setup, ok := identitySetup[*lang]
	if !ok {
		return fmt.Errorf("no identity function for %q; fix: -lang python, php, perl or node", *lang)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	k := &callable{Name: "ident", ProfileRef: *profile, Profile: p, Language: *lang, Setup: setup, Function: "ident"}
	rows, err := benchDaemonOpts(ctx, k, newSandboxPool, benchOptions{clients: *clients, d: *duration, rounds: *rounds, log: log, prof: &prof,
		profRow: *profRow, sporadic: *sporadic, nethttp: *nethttp, clientProcess: *clientProcess})
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, benchTable(rows))
	if *chaos > 0 {
		cp := p.Clone()
		chaosProfile(cp)
		res, err := runChaos(ctx, chaosOptions{Profile: cp, Lang: *lang, Clients: *clients, Kills: *chaos, Pause: 5 * time.Millisecond,
			MaxTime: 10 * time.Minute, Log: log})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nchaos: %s\n", res)
		for _, u := range res.Unanswered {
			fmt.Fprintf(stdout, "  unanswered: %s\n", u)
		}
		for _, l := range res.Leftovers {
			fmt.Fprintf(stdout, "  left behind: %s\n", l)
		}
		if res.Lost > 0 || len(res.Leftovers) > 0 || !res.ServesLate || res.Kills < *chaos {
			return errors.New("chaos run failed")
		}
	}
	return nil
}

// chaosProfile sizes a profile's pool for a chaos run: 4 workers, 2 kept
// idle, recycled only when killed, calls waiting up to 10s for a worker.
func chaosProfile(p *policy.Profile) {
	p.Pool.MaxSize, p.Pool.MinIdle, p.Pool.FreshPerTask, p.Pool.RecycleAfter = 4, 2, false, 0
	p.Pool.QueueTimeout = policy.Duration(10 * time.Second)
}

// identitySetup defines ident(x) = x per language.
var identitySetup = map[string]string{
	"python": "def ident(x):\n    return x\n",
	"php":    "function ident($x) { return $x; }",
	"perl":   "sub ident { return $_[0]; }",
	"node":   "globalThis.ident = function (x) { return x; };",
}

// nullPool answers every call at once with its first argument.
type nullPool struct{}

// Call returns the first argument.
func (nullPool) Call(_ context.Context, args ...any) (any, error) {
	if len(args) == 0 {
		return nil, nil
	}
	return args[0], nil
}

// Close does nothing.
func (nullPool) Close() error { return nil }

// Stats is empty.
func (nullPool) Stats() poolStats { return poolStats{} }

// benchDaemon measures the rows of the table for callable k, in one round.
// prof, when not nil, names the profiles to take of the measured sandboxd
// row (raw client).
func benchDaemon(ctx context.Context, k *callable, factory poolFactory, clients int, d time.Duration, log *slog.Logger, prof *benchProfiles) ([]benchRow, error) {
	return benchDaemonOpts(ctx, k, factory, benchOptions{clients: clients, d: d, rounds: 1, log: log, prof: prof})
}

// benchOptions are bench-daemon's settings.
type benchOptions struct {
	clients  int
	d        time.Duration // per row, over all rounds
	rounds   int
	log      *slog.Logger
	prof     *benchProfiles
	profRow  int  // the row prof profiles, from 1; 0 means 3 (sandboxd, raw client)
	sporadic bool // add rows of sporadic in-process calls (the bond's idle reader)
	nethttp  bool // add rows served by net/http alone
	// clientProcess runs the sandboxd rows' clients in a process of
	// their own (bench_process.go).
	clientProcess bool
}

// benchTarget is a row's way of calling: fnFor(i) is client i's call.
type benchTarget struct {
	name  string
	fnFor func(i int) func(context.Context) error
	conns func() int // connections accepted, or nil
	prof  *benchProfiles
	// sample, when set, measures instead of fnFor (a client process).
	sample func(d time.Duration, warm bool) (benchSample, error)
}

func benchDaemonOpts(ctx context.Context, k *callable, factory poolFactory, o benchOptions) ([]benchRow, error) {
	clients, d := o.clients, o.d
	if o.rounds < 1 {
		o.rounds = 1
	}
	pool, err := factory(ctx, poolSpec{Profile: k.Profile, Language: k.Language, Setup: k.Setup, Function: k.Function, Logger: o.log})
	if err != nil {
		return nil, fmt.Errorf("starting the pool: %w", err)
	}
	defer pool.Close()
	arg := json.RawMessage(`"hello"`)
	inproc := func(ctx context.Context) error {
		_, err := pool.Call(ctx, arg)
		return err
	}
	targets := []benchTarget{{name: "in-process pool.Call", fnFor: func(int) func(context.Context) error { return inproc }}}
	type mode struct {
		name    string
		pool    workerPool
		raw     bool
		nethttp bool
		prof    *benchProfiles
	}
	modes := []mode{
		{"sandboxd (Unix socket API), net/http client", pool, false, false, nil},
		{"sandboxd (Unix socket API), raw HTTP/1.1 client", pool, true, false, nil},
		{"sandboxd, null pool, net/http client", nullPool{}, false, false, nil},
		{"sandboxd, null pool, raw HTTP/1.1 client", nullPool{}, true, false, nil},
	}
	if o.nethttp {
		modes = append(modes,
			mode{"sandboxd served by net/http alone, raw HTTP/1.1 client", pool, true, true, nil},
			mode{"sandboxd served by net/http alone, null pool, raw client", nullPool{}, true, true, nil})
	}
	for _, m := range modes {
		t, stop, err := daemonTarget(ctx, m.name, k, m.pool, clients, o.log, m.raw, m.nethttp, o.clientProcess)
		if err != nil {
			return nil, err
		}
		defer stop()
		t.prof = m.prof
		targets = append(targets, t)
	}
	if o.profRow <= 0 {
		o.profRow = 3
	}
	if o.profRow <= len(targets) {
		targets[o.profRow-1].prof = o.prof
	}
	// Warm up every path, then measure the rows round by round.
	warm := max(d/(4*time.Duration(o.rounds)), 50*time.Millisecond)
	for _, t := range targets {
		if t.sample != nil {
			if _, err := t.sample(warm, true); err != nil {
				return nil, err
			}
			continue
		}
		measureEach(ctx, "warm-up", clients, warm, t.fnFor)
	}
	samples := make([][]benchSample, len(targets))
	for r := range o.rounds {
		for i, t := range targets {
			var stop func() error
			if r == 0 && t.prof != nil {
				if stop, err = t.prof.start(); err != nil {
					return nil, err
				}
			}
			var sm benchSample
			if t.sample != nil {
				if sm, err = t.sample(d/time.Duration(o.rounds), false); err != nil {
					return nil, err
				}
			} else {
				sm = sampleGap(ctx, clients, d/time.Duration(o.rounds), 0, t.fnFor)
			}
			samples[i] = append(samples[i], sm)
			if stop != nil {
				if err := stop(); err != nil {
					return nil, err
				}
			}
		}
	}
	var rows []benchRow
	for i, t := range targets {
		row := summarise(t.name, clients, samples[i]...)
		if t.conns != nil {
			row.Conns = t.conns()
		}
		rows = append(rows, row)
	}
	if o.sporadic {
		// One client calling every gap: past the bond's idle delay (2 ms)
		// each call first takes the stream back from the idle reader.
		for _, gap := range []time.Duration{time.Millisecond, 5 * time.Millisecond} {
			row := measureGap(ctx, fmt.Sprintf("in-process, 1 call per %v + call", gap), 1, d, gap,
				func(int) func(context.Context) error { return inproc })
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// daemonTarget serves p as k on a temp socket, by the daemon's API server
// (or, with nethttp, by net/http alone) and returns the calls of clients
// through it, with net/http's client or with rawClient, made here or, with
// clientProcess, in a process of their own. stop ends it.
func daemonTarget(ctx context.Context, name string, k *callable, p workerPool, clients int, log *slog.Logger, raw, nethttp, clientProcess bool) (benchTarget, func(), error) {
	dir, err := os.MkdirTemp("", "sandboxd-bench-")
	if err != nil {
		return benchTarget{}, nil, err
	}
	cfg := &config{SocketPath: filepath.Join(dir, "s.sock"), SocketMode: 0o600, SocketGID: -1, MaxRequestBytes: defaultMaxRequestBytes,
		DrainTimeout: 5 * time.Second, Callables: []*callable{k}}
	shared := sharedPool{p}
	s, err := newServer(ctx, cfg, log, func(context.Context, poolSpec) (workerPool, error) { return shared, nil })
	if err != nil {
		os.RemoveAll(dir)
		return benchTarget{}, nil, err
	}
	ln, err := net.Listen("unix", cfg.SocketPath)
	if err != nil {
		os.RemoveAll(dir)
		return benchTarget{}, nil, err
	}
	var conns atomic.Int64 // connections accepted: one per client when kept alive
	var closeServer func()
	if nethttp {
		srv := s.httpServer()
		srv.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
		go func() { _ = srv.Serve(ln) }()
		closeServer = func() { srv.Close() }
	} else {
		api := newAPIServer(s, log)
		api.onConn = func() { conns.Add(1) }
		go func() { _ = api.Serve(ln) }()
		closeServer = func() { api.Close() }
	}
	var fnFor func(i int) func(ctx context.Context) error
	var closeClients func()
	var sample func(time.Duration, bool) (benchSample, error)
	if clientProcess {
		proc, err := startBenchClient(benchClientConfig{Socket: cfg.SocketPath, Name: k.Name, Clients: clients, Raw: raw})
		if err != nil {
			closeServer()
			s.drain(time.Second)
			os.RemoveAll(dir)
			return benchTarget{}, nil, err
		}
		sample, closeClients = proc.sample, proc.stop
	} else {
		fnFor, closeClients = benchClients(cfg.SocketPath, k.Name, clients, raw)
	}
	stop := func() {
		closeClients()
		s.drain(time.Second)
		closeServer()
		os.RemoveAll(dir)
	}
	return benchTarget{name: name, fnFor: fnFor, sample: sample, conns: func() int { return int(conns.Load()) }}, stop, nil
}

// benchClients makes n clients of the API at socket, rawClients with raw
// and net/http ones without, and returns the call of name with the
// argument "hello" by client i, and a func that closes the clients.
func benchClients(socket, name string, n int, raw bool) (fnFor func(i int) func(context.Context) error, closeAll func()) {
	args := []json.RawMessage{json.RawMessage(`"hello"`)}
	body, _ := json.Marshal(callRequest{Args: args})
	calls := make([]func(context.Context) error, n)
	closers := make([]func(), n)
	for i := range calls {
		if raw {
			c := newRawClient(socket)
			calls[i] = func(ctx context.Context) error { _, err := c.call(ctx, name, body); return err }
			closers[i] = c.close
		} else {
			c := newClient(socket)
			calls[i] = func(ctx context.Context) error { _, err := c.call(ctx, name, args); return err }
			closers[i] = c.http.CloseIdleConnections
		}
	}
	return func(i int) func(context.Context) error { return calls[i] }, func() {
		for _, c := range closers {
			c()
		}
	}
}

// sharedPool lends a pool to a bench server without letting it close it.
type sharedPool struct{ workerPool }

// Close leaves the lent pool open.
func (sharedPool) Close() error { return nil }

// benchSample is one measurement of a row.
type benchSample struct {
	lat       []time.Duration // sorted
	errors    int
	elapsed   time.Duration
	cpu       time.Duration
	clientCPU time.Duration // a client process's
}

// measureEach runs fnFor(i) from goroutine i for d and summarises.
func measureEach(ctx context.Context, name string, clients int, d time.Duration, fnFor func(i int) func(context.Context) error) benchRow {
	return measureGap(ctx, name, clients, d, 0, fnFor)
}

// measureGap is measureEach with a pause of gap before each call (not
// counted in its latency).
func measureGap(ctx context.Context, name string, clients int, d, gap time.Duration, fnFor func(i int) func(context.Context) error) benchRow {
	return summarise(name, clients, sampleGap(ctx, clients, d, gap, fnFor))
}

// sampleGap runs fnFor(i) from goroutine i for d, with a pause of gap
// before each call, and returns the latencies.
func sampleGap(ctx context.Context, clients int, d, gap time.Duration, fnFor func(i int) func(context.Context) error) benchSample {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([][]time.Duration, clients)
	errs := make([]int, clients)
	var wg sync.WaitGroup
	cpu0 := processCPU()
	start := time.Now()
	deadline := start.Add(d)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn := fnFor(i)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if gap > 0 {
					time.Sleep(gap)
				}
				t := time.Now()
				if err := fn(ctx); err != nil {
					errs[i]++
					continue
				}
				lat[i] = append(lat[i], time.Since(t))
			}
		}()
	}
	wg.Wait()
	sm := benchSample{elapsed: time.Since(start), cpu: processCPU() - cpu0}
	for i := range clients {
		sm.lat = append(sm.lat, lat[i]...)
		sm.errors += errs[i]
	}
	slices.Sort(sm.lat)
	return sm
}

// percentile returns the p-th percentile of sorted latencies.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

// summarise pools samples into a row; Rounds keeps each sample's p50.
func summarise(name string, clients int, samples ...benchSample) benchRow {
	row := benchRow{Name: name, Clients: clients}
	var all []time.Duration
	for _, sm := range samples {
		all = append(all, sm.lat...)
		row.Errors += sm.errors
		row.Elapsed += sm.elapsed
		row.CPU += sm.cpu
		row.ClientCPU += sm.clientCPU
		row.Rounds = append(row.Rounds, percentile(sm.lat, 50))
	}
	slices.Sort(all)
	row.Calls = len(all)
	row.P50, row.P99 = percentile(all, 50), percentile(all, 99)
	return row
}

// benchTable formats rows as markdown; rows[0] is the in-process floor
// the others are compared with.
func benchTable(rows []benchRow) string {
	clientCol := slices.ContainsFunc(rows, func(r benchRow) bool { return r.ClientCPU > 0 })
	s := "| path | clients | calls | errors | calls/s | vs in-process | p50 | p50 vs in-process | p99 | Go CPU/call |"
	sep := "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	if clientCol {
		s, sep = s+" client process CPU/call |", sep+"---:|"
	}
	s += " connections |\n" + sep + "---:|\n"
	rate := func(r benchRow) float64 { return float64(r.Calls) / r.Elapsed.Seconds() }
	perCall := func(r benchRow, d time.Duration) string {
		if n := r.Calls + r.Errors; n > 0 && d > 0 {
			return fmtDur(d / time.Duration(n))
		}
		return "-"
	}
	for i, r := range rows {
		conns, vsRate, vsP50 := "-", "-", "-"
		if r.Conns > 0 {
			conns = fmt.Sprint(r.Conns)
		}
		if i > 0 && rows[0].Calls > 0 && r.Clients == rows[0].Clients {
			vsRate = fmt.Sprintf("%.2fx", rate(r)/rate(rows[0]))
			vsP50 = fmt.Sprintf("%s%s (%.2fx)", sign(r.P50-rows[0].P50), fmtDur(r.P50-rows[0].P50), float64(r.P50)/float64(rows[0].P50))
		}
		s += fmt.Sprintf("| %s | %d | %d | %d | %.0f | %s | %s | %s | %s | %s |", r.Name, r.Clients, r.Calls, r.Errors,
			rate(r), vsRate, fmtDur(r.P50), vsP50, fmtDur(r.P99), perCall(r, r.CPU))
		if clientCol {
			s += " " + perCall(r, r.ClientCPU) + " |"
		}
		s += " " + conns + " |\n"
	}
	if clientCol {
		s += "\nGo CPU/call is this process's CPU time per call: for the sandboxd rows the daemon's alone, their clients running in a process of their own (its CPU time in the next column); the interpreters' is not counted.\n"
	} else {
		s += "\nGo CPU/call is this process's CPU time (the clients' included) per call; the interpreters' is not counted.\n"
	}
	if len(rows) >= 3 {
		s += fmt.Sprintf("sandboxd adds %s (net/http client) / %s (raw client) at p50 over the in-process call (%d clients)",
			fmtDur(rows[1].P50-rows[0].P50), fmtDur(rows[2].P50-rows[0].P50), rows[0].Clients)
		if n := len(rows[0].Rounds); n > 1 && len(rows[2].Rounds) == n {
			var diffs []time.Duration
			for i := range n {
				diffs = append(diffs, rows[2].Rounds[i]-rows[0].Rounds[i])
			}
			slices.Sort(diffs)
			s += fmt.Sprintf("; raw client per round: median %s, from %s to %s (%d rounds)", fmtDur(diffs[n/2]), fmtDur(diffs[0]), fmtDur(diffs[n-1]), n)
		}
		s += ".\n"
	}
	return s
}

func sign(d time.Duration) string {
	if d >= 0 {
		return "+"
	}
	return ""
}

func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDur(-d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
