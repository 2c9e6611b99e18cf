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
	fs := newFlags("bench", stderr)
	langs := fs.String("lang", "", "comma-separated languages (default: every language whose interpreter is installed)")
	rounds := fs.Int("rounds", 5, "measurements per side; the table shows medians")
	benchtime := fs.Duration("benchtime", 200*time.Millisecond, "duration of one measurement")
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
	results := bench.Run(bench.Cases(list), *rounds, *benchtime)
	fmt.Fprint(stdout, bench.Table(results))
	for _, r := range results {
		if r.Err != nil {
			return fmt.Errorf("%s %s: %w", r.Case.Lang, r.Case.Name, r.Err)
		}
	}
	return nil
}
