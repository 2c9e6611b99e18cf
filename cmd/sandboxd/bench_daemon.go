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

const benchDaemonHelp = `usage: sandboxd bench-daemon [-clients N] [-duration D] [-profile P] [-lang L]

Starts a pool of sandboxed workers for an identity function, then measures
in one run, with N concurrent clients each:
  in-process  pool.Call from N goroutines
  sandboxd    the same calls through the daemon's API on a temp Unix socket,
              once with net/http's client and once with a light HTTP/1.1
              client (one kept-alive connection per client, no goroutines
              of its own)
  null        the daemon's API with a pool that answers at once (the
              daemon's own cost: HTTP, JSON, credentials, metrics)
and prints throughput, p50/p99 latency and this process's CPU time per
call as a markdown table. The profile flags profile the sandboxd row with
the light client.

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
}

func runBenchDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench-daemon", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchDaemonHelp); fs.PrintDefaults() }
	clients := fs.Int("clients", 8, "concurrent clients")
	duration := fs.Duration("duration", 3*time.Second, "measuring time per row")
	profile := fs.String("profile", "worker", "profile of the workers (shipped name or file)")
	lang := fs.String("lang", "python", "language of the workers")
	workers := fs.Int("workers", 2, "pool size (max_size and min_idle)")
	var prof benchProfiles
	fs.StringVar(&prof.cpu, "cpuprofile", "", "write a CPU profile of the sandboxd row to `file`")
	fs.StringVar(&prof.block, "blockprofile", "", "write a block profile of the sandboxd row to `file`")
	fs.StringVar(&prof.mutex, "mutexprofile", "", "write a mutex profile of the sandboxd row to `file`")
	fs.StringVar(&prof.trace, "trace", "", "write a runtime trace of the sandboxd row to `file`")
	chaos := fs.Int("chaos", 0, "after the table, run the clients again while killing `N` random workers' interpreters, and check that every call was answered and nothing was left behind")
	sporadic := fs.Bool("sporadic", false, "add rows of in-process calls made 1 ms and 5 ms apart (the bond's idle reader takes over after 2 ms)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *clients < 1 || *duration <= 0 || *workers < 1 {
		fmt.Fprintln(stderr, "sandboxd bench-daemon: -clients, -workers and -duration must be positive")
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
	rows, err := benchDaemonOpts(ctx, k, newSandboxPool, benchOptions{clients: *clients, d: *duration, log: log, prof: &prof, sporadic: *sporadic})
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

// benchDaemon measures the rows of the table for callable k.
// prof, when not nil, names the profiles to take of the measured sandboxd
// row (raw client).
func benchDaemon(ctx context.Context, k *callable, factory poolFactory, clients int, d time.Duration, log *slog.Logger, prof *benchProfiles) ([]benchRow, error) {
	return benchDaemonOpts(ctx, k, factory, benchOptions{clients: clients, d: d, log: log, prof: prof})
}

// benchOptions are bench-daemon's settings.
type benchOptions struct {
	clients  int
	d        time.Duration
	log      *slog.Logger
	prof     *benchProfiles
	sporadic bool // add rows of sporadic in-process calls (the bond's idle reader)
}

func benchDaemonOpts(ctx context.Context, k *callable, factory poolFactory, o benchOptions) ([]benchRow, error) {
	clients, d := o.clients, o.d
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
	var rows []benchRow
	measure(ctx, "warm-up", clients, d/4, inproc)
	rows = append(rows, measure(ctx, "in-process pool.Call", clients, d, inproc))
	for _, mode := range []struct {
		name string
		pool workerPool
		raw  bool
		prof *benchProfiles
	}{
		{"sandboxd (Unix socket API), net/http client", pool, false, nil},
		{"sandboxd (Unix socket API), raw HTTP/1.1 client", pool, true, o.prof},
		{"sandboxd, null pool, net/http client", nullPool{}, false, nil},
		{"sandboxd, null pool, raw HTTP/1.1 client", nullPool{}, true, nil},
	} {
		row, err := measureDaemon(ctx, mode.name, k, mode.pool, clients, d, o.log, mode.prof, mode.raw)
		if err != nil {
			return nil, err
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

// measureDaemon serves p as k on a temp socket and measures calls through
// the API, with net/http's client or with rawClient.
func measureDaemon(ctx context.Context, name string, k *callable, p workerPool, clients int, d time.Duration, log *slog.Logger, prof *benchProfiles, raw bool) (benchRow, error) {
	dir, err := os.MkdirTemp("", "sandboxd-bench-")
	if err != nil {
		return benchRow{}, err
	}
	defer os.RemoveAll(dir)
	cfg := &config{SocketPath: filepath.Join(dir, "s.sock"), SocketMode: 0o600, SocketGID: -1, MaxRequestBytes: defaultMaxRequestBytes,
		DrainTimeout: 5 * time.Second, Callables: []*callable{k}}
	shared := sharedPool{p}
	s, err := newServer(ctx, cfg, log, func(context.Context, poolSpec) (workerPool, error) { return shared, nil })
	if err != nil {
		return benchRow{}, err
	}
	ln, err := net.Listen("unix", cfg.SocketPath)
	if err != nil {
		return benchRow{}, err
	}
	var conns atomic.Int64 // connections accepted: one per client when kept alive
	srv := &http.Server{Handler: s.handler(), ConnContext: connContext, ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	args := []json.RawMessage{json.RawMessage(`"hello"`)}
	var call func(i int) func(ctx context.Context) error
	if raw {
		cls := make([]*rawClient, clients)
		for i := range cls {
			cls[i] = newRawClient(cfg.SocketPath)
			defer cls[i].close()
		}
		body, _ := json.Marshal(callRequest{Args: args})
		call = func(i int) func(ctx context.Context) error {
			return func(ctx context.Context) error {
				_, err := cls[i].call(ctx, k.Name, body)
				return err
			}
		}
	} else {
		cls := make([]*client, clients)
		for i := range cls {
			cls[i] = newClient(cfg.SocketPath)
		}
		call = func(i int) func(ctx context.Context) error {
			return func(ctx context.Context) error {
				_, err := cls[i].call(ctx, k.Name, args)
				return err
			}
		}
	}
	measureEach(ctx, "warm-up", clients, d/4, call)
	stop, err := prof.start()
	if err != nil {
		return benchRow{}, err
	}
	row := measureEach(ctx, name, clients, d, call)
	if err := stop(); err != nil {
		return benchRow{}, err
	}
	row.Conns = int(conns.Load())
	s.drain(time.Second)
	return row, nil
}

// sharedPool lends a pool to a bench server without letting it close it.
type sharedPool struct{ workerPool }

// Close leaves the lent pool open.
func (sharedPool) Close() error { return nil }

// measure runs fn from clients goroutines for d.
func measure(ctx context.Context, name string, clients int, d time.Duration, fn func(context.Context) error) benchRow {
	return measureEach(ctx, name, clients, d, func(int) func(context.Context) error { return fn })
}

// measureEach runs fnFor(i) from goroutine i for d and summarises.
func measureEach(ctx context.Context, name string, clients int, d time.Duration, fnFor func(i int) func(context.Context) error) benchRow {
	return measureGap(ctx, name, clients, d, 0, fnFor)
}

// measureGap is measureEach with a pause of gap before each call (not
// counted in its latency).
func measureGap(ctx context.Context, name string, clients int, d, gap time.Duration, fnFor func(i int) func(context.Context) error) benchRow {
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
	row := benchRow{Name: name, Clients: clients, Elapsed: time.Since(start), CPU: processCPU() - cpu0}
	var all []time.Duration
	for i := range clients {
		all = append(all, lat[i]...)
		row.Errors += errs[i]
	}
	row.Calls = len(all)
	slices.Sort(all)
	if n := len(all); n > 0 {
		row.P50, row.P99 = all[n/2], all[min(n-1, n*99/100)]
	}
	return row
}

// benchTable formats rows as markdown.
func benchTable(rows []benchRow) string {
	s := "| path | clients | calls | errors | calls/s | p50 | p99 | Go CPU/call | connections |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
	for _, r := range rows {
		conns, cpu := "-", "-"
		if r.Conns > 0 {
			conns = fmt.Sprint(r.Conns)
		}
		if n := r.Calls + r.Errors; n > 0 && r.CPU > 0 {
			cpu = fmtDur(r.CPU / time.Duration(n))
		}
		s += fmt.Sprintf("| %s | %d | %d | %d | %.0f | %s | %s | %s | %s |\n", r.Name, r.Clients, r.Calls, r.Errors,
			float64(r.Calls)/r.Elapsed.Seconds(), fmtDur(r.P50), fmtDur(r.P99), cpu, conns)
	}
	s += "\nGo CPU/call is this process's CPU time (the clients' included) per call; the interpreters' is not counted.\n"
	if len(rows) >= 3 {
		s += fmt.Sprintf("sandboxd adds %s (net/http client) / %s (raw client) at p50 over the in-process call (%d clients).\n",
			fmtDur(rows[1].P50-rows[0].P50), fmtDur(rows[2].P50-rows[0].P50), rows[0].Clients)
	}
	return s
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
