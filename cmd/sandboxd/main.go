// Command sandboxd serves sandboxed callables to local processes and is
// sandbond's command-line tool. Run "sandboxd help" for the verbs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sandbond/sandbond/sandbox"
)

// A verb is one sub-command; each lives in its own file.
type verb struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func verbs() []verb {
	return []verb{serveVerb(), callVerb(), runVerb(), checkVerb(), attachVerb(), benchVerb(), benchDaemonVerb(), versionVerb()}
}

// errUsage marks an error already explained by a usage message.
var errUsage = errors.New("usage")

func main() {
	sandbox.Init()
	if conf := os.Getenv(benchClientEnv); conf != "" { // bench-daemon -client-process
		os.Exit(runBenchClient(conf, os.Stdin, os.Stdout))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, v := range verbs() {
		if v.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := v.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(stderr, "sandboxd %s: %v\n", v.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "sandboxd: unknown verb %q; run \"sandboxd help\" for the list\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: sandboxd VERB [flags]\n\nverbs:")
	for _, v := range verbs() {
		fmt.Fprintf(w, "  %-13s %s\n", v.name, v.summary)
	}
	fmt.Fprintln(w, "\nRun \"sandboxd VERB -h\" for a verb's flags.")
}

// newFlags returns a flag set that reports errors as one line. A help
// text, when given, is printed before the flags' defaults by -h.
func newFlags(name, help string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sandboxd "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if help != "" {
		fs.Usage = func() { fmt.Fprint(stderr, help); fs.PrintDefaults() }
	}
	return fs
}

// parse parses flags, turning a flag error into errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}
