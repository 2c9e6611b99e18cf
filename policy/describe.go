package policy

import (
	"fmt"
	"sort"
	"strings"
)

// Describe returns a plain-English, multi-line summary of p for a security
// reviewer: the launcher and its isolation, network, host paths (which are
// writable), temporary space, environment, every limit with its unit, the
// seccomp filter, cgroups, protocol and pool settings, with "(default)"
// after values p leaves to the defaults, and a closing list of warnings
// (host network, no syscall filter, rlimits only, not a sandbox at all...).
// It describes p as written; run [Profile.Validate] first to know it is
// usable.
func (p *Profile) Describe() string {
	if p == nil {
		return "No profile.\n"
	}
	d := p.WithDefaults()
	var b strings.Builder
	var warnings []string
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	def := func(zero bool) string {
		if zero {
			return " (default)"
		}
		return ""
	}
	container := d.Launcher.Type == LauncherContainer

	line("Profile %s (format version %d)", quote(p.Name), p.Version)
	if desc := strings.TrimSpace(p.Description); desc != "" {
		for _, l := range strings.Split(desc, "\n") {
			line("  %s", l)
		}
	}
	launcher, lw := describeLauncher(d.Launcher)
	line("Launcher: %s", launcher)
	if lw != "" {
		warn("%s", lw)
	}
	interp := d.Interpreter
	if interp == "" {
		interp = "the driver's default command"
	}
	line("Language: %s (interpreter: %s)", d.Language, interp)

	switch {
	case !container:
		line("Network: the host's (the %s launcher does not isolate the network)", d.Launcher.Type)
	case d.Network.Mode == NetworkNone:
		line("Network: none (new network namespace, loopback down)%s", def(p.Network.Mode == ""))
	case d.Network.Mode == NetworkLoopback:
		line("Network: loopback only (new network namespace with loopback up; no route out)")
	case d.Network.Mode == NetworkHost:
		line("Network: HOST (the sandbox shares the host's network namespace)")
		warn("network mode host: the sandbox can reach every address the host can, including services listening on the host's loopback")
	}

	if container {
		var ro, rw []string
		for _, m := range d.Mounts {
			s := m.Source
			if m.Target != m.Source {
				s += " -> " + m.Target
			}
			if m.Writable {
				rw = append(rw, s)
			} else {
				ro = append(ro, s)
			}
		}
		line("Read-only host paths: %s", listOr(ro, "none besides what the interpreter needs (resolved by the launcher)"))
		line("Writable host paths: %s", listOr(rw, "none"))
		if len(rw) > 0 && d.Pool.FreshPerTask {
			warn("writable mounts keep what one task writes for the next, although pool.fresh_per_task is set")
		}
		line("Temporary files: /tmp is a private %s tmpfs%s", FormatBytes(d.Limits.TmpBytes), def(p.Limits.TmpBytes == 0))
	} else {
		line("Host paths: everything the %s launcher's user can read (no mount isolation)", d.Launcher.Type)
		line("Writable host paths: everything the %s launcher's user can write", d.Launcher.Type)
	}

	setNames := make([]string, 0, len(d.Env.Set))
	for k := range d.Env.Set {
		setNames = append(setNames, k)
	}
	sort.Strings(setNames)
	line("Environment: host variables passed: %s; variables set by the profile: %s",
		listOr(d.Env.Allow, "none"), listOr(setNames, "none"))

	l, pl := d.Limits, p.Limits
	if container {
		line("Limits:")
	} else {
		line("Limits (as far as the %s launcher can apply them):", d.Launcher.Type)
	}
	line("  memory: %s%s", FormatBytes(l.MemoryBytes), def(pl.MemoryBytes == 0))
	line("  processes and threads: %d%s", l.Pids, def(pl.Pids == 0))
	line("  CPU time: %s%s", plural(l.CPUSeconds, "second", "seconds"), def(pl.CPUSeconds == 0))
	line("  wall time per call: %s%s", l.WallPerCall, def(pl.WallPerCall == 0))
	line("  wall time per sandbox: %s%s", l.WallPerSandbox, def(pl.WallPerSandbox == 0))
	line("  open files: %d%s", l.OpenFiles, def(pl.OpenFiles == 0))
	line("  file size: %s%s", FormatBytes(l.FileSizeBytes), def(pl.FileSizeBytes == 0))
	line("  output (stdout and stderr): %s per sandbox%s", FormatBytes(l.OutputBytes), def(pl.OutputBytes == 0))
	switch {
	case !container:
		line("  cgroups: not used by the %s launcher", d.Launcher.Type)
	case l.Cgroups == CgroupsRequired:
		line("  cgroups: required (the sandbox does not start without them; memory without swap)%s", def(pl.Cgroups == ""))
	default:
		line("  cgroups: optional (without them, memory and process limits fall back to rlimits)")
		warn("cgroups optional: where the daemon cannot use cgroups (an unprivileged daemon without a delegated cgroup), memory and process limits are enforced by rlimits only, which are weaker; set limits.cgroups to \"required\" to refuse to start instead")
	}

	switch {
	case d.Seccomp.Disabled:
		line("Seccomp: DISABLED (no system call filter)")
		warn("no system call filter: the interpreter may make any system call its user may")
	case strings.HasPrefix(d.Seccomp.Profile, SeccompBuiltinPrefix):
		line("Seccomp: %s (OCI seccomp profile shipped with sandbond, default deny)", d.Seccomp.Profile)
	case d.Seccomp.Profile != "":
		line("Seccomp: the OCI seccomp profile in %s", d.Seccomp.Profile)
		warn("the system call filter is read from %s: review that file too", d.Seccomp.Profile)
	default:
		line("Seccomp: not stated")
	}
	line("Protocol: messages from the interpreter up to %s%s", FormatBytes(d.Protocol.MaxMessageBytes), def(p.Protocol.MaxMessageBytes == 0))

	o := d.Pool
	reuse := "a fresh sandbox per task (no state from earlier inputs)"
	switch {
	case !o.FreshPerTask && o.RecycleAfter > 0:
		reuse = fmt.Sprintf("workers reused, replaced after %s", plural(int64(o.RecycleAfter), "call", "calls"))
	case !o.FreshPerTask:
		reuse = "workers reused until they die or reach the wall time per sandbox"
	}
	if !o.FreshPerTask {
		warn("workers are reused: state one input leaves in the interpreter can affect later ones")
	}
	line("Pool: %s; %d idle, at most %d; a call waits at most %s for a worker", reuse, o.MinIdle, o.MaxSize, o.QueueTimeout)

	if len(warnings) == 0 {
		line("Warnings: none")
	} else {
		line("Warnings:")
		for _, w := range warnings {
			line("  - %s", w)
		}
	}
	return b.String()
}

