package policy

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Validate checks p and returns every problem found, as an [errors.Join]
// of [*FieldError]s that name the field and the fix, or nil. Zero values
// stand for their defaults and are valid. The rules:
//
//   - version is [Version]; name is 1 to 64 of [a-z0-9_-], starting with a
//     letter or digit; description has no control characters but newlines
//     and tabs; language is python, php, perl or node.
//   - launcher.type is container, plain, sudo, lxc or ssh; sudo needs
//     launcher.user, ssh needs launcher.host (and alone takes
//     launcher.ssh_options, each Key=Value), lxc needs launcher.container;
//     a companion field given to another launcher is refused. None may
//     start with '-' or hold spaces.
//   - interpreter, when set, is a command name or a clean absolute path:
//     no spaces, arguments or shell metacharacters.
//   - mounts only with the container launcher (so writable mounts too):
//     source and target clean absolute paths without "..", no two mounts on
//     one target, no source "/" or under /proc, /sys or /dev, no target "/"
//     or under /proc, /sys or /dev.
//   - network.mode is none, loopback or host ("" is the default); the other
//     launchers cannot isolate the network, so none and loopback are
//     refused for them.
//   - env names match [A-Za-z_][A-Za-z0-9_]*; no wildcard, no duplicates,
//     no name both allowed and set.
//   - limits are not negative; when set, memory_bytes >= 16 MiB, open_files
//     >= 16, wall times >= 1ms and wall_per_call <= wall_per_sandbox;
//     cgroups is "", required or optional.
//   - seccomp: the container launcher requires seccomp.profile and refuses
//     seccomp.disabled; other launchers state exactly one of them, and ssh
//     requires disabled. A profile is builtin:NAME (see
//     [BuiltinSeccompNames]) or a path ending in ".json".
//   - protocol.max_message_bytes, when set, is between 1 KiB and 1 GiB.
//   - pool values are not negative, min_idle <= max_size, and
//     fresh_per_task excludes recycle_after.
func (p *Profile) Validate() error {
	if p == nil {
		return &FieldError{Problem: "no profile (nil)"}
	}
	return p.validate(p.Name)
}

// validate is Validate naming the profile label in messages.
func (p *Profile) validate(label string) error {
	v := &problems{profile: label}
	if p.Version != Version {
		v.addErr(ErrVersion, "version", fmt.Sprintf("this build reads version %d (got %d)", Version, p.Version), fmt.Sprintf("set it to %d", Version))
	}
	p.checkName(v)
	p.checkLanguage(v)
	p.checkLauncher(v)
	p.checkInterpreter(v)
	p.checkMounts(v)
	p.checkNetwork(v)
	p.checkEnv(v)
	p.checkLimits(v)
	p.checkSeccomp(v)
	p.checkProtocol(v)
	p.checkPool(v)
	return v.err()
}

// The patterns are compiled on first use, not at package init: every
// sandbox's init process runs the daemon's package initializers, and
// bounded repetitions such as {0,63} compile to large programs (about
// 0.5 ms for these five).
var (
	nameRE    = lazyRegexp(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	envRE     = lazyRegexp(`^[A-Za-z_][A-Za-z0-9_]*$`)
	sudoRE    = lazyRegexp(`^([a-z_][a-z0-9_.-]{0,31}\$?|#[0-9]{1,10})$`)
	sshOptRE  = lazyRegexp(`^[A-Za-z][A-Za-z0-9]*=`)
	commandRE = lazyRegexp(`^[A-Za-z0-9._+/@:-]+$`)
)

func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

func (p *Profile) checkName(v *problems) {
	switch {
	case p.Name == "":
		v.add("name", "missing", `set it to a short identifier, e.g. "decoder"`)
	case !nameRE().MatchString(p.Name):
		v.add("name", fmt.Sprintf("must be 1 to 64 lower-case letters, digits, '-' or '_', starting with a letter or digit (got %s)", quote(p.Name)),
			fmt.Sprintf("rename it, e.g. %q", suggestName(p.Name)))
	}
	if i := strings.IndexFunc(p.Description, func(r rune) bool {
		return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f
	}); i >= 0 {
		v.add("description", fmt.Sprintf("holds a control character (%q at byte %d)", p.Description[i], i), "remove it; newlines and tabs are fine")
	}
}

// suggestName turns s into a valid name as best it can.
func suggestName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '-', r == '_':
			return r
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, truncate(s, 64))
	s = strings.TrimLeft(s, "-_")
	if s == "" {
		return "my-profile"
	}
	return s
}

