package bond

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/sandbond/sandbond/drivers"
	"mvdan.cc/sh/v3/shell"
	"mvdan.cc/sh/v3/syntax"
)

// launchPlan is how an interpreter is started.
type launchPlan struct {
	spec     *LaunchSpec
	launcher Launcher
	interp   string              // the resolved interpreter, "" when a command names it
	local    *drivers.LocalStart // what handshake sends instead of the preamble, or nil
}

// buildSpec computes the interpreter's command line and picks the launcher.
// When the host runs a resolved interpreter itself and the driver has a
// local start ready for it, the command line carries its arguments.
func buildSpec(ctx context.Context, drv *drivers.Driver, o Options) (launchPlan, error) {
	var extra []string
	if !o.NoDefaultArgs {
		extra = append(extra, drv.DefaultArgs...)
	}
	in, out := 3, 4
	if o.Channel == ChannelStdio {
		in, out = 0, 1
	}
	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	p := launchPlan{spec: &LaunchSpec{Language: drv.Name, Dir: o.Dir, Env: drv.WithEnv(env)}, launcher: o.Launcher}
	if o.Command == "" {
		interp, err := drv.ResolveInterpreter(ctx, drv.Command)
		if err != nil {
			return launchPlan{}, err
		}
		p.interp = interp
		if p.launcher == nil {
			p.launcher = ExecLauncher{}
		}
		if _, plain := p.launcher.(ExecLauncher); plain {
			if p.local = drv.LocalStartFor(ctx, interp); p.local != nil {
				extra = append(extra, p.local.Args...)
			}
		}
		extra = append(append(extra, o.Args...), drv.Stage1Args(in, out)...)
		p.spec.Argv = append([]string{interp}, extra...)
		return p, nil
	}
	extra = append(append(extra, o.Args...), drv.Stage1Args(in, out)...)
	argv, viaShell, err := commandLine(o.Command, extra)
	if err != nil {
		return launchPlan{}, err
	}
	p.spec.Argv = argv
	if p.launcher == nil {
		p.launcher = ExecLauncher{InterruptGroup: viaShell}
	}
	return p, nil
}

// commandLine turns a shell command string and the words to append into
// an argv. Simple commands are split and run directly; others run under
// /bin/sh. Words appended to an ssh command are quoted again for the
// remote shell.
func commandLine(command string, extra []string) (argv []string, viaShell bool, err error) {
	remote := isSSH(command)
	words := make([]string, len(extra))
	for i, w := range extra {
		if remote {
			w = quote(w)
		}
		words[i] = w
	}
	if !strings.ContainsAny(command, "|&;<>()$`\\\"'*?[]#~=%{}\n") {
		return append(strings.Fields(command), words...), false, nil
	}
	line := command
	for _, w := range words {
		line += " " + quote(w)
	}
	return []string{"/bin/sh", "-c", line}, true, nil
}

func isSSH(command string) bool {
	fields, err := shell.Fields(command, func(string) string { return "" })
	if err != nil { // shell operators such as a redirect: the first word still names the program
		fields = strings.Fields(command)
	}
	if len(fields) == 0 {
		return false
	}
	return filepath.Base(fields[0]) == "ssh"
}

func quote(s string) string {
	q, err := syntax.Quote(s, syntax.LangPOSIX)
	if err != nil { // only for strings POSIX shells cannot hold (NUL)
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return q
}