// describeLauncher says how a launcher isolates the interpreter, and
// returns a warning when it does not.
func describeLauncher(l Launcher) (desc, warning string) {
	switch l.Type {
	case LauncherContainer:
		return "rootless container (own user, mount, pid, ipc, uts, cgroup and network namespaces; no capabilities; no_new_privs)", ""
	case LauncherPlain:
		return "plain (the interpreter runs on the host as the daemon's user, no isolation)",
			"not a sandbox: the plain launcher runs the interpreter on the host as the daemon's user"
	case LauncherSudo:
		return fmt.Sprintf("sudo (the interpreter runs on the host as user %s; no file system, network or system call isolation beyond that user's rights)", quote(l.User)),
			fmt.Sprintf("not a sandbox: the sudo launcher runs the interpreter on the host as %s", quote(l.User))
	case LauncherLXC:
		return fmt.Sprintf("lxc-execute in the LXC container %s (isolation is that container's configuration)", quote(l.Container)), ""
	case LauncherSSH:
		s := fmt.Sprintf("ssh to %s (the interpreter runs on that host with the remote user's rights)", quote(l.Host))
		if len(l.SSHOptions) > 0 {
			s += "; ssh options: " + strings.Join(l.SSHOptions, ", ")
		}
		return s, ""
	}
	return fmt.Sprintf("unknown (%s)", quote(l.Type)), ""
}

// listOr joins items, or returns none when there are none.
func listOr(items []string, none string) string {
	if len(items) == 0 {
		return none
	}
	return strings.Join(items, ", ")
}
