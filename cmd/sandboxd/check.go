package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sandbond/sandbond/policy"
	"github.com/sandbond/sandbond/profiles"
	"github.com/sandbond/sandbond/sandbox"
	"sigs.k8s.io/yaml"
)

func checkVerb() verb {
	return verb{name: "check", summary: "validate a profile or a config and say what it grants", run: runCheck}
}

const checkHelp = `usage: sandboxd check FILE|PROFILE...

Validates each profile file, shipped profile name (%s) or sandboxd config
file and prints, in words a reviewer can read, what it grants: launcher and
isolation, network, host paths, limits, the syscall filter, the pool, and
for a config who may call which callable. A file is a config when it has
"callables". On a problem, prints one line per problem naming the field
and the fix, and exits 1.

flags:
`

func runCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", fmt.Sprintf(checkHelp, strings.Join(profiles.Names(), ", ")), stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "sandboxd check: name a profile or config file; fix: sandboxd check FILE")
		return errUsage
	}
	var failed []string
	for i, ref := range fs.Args() {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		text, err := checkOne(ref)
		if err != nil {
			failed = append(failed, errorLines(err)...)
			continue
		}
		fmt.Fprint(stdout, text)
	}
	if len(failed) > 0 {
		return problemLines("check", fmt.Errorf("%s", strings.Join(failed, "\n")))
	}
	return nil
}

// checkOne validates one profile or config and describes it.
func checkOne(ref string) (string, error) {
	if slices.Contains(profiles.Names(), ref) {
		if _, err := os.Stat(ref); err != nil {
			p, err := profiles.Load(ref)
			if err != nil {
				return "", err
			}
			return p.Describe(), nil
		}
	}
	data, err := readSmallFile(ref, maxConfigBytes)
	if err != nil {
		return "", fmt.Errorf("%v; fix: give a profile or config file, or a shipped profile (%s)", err, strings.Join(profiles.Names(), ", "))
	}
	if !isConfig(data, ref) {
		p, err := policy.Load(ref)
		if err != nil {
			return "", err
		}
		return p.Describe(), nil
	}
	cfg, err := loadConfig(ref)
	if err != nil {
		return "", err
	}
	return describeConfig(cfg), nil
}

// isConfig reports whether a file is a sandboxd config (it has
// "callables") rather than a profile.
func isConfig(data []byte, name string) bool {
	jsonData := data
	if ext := strings.ToLower(filepath.Ext(name)); ext != ".json" && !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		var err error
		if jsonData, err = yaml.YAMLToJSON(data); err != nil {
			return false
		}
	}
	var top map[string]any
	if yaml.Unmarshal(jsonData, &top) != nil {
		return false
	}
	_, ok := top["callables"]
	return ok
}

// describeConfig says what a config grants.
func describeConfig(c *config) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("Config %s", c.Path)
	line("Socket: %s, mode %04o%s (ignored under socket activation)", c.SocketPath, c.SocketMode, groupText(c.SocketGID))
	if c.MetricsListen == "" {
		line("Metrics: off")
	} else {
		line("Metrics: Prometheus on http://%s/metrics (anyone who can reach that address can read them)", c.MetricsListen)
	}
	if c.AttachEnabled {
		line("Attach: ENABLED (root and the daemon's own user may open a REPL on a live worker of any callable, and change it for the calls it serves next)")
	} else {
		line("Attach: off")
	}
	line("Requests: bodies up to %s; on SIGTERM calls in progress get %s to finish", policy.FormatBytes(c.MaxRequestBytes), c.DrainTimeout)
	for _, k := range c.Callables {
		line("")
		line("Callable %q: calls %s in %s (profile %s)", k.Name, k.Function, k.Language, k.ProfileRef)
		line("Callers: %s", callersText(k))
		if k.Setup != "" {
			line("Setup code: %d bytes, run once per worker", len(k.Setup))
		}
		if !isContainer(k.Profile) {
			line("Workers: %s", presetText(k.Profile))
		}
		for _, l := range strings.Split(strings.TrimRight(k.Profile.Describe(), "\n"), "\n") {
			line("  %s", l)
		}
	}
	return b.String()
}

func groupText(gid int) string {
	if gid < 0 {
		return ""
	}
	return fmt.Sprintf(", group %d", gid)
}

func callersText(k *callable) string {
	parts := []string{"root", "the daemon's own user"}
	for _, u := range k.UIDs {
		parts = append(parts, fmt.Sprintf("uid %d", u))
	}
	for _, g := range k.GIDs {
		parts = append(parts, fmt.Sprintf("processes of gid %d", g))
	}
	return strings.Join(parts, ", ")
}

// presetText says how sandboxd starts a preset profile's workers and which
// of the profile's limits it enforces then.
func presetText(p *policy.Profile) string {
	o, err := sandbox.PresetOptions(p)
	if err != nil {
		return "cannot be started: " + err.Error()
	}
	how := "started as child processes of sandboxd (its user, no isolation)"
	if o.Command != "" {
		how = fmt.Sprintf("started by the command %s", o.Command)
		if p.Launcher.Type == policy.LauncherPlain {
			how += " as child processes of sandboxd (its user, no isolation)"
		}
	}
	s := how + "; NOT a sandbox: no container, no seccomp filter, no cgroup or rlimit limits from the profile; " +
		"sandboxd enforces only the wall time per call and the output and message sizes"
	if p.Launcher.Type != policy.LauncherPlain {
		s += "; a cancelled or timed-out call ends the worker (no remote Ctrl+C through " + p.Launcher.Type + ")"
	}
	return s
}
