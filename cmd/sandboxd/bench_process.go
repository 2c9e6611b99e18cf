package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// bench-daemon -client-process runs each sandboxd row's clients in a
// process of their own, as the daemon's clients are in practice: this
// process then holds only the daemon, whose CPU time per call the row
// shows, and the clients' goroutines do not share its scheduler. The
// client process is this executable started with benchClientEnv set to
// its settings (JSON); it reads commands on stdin ("warm NS" or "run NS":
// run the clients for NS nanoseconds) and answers each with a line of
// JSON (benchClientResult).

const benchClientEnv = "SANDBOXD_BENCH_CLIENT"

// benchClientConfig is what a client process runs.
type benchClientConfig struct {
	Socket  string `json:"socket"`
	Name    string `json:"name"`
	Clients int    `json:"clients"`
	Raw     bool   `json:"raw"`
}

// benchClientResult is a client process's measurement.
type benchClientResult struct {
	Lat     []time.Duration `json:"lat"` // sorted
	Errors  int             `json:"errors"`
	Elapsed time.Duration   `json:"elapsed"`
	CPU     time.Duration   `json:"cpu"` // the client process's
	Err     string          `json:"err,omitempty"`
}

// runBenchClient is the client process: it returns when stdin ends.
func runBenchClient(conf string, stdin io.Reader, stdout io.Writer) int {
	var c benchClientConfig
	if err := json.Unmarshal([]byte(conf), &c); err != nil || c.Clients < 1 {
		fmt.Fprintf(os.Stderr, "sandboxd bench client: bad %s: %v\n", benchClientEnv, err)
		return 2
	}
	fnFor, closeClients := benchClients(c.Socket, c.Name, c.Clients, c.Raw)
	defer closeClients()
	enc := json.NewEncoder(stdout)
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		verb, arg, _ := strings.Cut(sc.Text(), " ")
		ns, err := strconv.ParseInt(arg, 10, 64)
		if err != nil || (verb != "run" && verb != "warm") {
			_ = enc.Encode(benchClientResult{Err: "bad command " + strconv.Quote(sc.Text())})
			continue
		}
		sm := sampleGap(context.Background(), c.Clients, time.Duration(ns), 0, fnFor)
		res := benchClientResult{Errors: sm.errors, Elapsed: sm.elapsed, CPU: sm.cpu}
		if verb == "run" {
			res.Lat = sm.lat
		}
		if err := enc.Encode(res); err != nil {
			return 1
		}
	}
	return 0
}

// benchClientProc is a running client process.
type benchClientProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startBenchClient starts a client process.
func startBenchClient(c benchClientConfig) (*benchClientProc, error) {
	// This very executable: sandbox.Init may run it from a sealed copy
	// that only /proc/self/exe still names.
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	conf, _ := json.Marshal(c)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), benchClientEnv+"="+string(conf))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the client process: %w", err)
	}
	return &benchClientProc{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}, nil
}

// sample runs the clients for d; warm discards the latencies. cpu is this
// process's CPU time meanwhile (the daemon's), clientCPU the client
// process's.
func (p *benchClientProc) sample(d time.Duration, warm bool) (benchSample, error) {
	verb := "run"
	if warm {
		verb = "warm"
	}
	cpu0 := processCPU()
	if _, err := fmt.Fprintf(p.in, "%s %d\n", verb, d.Nanoseconds()); err != nil {
		return benchSample{}, fmt.Errorf("client process: %w", err)
	}
	line, err := p.out.ReadBytes('\n')
	if err != nil {
		return benchSample{}, fmt.Errorf("client process: %w", err)
	}
	cpu := processCPU() - cpu0
	var res benchClientResult
	if err := json.Unmarshal(line, &res); err != nil {
		return benchSample{}, fmt.Errorf("client process: %w", err)
	}
	if res.Err != "" {
		return benchSample{}, fmt.Errorf("client process: %s", res.Err)
	}
	return benchSample{lat: res.Lat, errors: res.Errors, elapsed: res.Elapsed, cpu: cpu, clientCPU: res.CPU}, nil
}

// stop ends the client process.
func (p *benchClientProc) stop() {
	p.in.Close()
	_ = p.cmd.Wait()
}
