package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Minimums and maximums enforced by [Profile.Validate] on values that are
// set (zero means the default).
const (
	MinMemoryBytes     = 16 * MiB
	MinOpenFiles       = 16
	MinWall            = Duration(time.Millisecond)
	MinMaxMessageBytes = 1 * KiB
	MaxMaxMessageBytes = 1 * GiB
)

func (p *Profile) checkLimits(v *problems) {
	l := p.Limits
	nonNeg := func(field string, n int64, def string) bool {
		if n < 0 {
			v.add("limits."+field, fmt.Sprintf("must not be negative (got %d)", n),
				"remove it for the default ("+def+") or give a positive value; there is no \"unlimited\"")
			return false
		}
		return true
	}
	if nonNeg("memory_bytes", l.MemoryBytes, FormatBytes(DefaultMemoryBytes)) && l.MemoryBytes > 0 && l.MemoryBytes < MinMemoryBytes {
		v.add("limits.memory_bytes", fmt.Sprintf("must be at least %s (got %d)", FormatBytes(MinMemoryBytes), l.MemoryBytes),
			fmt.Sprintf("set it to e.g. %d", DefaultMemoryBytes))
	}
	nonNeg("pids", l.Pids, fmt.Sprint(DefaultPids))
	nonNeg("cpu_seconds", l.CPUSeconds, fmt.Sprintf("%d s", DefaultCPUSeconds))
	if nonNeg("open_files", l.OpenFiles, fmt.Sprint(DefaultOpenFiles)) && l.OpenFiles > 0 && l.OpenFiles < MinOpenFiles {
		v.add("limits.open_files", fmt.Sprintf("must be at least %d: the interpreter and the protocol need a few descriptors (got %d)", MinOpenFiles, l.OpenFiles),
			fmt.Sprintf("set it to e.g. %d", DefaultOpenFiles))
	}
	nonNeg("file_size_bytes", l.FileSizeBytes, FormatBytes(DefaultFileSizeBytes))
	nonNeg("output_bytes", l.OutputBytes, FormatBytes(DefaultOutputBytes))
	nonNeg("tmp_bytes", l.TmpBytes, FormatBytes(DefaultTmpBytes))
	callOK := checkDuration(v, "limits.wall_per_call", l.WallPerCall, DefaultWallPerCall, true)
	sandboxOK := checkDuration(v, "limits.wall_per_sandbox", l.WallPerSandbox, DefaultWallPerSandbox, true)
	if callOK && sandboxOK {
		call, sandbox := orDefault(l.WallPerCall, DefaultWallPerCall), orDefault(l.WallPerSandbox, DefaultWallPerSandbox)
		if call > sandbox {
			v.add("limits.wall_per_call", fmt.Sprintf("%s is longer than the sandbox may live (limits.wall_per_sandbox: %s)", call, sandbox),
				"shorten wall_per_call or lengthen wall_per_sandbox")
		}
	}
	switch l.Cgroups {
	case "", CgroupsRequired, CgroupsOptional:
	default:
		v.add("limits.cgroups", fmt.Sprintf("unknown setting %s", quote(l.Cgroups)),
			`set it to "required" (start fails without cgroups) or "optional" (rlimits only when cgroups are unavailable)`)
	}
}

// checkDuration records a negative duration, or one below MinWall when
// floor is set; it reports whether d is usable.
func checkDuration(v *problems, field string, d, def Duration, floor bool) bool {
	switch {
	case d < 0:
		v.add(field, fmt.Sprintf("must not be negative (got %s)", d), fmt.Sprintf("remove it for the default (%s) or give a positive duration such as \"5s\"", def))
		return false
	case floor && d > 0 && d < MinWall:
		v.add(field, fmt.Sprintf("must be at least %s (got %s)", MinWall, d), fmt.Sprintf("set it to e.g. %q", def.String()))
		return false
	}
	return true
}

func orDefault(d, def Duration) Duration {
	if d == 0 {
		return def
	}
	return d
}

// BuiltinSeccompNames lists the NAMEs accepted in "builtin:NAME" seccomp
// profiles. Each is an OCI seccomp JSON file shipped in profiles/seccomp;
// "interpreter" allows what any of the four interpreters needs.
func BuiltinSeccompNames() []string {
	return []string{"interpreter", LanguagePython, LanguagePHP, LanguagePerl, LanguageNode}
}