// Languages lists the drivers a profile may name.
func Languages() []string {
	return []string{LanguagePython, LanguagePHP, LanguagePerl, LanguageNode}
}

// languageAliases maps common other spellings to driver names.
var languageAliases = map[string]string{
	"python3": LanguagePython, "py": LanguagePython, "php8": LanguagePHP,
	"perl5": LanguagePerl, "nodejs": LanguageNode, "javascript": LanguageNode, "js": LanguageNode,
}

func (p *Profile) checkLanguage(v *problems) {
	if slices.Contains(Languages(), p.Language) {
		return
	}
	fix := "set it to one of " + quoteList(Languages())
	if alias, ok := languageAliases[strings.ToLower(p.Language)]; ok {
		fix = fmt.Sprintf("did you mean %q?", alias)
	} else if slices.Contains(Languages(), strings.ToLower(p.Language)) {
		fix = fmt.Sprintf("did you mean %q? (names are lower-case)", strings.ToLower(p.Language))
	}
	if p.Language == "" {
		v.add("language", "missing", fix)
		return
	}
	v.add("language", fmt.Sprintf("unknown language %s", quote(p.Language)), fix)
}

// Launchers lists the launcher types.
func Launchers() []string {
	return []string{LauncherContainer, LauncherPlain, LauncherSudo, LauncherLXC, LauncherSSH}
}

func (p *Profile) checkLauncher(v *problems) {
	l := p.Launcher
	switch {
	case l.Type == "":
		v.add("launcher.type", "missing", `set it to "container" (a rootless sandbox) or one of `+quoteList(Launchers()[1:]))
	case !slices.Contains(Launchers(), l.Type):
		v.add("launcher.type", fmt.Sprintf("unknown launcher %s", quote(l.Type)), "set it to one of "+quoteList(Launchers()))
	}
	companion := func(field, value, owner string, valid func(string) bool, example string) {
		path := "launcher." + field
		switch {
		case l.Type == owner && value == "":
			v.add(path, "missing: the "+owner+" launcher needs it", "set it, e.g. "+example)
		case l.Type != owner && value != "":
			v.add(path, fmt.Sprintf("only the %s launcher uses it (launcher.type is %s)", owner, quote(l.Type)), "remove it")
		case value != "" && !valid(value):
			v.add(path, fmt.Sprintf("not a valid value (got %s): no spaces, control characters or leading '-'", quote(value)), "set it, e.g. "+example)
		}
	}
	companion("user", l.User, LauncherSudo, sudoRE().MatchString, `"sandbox"`)
	companion("host", l.Host, LauncherSSH, plainArg, `"user@worker1.example"`)
	companion("container", l.Container, LauncherLXC, func(s string) bool { return plainArg(s) && !strings.Contains(s, "/") }, `"interp"`)
	if l.Type != LauncherSSH && len(l.SSHOptions) > 0 {
		v.add("launcher.ssh_options", fmt.Sprintf("only the ssh launcher uses them (launcher.type is %s)", quote(l.Type)), "remove them")
	}
	for i, o := range l.SSHOptions {
		if !sshOptRE().MatchString(o) || hasControl(o) {
			v.add(fmt.Sprintf("launcher.ssh_options[%d]", i), fmt.Sprintf("must be Key=Value (got %s)", quote(o)), `write it like "StrictHostKeyChecking=yes"`)
		}
	}
}

// plainArg reports whether s can be handed to a command as one argument
// without being taken for an option or split: no leading '-', no spaces or
// control characters.
func plainArg(s string) bool {
	return s != "" && s[0] != '-' && !hasControl(s) && !strings.ContainsAny(s, " \t\n")
}

// hasControl reports whether s holds an ASCII control character.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

func (p *Profile) checkInterpreter(v *problems) {
	s := p.Interpreter
	if s == "" {
		return
	}
	const fix = "give a command name such as \"python3\" or an absolute path such as \"/usr/bin/python3\"; arguments are not accepted here"
	switch {
	case !commandRE().MatchString(s) || s[0] == '-':
		v.add("interpreter", fmt.Sprintf("must be a command name or path, without spaces, arguments or shell characters (got %s)", quote(s)), fix)
	case strings.Contains(s, "/") && (!path.IsAbs(s) || path.Clean(s) != s || slices.Contains(strings.Split(s, "/"), "..")):
		v.add("interpreter", fmt.Sprintf("a path must be absolute and clean (got %s)", quote(s)), fix)
	}
}

// Mount points the sandbox owns: nothing may be mounted on or under them.
var reservedMountDirs = []string{"/proc", "/sys", "/dev"}

