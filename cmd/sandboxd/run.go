package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/policy"
)

func runVerb() verb {
	return verb{name: "run", summary: "run a script or an expression once in a sandbox for a profile", run: runRun}
}

const runHelp = `usage: sandboxd run -profile PROFILE [-lang LANG] (-e EXPR | -f FILE [-e EXPR])

Starts one sandboxed interpreter for PROFILE (a shipped profile's name,
such as decoder or worker, or a profile file), runs the script FILE as
statements, then evaluates EXPR and prints its value as JSON. What the
interpreter prints goes to stderr. The profile's limits apply; the wall
time per call bounds the script and the expression each.

examples:
  sandboxd run -profile decoder -lang python -e '1+1'
  sandboxd run -profile worker -f script.py -e 'main()'

flags:
`

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", runHelp, stderr)
	profile := fs.String("profile", "", "a shipped profile `name` or a profile file (required)")
	lang := fs.String("lang", "", "the `language`, overriding the profile's: python, php, perl or node")
	expr := fs.String("e", "", "an `expression` to evaluate; its value is printed as JSON")
	file := fs.String("f", "", "a script `file` to run as statements first")
	verbose := fs.Bool("v", false, "log what the sandbox does to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *profile == "":
		fmt.Fprintln(stderr, "sandboxd run: -profile is required; fix: -profile decoder (or a profile file)")
		return errUsage
	case *expr == "" && *file == "":
		fmt.Fprintln(stderr, "sandboxd run: nothing to run; fix: give -e EXPR or -f FILE")
		return errUsage
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "sandboxd run: unexpected argument %q; fix: give the script with -f FILE\n", fs.Arg(0))
		return errUsage
	}
	p, err := loadProfileRef(*profile)
	if err != nil {
		return problemLines("run", err)
	}
	if *lang != "" {
		p.Language = *lang
		if err := p.Validate(); err != nil {
			return problemLines("run", err)
		}
	}
	var script string
	if *file != "" {
		data, err := readSmallFile(*file, maxSetupBytes)
		if err != nil {
			return fmt.Errorf("%v; fix: give a readable UTF-8 script with -f", err)
		}
		script = string(data)
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	v, err := runOnce(ctx, p, script, *expr, log, stderr)
	if err != nil {
		return err
	}
	if *expr == "" {
		return nil
	}
	data, err := bond.MarshalValue(v)
	if err != nil {
		return err
	}
	_, err = stdout.Write(append(data, '\n'))
	return err
}

// runOnce starts one worker for p, runs script and evaluates expr.
func runOnce(ctx context.Context, p *policy.Profile, script, expr string, log *slog.Logger, out io.Writer) (any, error) {
	l, release, err := newLauncher(p, log)
	if err != nil {
		return nil, err
	}
	defer release()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second+p.WithDefaults().Limits.WallPerCall.Std())
	defer cancel()
	b, err := openWorker(sctx, p, l, "", log, out, out)
	if err != nil {
		return nil, explain(err)
	}
	defer b.Close()
	if script != "" {
		if err := b.EvalBlock(ctx, script); err != nil {
			return nil, explain(err)
		}
	}
	if expr == "" {
		return nil, nil
	}
	v, err := b.Eval(ctx, expr)
	if err != nil {
		return nil, explain(err)
	}
	return v, nil
}

// explain turns an error of a worker into the API's kind and message, one
// line.
func explain(err error) error {
	e := classify(err)
	if e.Kind == kindInternal {
		return err
	}
	return e
}
