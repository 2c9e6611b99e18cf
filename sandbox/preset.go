package sandbox

import (
	"fmt"
	"strings"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/drivers"
	"github.com/sandbond/sandbond/policy"
	"mvdan.cc/sh/v3/syntax"
)

// PresetOptions returns the bond options that start a profile's interpreter
// through one of the preset launchers, which isolate less than the
// container but need nothing but the command they name:
//
//   - plain: a child process of this program, with the profile's
//     environment allowlist;
//   - sudo: "sudo -n -u USER -- INTERPRETER", as another local user (sudo
//     resets the environment and closes descriptors above 2, so the
//     protocol travels on stdio);
//   - ssh: "ssh -T -o BatchMode=yes [-o OPTION]... -- HOST INTERPRETER", on
//     another host with nothing installed there but the interpreter (the
//     driver is injected over the connection; the arguments appended to the
//     command are quoted again for the remote shell);
//   - lxc: "lxc-execute -n CONTAINER -- INTERPRETER", in an lxc application
//     container.
//
// The interpreter is the profile's, or the driver's default command. Over
// sudo, ssh and lxc a cancelled call cannot deliver a remote Ctrl+C through
// the intermediate command: it ends the bond instead. Limits (message size,
// output, time per call) are not set here; the caller adds them. It
// returns an error for the container launcher, which is not a preset.
func PresetOptions(p *policy.Profile) (*bond.Options, error) {
	drv, err := drivers.Lookup(p.Language)
	if err != nil {
		return nil, fmt.Errorf("profile %q: %w", p.Name, err)
	}
	interp := p.Interpreter
	if interp == "" {
		interp = drv.Command
	}
	l := p.Launcher
	o := &bond.Options{Channel: bond.ChannelStdio}
	switch l.Type {
	case policy.LauncherPlain:
		o.Channel, o.Env = bond.ChannelFDs, profileEnv(p)
		if p.Interpreter != "" {
			o.Command = shellQuote(p.Interpreter)
		}
	case policy.LauncherSudo:
		if l.User == "" {
			return nil, fmt.Errorf("profile %q: launcher sudo needs launcher.user", p.Name)
		}
		o.Command = join("sudo", "-n", "-u", l.User, "--", interp)
	case policy.LauncherSSH:
		if l.Host == "" {
			return nil, fmt.Errorf("profile %q: launcher ssh needs launcher.host", p.Name)
		}
		words := []string{"ssh", "-T", "-o", "BatchMode=yes"}
		for _, opt := range l.SSHOptions {
			words = append(words, "-o", opt)
		}
		o.Command = join(append(words, "--", l.Host, interp)...)
	case policy.LauncherLXC:
		if l.Container == "" {
			return nil, fmt.Errorf("profile %q: launcher lxc needs launcher.container", p.Name)
		}
		o.Command = join("lxc-execute", "-n", l.Container, "--", interp)
	default:
		return nil, fmt.Errorf("profile %q: launcher %q is not a preset", p.Name, l.Type)
	}
	return o, nil
}

func join(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}

// shellQuote quotes a word for a POSIX shell, leaving plain words bare.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n|&;<>()$`\\\"'*?[]#~{}") {
		return s
	}
	q, err := syntax.Quote(s, syntax.LangPOSIX)
	if err != nil {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return q
}
