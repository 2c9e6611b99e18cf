package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/sandbond/sandbond/drivers"
	"github.com/sandbond/sandbond/internal/bench"
)

func benchVerb() verb {
	return verb{name: "bench", summary: "measure sandbond against raw floors and print a markdown table", run: runBench}
}

func runBench(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "", stderr)
	langs := fs.String("lang", "", "comma-separated languages (default: every language whose interpreter is installed)")
	rounds := fs.Int("rounds", 7, "measurements per side and row, alternating; the table shows medians")
	benchtime := fs.Duration("benchtime", 1500*time.Millisecond, "time spent on a row (with -sandbox: one measurement)")
	withSandbox := fs.Bool("sandbox", false, "also measure the sandbox rows (cold start, fresh sandbox from a warm pool, call in a sandbox, memory per warm sandbox); needs a host that allows containers")
	if err := parse(fs, args); err != nil {
		return err
	}
	var list []string
	if *langs != "" {
		list = strings.Split(*langs, ",")
	} else {
		for _, l := range bench.Languages() {
			if d, err := drivers.Lookup(l); err == nil {
				if _, err := exec.LookPath(d.Command); err == nil {
					list = append(list, l)
				}
			}
		}
	}
	for _, l := range list {
		if _, err := drivers.Lookup(l); err != nil {
			return err
		}
	}
	// Off the main goroutine: the sandbox package pins it to the main
	// thread, which makes its wake-ups slower than any other goroutine's.
	var results []bench.Result
	done := make(chan struct{})
	go func() { defer close(done); results = bench.Run(bench.Cases(list), *rounds, *benchtime) }()
	<-done
	fmt.Fprint(stdout, bench.Table(results))
	if *withSandbox {
		sb := bench.RunSandbox(list, *rounds, *benchtime)
		fmt.Fprint(stdout, "\n", bench.SandboxTable(sb))
		mem := bench.SandboxMemory(list, 3)
		fmt.Fprint(stdout, "\n", bench.MemoryTable(mem))
		results = append(results, sb...)
		for _, m := range mem {
			if m.Err != nil {
				return fmt.Errorf("%s memory per warm sandbox: %w", m.Lang, m.Err)
			}
		}
	}
	for _, r := range results {
		if r.Err != nil {
			return fmt.Errorf("%s %s: %w", r.Case.Lang, r.Case.Name, r.Err)
		}
	}
	return nil
}