func (p *Profile) checkSeccomp(v *problems) {
	s := p.Seccomp
	builtins := BuiltinSeccompNames()
	example := SeccompBuiltinPrefix + builtins[0]
	if s.Profile != "" {
		if name, ok := strings.CutPrefix(s.Profile, SeccompBuiltinPrefix); ok {
			if !slices.Contains(builtins, name) {
				v.add("seccomp.profile", fmt.Sprintf("unknown builtin filter %s", quote(s.Profile)), "use one of "+quoteList(prefixed(builtins)))
			}
		} else if slices.Contains(builtins, s.Profile) {
			v.add("seccomp.profile", fmt.Sprintf("%s is not a file name", quote(s.Profile)), fmt.Sprintf("did you mean %q?", SeccompBuiltinPrefix+s.Profile))
		} else if !strings.HasSuffix(s.Profile, ".json") || hasControl(s.Profile) {
			v.add("seccomp.profile", fmt.Sprintf("must be builtin:NAME or the path of an OCI seccomp JSON file ending in .json (got %s)", quote(s.Profile)),
				fmt.Sprintf("set it to e.g. %q", example))
		}
	}
	switch t := p.Launcher.Type; {
	case t == LauncherContainer || t == "":
		if s.Disabled {
			v.add("seccomp.disabled", "the container launcher always filters system calls", fmt.Sprintf("remove it and set seccomp.profile, e.g. to %q", example))
		} else if s.Profile == "" {
			v.add("seccomp.profile", "missing: the container launcher needs a system call filter", fmt.Sprintf("set it to %q or %q", example, SeccompBuiltinPrefix+p.languageOr("python")))
		}
	case t == LauncherSSH && s.Profile != "":
		v.add("seccomp.profile", "the ssh launcher cannot filter system calls on the remote host", "remove it and set seccomp.disabled to true")
	case s.Profile != "" && s.Disabled:
		v.add("seccomp.disabled", "contradicts seccomp.profile", "keep one of them")
	case s.Profile == "" && !s.Disabled && t == LauncherSSH:
		v.add("seccomp.disabled", "the ssh launcher cannot filter system calls: the profile must say so", "set it to true")
	case s.Profile == "" && !s.Disabled:
		v.add("seccomp", fmt.Sprintf("states neither a filter nor that there is none (launcher.type is %s)", quote(t)),
			fmt.Sprintf("set seccomp.profile (e.g. %q) or seccomp.disabled to true", example))
	}
}

// languageOr returns the profile's language when valid, else def.
func (p *Profile) languageOr(def string) string {
	if slices.Contains(Languages(), p.Language) {
		return p.Language
	}
	return def
}

func prefixed(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = SeccompBuiltinPrefix + n
	}
	return out
}

func (p *Profile) checkProtocol(v *problems) {
	n := p.Protocol.MaxMessageBytes
	if n != 0 && (n < MinMaxMessageBytes || n > MaxMaxMessageBytes) {
		v.add("protocol.max_message_bytes", fmt.Sprintf("must be between %s and %s (got %d)", FormatBytes(MinMaxMessageBytes), FormatBytes(MaxMaxMessageBytes), n),
			fmt.Sprintf("remove it for the default (%s) or set it to e.g. %d", FormatBytes(DefaultMaxMessageBytes), DefaultMaxMessageBytes))
	}
}

func (p *Profile) checkPool(v *problems) {
	o := p.Pool
	neg := func(field string, n int) bool {
		if n < 0 {
			v.add("pool."+field, fmt.Sprintf("must not be negative (got %d)", n), "remove it for the default or give a positive number")
		}
		return n >= 0
	}
	minOK, maxOK := neg("min_idle", o.MinIdle), neg("max_size", o.MaxSize)
	neg("recycle_after", o.RecycleAfter)
	checkDuration(v, "pool.queue_timeout", o.QueueTimeout, DefaultQueueTimeout, false)
	if maxSize := max(o.MaxSize, 0); minOK && maxOK && o.MinIdle > 0 {
		if maxSize == 0 {
			maxSize = DefaultPoolMaxSize
		}
		if o.MinIdle > maxSize {
			v.add("pool.min_idle", fmt.Sprintf("%d idle workers is more than pool.max_size (%d)", o.MinIdle, maxSize), "lower min_idle or raise max_size")
		}
	}
	if o.FreshPerTask && o.RecycleAfter > 0 {
		v.add("pool.recycle_after", "contradicts pool.fresh_per_task (a fresh sandbox serves one task and is never reused)", "remove one of them")
	}
}
