package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
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
  sandboxd    the same calls through the daemon's API on a temp Unix socket
  null        the daemon's API with a pool that answers at once (the
              daemon's own cost: HTTP, JSON, credentials, metrics)
and prints throughput and p50/p99 latency as a markdown table.

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
}

func runBenchDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench-daemon", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchDaemonHelp); fs.PrintDefaults() }
	clients := fs.Int("clients", 8, "concurrent clients")
	duration := fs.Duration("duration", 3*time.Second, "measuring time per row")
	profile := fs.String("profile", "worker", "profile of the workers (shipped name or file)")
	lang := fs.String("lang", "python", "language of the workers")
	workers := fs.Int("workers", 2, "pool size (max_size and min_idle)")
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
	rows, err := benchDaemon(ctx, k, newSandboxPool, *clients, *duration, log)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, benchTable(rows))
	return nil
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
func benchDaemon(ctx context.Context, k *callable, factory poolFactory, clients int, d time.Duration, log *slog.Logger) ([]benchRow, error) {
	pool, err := factory(ctx, poolSpec{Profile: k.Profile, Language: k.Language, Setup: k.Setup, Function: k.Function, Logger: log})
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
	}{{"sandboxd (Unix socket API)", pool}, {"sandboxd, null pool", nullPool{}}} {
		row, err := measureDaemon(ctx, mode.name, k, mode.pool, clients, d, log)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// measureDaemon serves p as k on a temp socket and measures calls through
// the API.
func measureDaemon(ctx context.Context, name string, k *callable, p workerPool, clients int, d time.Duration, log *slog.Logger) (benchRow, error) {
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
	srv := &http.Server{Handler: s.handler(), ConnContext: connContext}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	var mu sync.Mutex
	conns := map[int]*client{}
	clientFor := func(i int) *client {
		mu.Lock()
		defer mu.Unlock()
		if conns[i] == nil {
			conns[i] = newClient(cfg.SocketPath)
		}
		return conns[i]
	}
	args := []json.RawMessage{json.RawMessage(`"hello"`)}
	call := func(i int) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			_, err := clientFor(i).call(ctx, k.Name, args)
			return err
		}
	}
	measureEach(ctx, "warm-up", clients, d/4, call)
	row := measureEach(ctx, name, clients, d, call)
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([][]time.Duration, clients)
	errs := make([]int, clients)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn := fnFor(i)
			for time.Now().Before(deadline) && ctx.Err() == nil {
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
	row := benchRow{Name: name, Clients: clients, Elapsed: time.Since(start)}
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
	s := "| path | clients | calls | errors | calls/s | p50 | p99 |\n|---|---:|---:|---:|---:|---:|---:|\n"
	for _, r := range rows {
		s += fmt.Sprintf("| %s | %d | %d | %d | %.0f | %s | %s |\n", r.Name, r.Clients, r.Calls, r.Errors,
			float64(r.Calls)/r.Elapsed.Seconds(), fmtDur(r.P50), fmtDur(r.P99))
	}
	if len(rows) >= 2 {
		s += fmt.Sprintf("\nsandboxd adds %s at p50 over the in-process call (%d clients).\n", fmtDur(rows[1].P50-rows[0].P50), rows[0].Clients)
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