func (p *Profile) checkMounts(v *problems) {
	if len(p.Mounts) == 0 {
		return
	}
	if p.Launcher.Type != LauncherContainer {
		v.add("mounts", fmt.Sprintf("only the container launcher has mounts (launcher.type is %s)", quote(p.Launcher.Type)),
			"remove them, or use the container launcher")
		return
	}
	targets := map[string]int{}
	for i, m := range p.Mounts {
		at := fmt.Sprintf("mounts[%d]", i)
		if m.Source == "" {
			v.add(at+".source", "missing", "set it to the absolute host path to mount")
		} else if checkAbsPath(v, at+".source", m.Source) {
			if m.Source == "/" || underAny(m.Source, reservedMountDirs) {
				v.add(at+".source", fmt.Sprintf("%s would expose the whole host or its kernel interfaces", quote(m.Source)),
					"mount only the directory the interpreter needs, e.g. /usr/share/myapp")
			}
		}
		target := m.Target
		if target == "" {
			target = m.Source
		}
		if target == "" {
			continue
		}
		if m.Target != "" && !checkAbsPath(v, at+".target", m.Target) {
			continue
		}
		switch {
		case target == "/":
			v.add(at+".target", "cannot be / (it would replace the sandbox's root file system)", "mount on a subdirectory, e.g. /data")
		case underAny(target, reservedMountDirs):
			v.add(at+".target", fmt.Sprintf("%s is managed by the sandbox (/proc, /sys and /dev are its own)", quote(target)), "mount somewhere else, e.g. /data")
		}
		if j, dup := targets[target]; dup {
			v.add(at+".target", fmt.Sprintf("%s is already the target of mounts[%d]", quote(target), j), "mount each path once")
		}
		targets[target] = i
	}
}

// checkAbsPath records a problem unless s is a clean absolute path.
func checkAbsPath(v *problems, field, s string) bool {
	if hasControl(s) || !path.IsAbs(s) || path.Clean(s) != s || slices.Contains(strings.Split(s, "/"), "..") {
		fix := "write an absolute path without \"..\", \".\", \"//\" or a trailing \"/\""
		if path.IsAbs(s) && !hasControl(s) {
			fix += fmt.Sprintf(", e.g. %q", path.Clean(s))
		}
		v.add(field, fmt.Sprintf("must be a clean absolute path (got %s)", quote(s)), fix)
		return false
	}
	return true
}

// underAny reports whether clean path p is one of dirs or below one.
func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

func (p *Profile) checkNetwork(v *problems) {
	switch p.Network.Mode {
	case "", NetworkHost:
	case NetworkNone, NetworkLoopback:
		if t := p.Launcher.Type; t != LauncherContainer && t != "" {
			v.add("network.mode", fmt.Sprintf("the %s launcher runs the interpreter in the host's network and cannot give it %s", t, quote(p.Network.Mode)),
				`set it to "host", or use the container launcher for an isolated network`)
		}
	default:
		v.add("network.mode", fmt.Sprintf("unknown mode %s", quote(p.Network.Mode)), `set it to "none" (no network), "loopback" or "host"`)
	}
}

func (p *Profile) checkEnv(v *problems) {
	seen := map[string]bool{}
	for i, name := range p.Env.Allow {
		at := fmt.Sprintf("env.allow[%d]", i)
		switch {
		case strings.ContainsAny(name, "*?["):
			v.add(at, fmt.Sprintf("%s is a pattern: allowing variables by pattern or all of them is not supported (host environments hold secrets)", quote(name)),
				"list each variable by its exact name")
		case !envRE().MatchString(name):
			v.add(at, fmt.Sprintf("%s is not a variable name ([A-Za-z_][A-Za-z0-9_]*)", quote(name)), "write the bare name, e.g. \"LANG\"")
		case seen[name]:
			v.add(at, fmt.Sprintf("%s is listed twice", quote(name)), "list it once")
		}
		seen[name] = true
	}
	keys := make([]string, 0, len(p.Env.Set))
	for k := range p.Env.Set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		at := "env.set." + pathKey(k)
		switch {
		case !envRE().MatchString(k):
			v.add("env.set", fmt.Sprintf("%s is not a variable name ([A-Za-z_][A-Za-z0-9_]*)", quote(k)), "rename it")
		case seen[k]:
			v.add(at, "is also in env.allow", "keep it in one of env.allow and env.set")
		case strings.ContainsRune(p.Env.Set[k], 0):
			v.add(at, "the value holds a NUL byte", "remove it")
		}
	}
}

// quoteList formats names as "a", "b" or "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
