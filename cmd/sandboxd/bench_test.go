package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// benchServer serves the null pool as callable "ident" on a temp socket,
// as bench-daemon's null rows do: by the API server, or by net/http alone.
func benchServer(b *testing.B, nethttp bool) (socket string) {
	b.Helper()
	dir := b.TempDir()
	k := &callable{Name: "ident", Function: "ident"}
	cfg := &config{SocketPath: filepath.Join(dir, "s.sock"), SocketMode: 0o600, SocketGID: -1, MaxRequestBytes: defaultMaxRequestBytes,
		DrainTimeout: 5 * time.Second, Callables: []*callable{k}}
	s, err := newServer(context.Background(), cfg, slog.New(slog.DiscardHandler), func(context.Context, poolSpec) (workerPool, error) { return nullPool{}, nil })
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("unix", cfg.SocketPath)
	if err != nil {
		b.Fatal(err)
	}
	if nethttp {
		srv := s.httpServer()
		go func() { _ = srv.Serve(ln) }()
		b.Cleanup(func() { s.drain(time.Second); srv.Close() })
	} else {
		api := newAPIServer(s, slog.New(slog.DiscardHandler))
		go func() { _ = api.Serve(ln) }()
		b.Cleanup(func() { s.drain(time.Second); api.Close() })
	}
	return cfg.SocketPath
}

// BenchmarkDaemonNull measures the daemon's own cost per call (HTTP, JSON,
// credentials, metrics) with the null pool and the raw client, from 4
// clients per CPU; cpu-µs/op is this process's CPU time (server and clients).
func BenchmarkDaemonNull(b *testing.B) {
	b.Run("api", func(b *testing.B) { benchmarkDaemonNull(b, false) })
	b.Run("nethttp", func(b *testing.B) { benchmarkDaemonNull(b, true) })
}

func benchmarkDaemonNull(b *testing.B, nethttp bool) {
	socket := benchServer(b, nethttp)
	body, _ := json.Marshal(callRequest{Args: []json.RawMessage{json.RawMessage(`"hello"`)}})
	b.SetParallelism(4) // 4 clients per CPU (GOMAXPROCS)
	b.ReportAllocs()
	var errs atomic.Int64
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := newRawClient(socket)
		defer c.close()
		for pb.Next() {
			if _, err := c.call(context.Background(), "ident", body); err != nil {
				errs.Add(1)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(processCPU()-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	if n := errs.Load(); n > 0 {
		b.Fatalf("%d errors", n)
	}
}

// TestBenchDaemonClientProcess runs the load generator's clients in a
// process of their own (this test binary, as bench-daemon -client-process
// runs sandboxd) against the null pool: every row has calls and no error,
// and the table shows the client process's CPU.
func TestBenchDaemonClientProcess(t *testing.T) {
	k := &callable{Name: "ident", Function: "ident"}
	rows, err := benchDaemonOpts(context.Background(), k, func(context.Context, poolSpec) (workerPool, error) { return nullPool{}, nil },
		benchOptions{clients: 3, d: 400 * time.Millisecond, rounds: 2, log: slog.New(slog.DiscardHandler), clientProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("rows: %+v", rows)
	}
	for i, r := range rows {
		if r.Calls == 0 || r.Errors != 0 || len(r.Rounds) != 2 || (i > 0) != (r.ClientCPU > 0) {
			t.Errorf("row %+v", r)
		}
	}
	if tab := benchTable(rows); !strings.Contains(tab, "client process CPU/call") || !strings.Contains(tab, "per round: median") {
		t.Errorf("table:\n%s", tab)
	}
}
