//go:build linux

package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/configs/validate"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/drivers"
	"github.com/sandbond/sandbond/policy"
)

// ContainerLauncher is a [bond.Launcher] that starts every interpreter in a
// fresh rootless container built from a [policy.Profile]. It is safe for
// concurrent use.
type ContainerLauncher struct {
	profile  *policy.Profile
	log      *slog.Logger
	state    string
	croot    string
	rdir     string // holds the launcher's root filesystems, one per interpreter command
	limits   effectiveLimits
	seccomp  *seccompFilter
	rootless bool
	cgroups  bool
	cgLayout *cgroupLayout // where sandboxes' cgroups go, when cgroups
	ids      *idPool

	// noSeccomp drops the filter; only benchmarks set it, to measure
	// what the filter costs per start.
	noSeccomp bool
	// libcontainerSeccomp hands the seccomp profile to libcontainer,
	// which compiles and loads it in the container's init at every
	// start, instead of the trampoline loading the precompiled program:
	// set when the trampoline cannot run here (see trampolineDeps), and
	// by tests and benchmarks, to compare.
	libcontainerSeccomp bool

	mu     sync.Mutex
	roots  map[string]*rootfs         // interpreter command -> its root filesystem
	binds  map[string][]bindMount     // interpreter command -> binds made at each start
	allow  map[string]map[string]bool // language -> names env takes from the bond (see envAllow)
	closed bool
	live   sync.WaitGroup
}

var _ bond.Launcher = (*ContainerLauncher)(nil)

// NewContainerLauncher checks that profile can run here (user namespaces,
// cgroups unless the profile makes them optional, a valid seccomp
// profile), removes what crashed daemons left in the state directory, and
// returns a launcher for the profile. The profile is copied.
func NewContainerLauncher(profile *policy.Profile, opts ...Option) (*ContainerLauncher, error) {
	if profile == nil {
		return nil, fmt.Errorf("%w: nil profile", ErrProfile)
	}
	o := options{logger: slog.Default(), idBase: DefaultHostIDBase, idCount: DefaultHostIDCount}
	for _, opt := range opts {
		opt(&o)
	}
	if o.stateDir == "" {
		o.stateDir = defaultStateDir()
	}
	p := profile.Clone()
	if t := p.Launcher.Type; t != "" && t != policy.LauncherContainer {
		return nil, fmt.Errorf("%w: profile %q: launcher.type is %q; the container launcher needs %q", ErrProfile, p.Name, t, policy.LauncherContainer)
	}
	switch p.Network.Mode {
	case "", policy.NetworkNone, policy.NetworkLoopback, policy.NetworkHost:
	default:
		return nil, fmt.Errorf("%w: profile %q: network.mode %q unknown (none, loopback or host)", ErrProfile, p.Name, p.Network.Mode)
	}
	raw, err := seccompJSON(p, o.seccompJSON)
	if err != nil {
		return nil, err
	}
	sf, err := compileSeccomp(raw)
	if err != nil {
		return nil, err
	}
	if err := Preflight(); err != nil {
		return nil, err
	}
	// Join the audit multicast group now, so that the record of the first
	// seccomp kill is not missed (see auditReader).
	_ = auditReaderOnce()
	l := &ContainerLauncher{
		profile:  p,
		log:      o.logger,
		state:    o.stateDir,
		croot:    filepath.Join(o.stateDir, "containers"),
		limits:   limitsOf(p),
		seccomp:  sf,
		rootless: os.Geteuid() != 0,
		roots:    map[string]*rootfs{},
		binds:    map[string][]bindMount{},
		allow:    map[string]map[string]bool{},
	}
	ok, why := cgroupSupport()
	switch {
	case ok:
		if l.cgLayout, err = newCgroupLayout(); err != nil {
			if !l.limits.CgroupsOptional {
				return nil, fmt.Errorf("%w: profile %q needs cgroups (limits.cgroups is \"required\"): %v", ErrNoCgroups, p.Name, err)
			}
			l.log.Warn("sandbox: running WITHOUT cgroup limits", "profile", p.Name, "reason", err)
			break
		}
		l.cgroups = true
	case l.limits.CgroupsOptional:
		l.log.Warn("sandbox: running WITHOUT cgroup limits: memory is NOT limited, pids only by RLIMIT_NPROC when the daemon is root; CPU time, open files, file size and wall time still are",
			"profile", p.Name, "reason", why)
	default:
		return nil, fmt.Errorf("%w: profile %q needs cgroups (limits.cgroups is \"required\"): %s", ErrNoCgroups, p.Name, why)
	}
	if !l.rootless {
		l.ids = sharedIDPool(o.idBase, o.idCount)
	}
	if _, err := trampolineDeps(); err != nil {
		l.log.Warn("sandbox: libcontainer compiles the seccomp filter at every start (slower)", "reason", err)
		l.libcontainerSeccomp = true
	}
	if err := os.MkdirAll(o.stateDir, 0o711); err != nil {
		return nil, fmt.Errorf("sandbox: state dir: %w", err)
	}
	if err := os.MkdirAll(l.croot, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: state dir: %w", err)
	}
	cleanStale(o.stateDir, l.log)
	if l.cgLayout != nil {
		l.cgLayout.cleanStale()
	}
	l.rdir = filepath.Join(o.stateDir, "rootfs")
	if err := os.MkdirAll(l.rdir, 0o711); err != nil {
		return nil, err
	}
	_ = os.Chmod(l.rdir, 0o711)
	_ = os.Chmod(o.stateDir, 0o711)
	return l, nil
}

// Profile returns (a copy of) the launcher's profile.
func (l *ContainerLauncher) Profile() *policy.Profile { return l.profile.Clone() }

// CgroupsEnabled reports whether sandboxes get cgroup limits (memory, pids).
func (l *ContainerLauncher) CgroupsEnabled() bool { return l.cgroups }

// StateDir returns the launcher's state directory.
func (l *ContainerLauncher) StateDir() string { return l.state }

// Close waits for the launcher's processes to be waited for, then removes
// its root filesystems. Launch fails after Close.
func (l *ContainerLauncher) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.live.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	var first error
	for cmd, r := range l.roots {
		if err := r.remove(); err != nil && first == nil {
			first = err
		}
		delete(l.roots, cmd)
	}
	if l.cgLayout != nil {
		l.cgLayout.removeParents()
	}
	return first
}

// Launch starts spec's interpreter in a new container. spec.Argv[0] names
// the interpreter (a path or a name looked up in the daemon's PATH); it is
// replaced by the real interpreter path (symlinks and shims resolved); the
// profile's interpreter, when set, replaces it first.
// spec.Files become the container's fds 0..N (nil: /dev/null); no other
// descriptor reaches the container. spec.Env is filtered by the profile's
// environment allowlist: only names in env.allow (and BOND_* variables of
// the driver protocol) pass, env.set is applied on top. spec.Dir is the
// working directory inside the container (default "/").
func (l *ContainerLauncher) Launch(ctx context.Context, spec *bond.LaunchSpec) (bond.Process, error) {
	if spec == nil || len(spec.Argv) == 0 {
		return nil, fmt.Errorf("%w: empty command line", ErrProfile)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("sandbox: launcher closed")
	}
	l.live.Add(1)
	l.mu.Unlock()
	proc, err := l.launch(ctx, spec)
	if err != nil {
		l.live.Done()
		return nil, err
	}
	return proc, nil
}

func (l *ContainerLauncher) launch(ctx context.Context, spec *bond.LaunchSpec) (*Process, error) {
	specLang := languageOf(spec.Language)
	lang := specLang
	if lang == "" {
		lang = languageOf(l.profile.Language)
	}
	in, root, binds, err := l.prepare(ctx, lang, spec.Argv[0])
	if err != nil {
		return nil, err
	}
	cs := &containerSpec{
		ID:       newID(),
		Rootfs:   root.dir,
		DevDir:   root.devDir(),
		Binds:    binds,
		Rootless: l.rootless,
		Cgroups:  l.cgroups,
		Network:  l.profile.Network.Mode,
		Limits:   l.limits,
	}
	if l.libcontainerSeccomp && !l.noSeccomp {
		cs.Seccomp = l.seccomp.Config
	}
	if l.rootless {
		cs.HostUID, cs.HostGID = uint32(os.Geteuid()), uint32(os.Getegid())
	} else {
		if cs.HostUID, err = l.ids.get(); err != nil {
			return nil, err
		}
		cs.HostGID = cs.HostUID
	}
	release := func() {
		if !l.rootless {
			l.ids.put(cs.HostUID)
		}
	}
	cfg, err := buildConfig(cs)
	if err != nil {
		release()
		return nil, err
	}
	c, paths, err := l.createContainer(cs, cfg)
	if err != nil {
		release()
		return nil, fmt.Errorf("sandbox: create container: %w", err)
	}
	// joined: the init is born in its cgroups, and libcontainer knows
	// none of them (see startInCgroups): destroyContainer removes them.
	joined := len(paths) > 0 && l.threadJoin()
	files, closeNull, err := openFiles(spec.Files)
	if err != nil {
		_ = destroyContainer(c, paths)
		release()
		return nil, err
	}
	argv := append([]string{in.Exe}, spec.Argv[1:]...)
	lp := &libcontainer.Process{
		Args:  argv,
		Env:   l.env(specLang, spec.Env),
		Cwd:   "/",
		Init:  true,
		Stdin: files[0], Stdout: files[1], Stderr: files[2],
		ExtraFiles: files[3:],
		// The init's log level, as runc sets it: without it, nsexec
		// sends a dozen debug records per start through the log pipe,
		// which the daemon parses only to drop them.
		LogLevel: strconv.Itoa(int(logrus.GetLevel())),
	}
	if l.seccompExec() {
		// The init execs the trampoline, which loads the filter and
		// execs the interpreter (see start_seccomp_linux.go). The
		// program's descriptor comes last, after the bond's.
		env, err := execEnv(lp.Env)
		if err != nil {
			closeNull()
			_ = destroyContainer(c, paths)
			release()
			return nil, fmt.Errorf("%w: %v", ErrProfile, err)
		}
		lp.Args = seccompExecArgs(argv, env)
		lp.Env = []string{seccompExecEnv + "=" + strconv.Itoa(len(files))}
		lp.ExtraFiles = append(slices.Clip(files[3:]), l.seccomp.File)
	}
	if spec.Dir != "" {
		lp.Cwd = spec.Dir
	}
	// Run returns once the init execs (libcontainer's exec fifo): the
	// trampoline, which loads the filter and execs the interpreter before
	// the interpreter reads anything. The init was born in the sandbox's memory and pids cgroups
	// (startInCgroups), or joined them before it did anything else
	// (cgroup v2, see createContainer), so when Launch returns the
	// interpreter is confined; the bond sends the driver, and the caller
	// the first untrusted input, only after Launch returned.
	// TestCgroupsBeforeLaunchReturns checks this.
	if joined {
		err = l.cgLayout.startInCgroups(paths, func() error {
			if err := c.Run(lp); err != nil {
				return err
			}
			// The profile's limit, before the starting thread
			// leaves: the sandbox never has more.
			return setPidsMax(paths, cs.Limits.Pids)
		})
	} else {
		err = c.Run(lp)
	}
	closeNull()
	if err != nil {
		_ = c.Signal(unix.SIGKILL)
		_, _ = lp.Wait()
		_ = destroyContainer(c, paths)
		release()
		return nil, fmt.Errorf("sandbox: start %s in profile %q: %w", in.Exe, l.profile.Name, err)
	}
	return l.newProcess(c, lp, cs, paths, release)
}

// createContainer does what libcontainer.Create does (validate the
// configuration, make the state directory), except that the container's
// cgroup manager knows only the sandbox's memory and pids cgroups, which
// the launcher creates with their limits: libcontainer.Create would build a
// manager for every cgroup v1 hierarchy mounted (see cgroupLayout), and has
// no option to say otherwise. libcontainer.Load builds the manager from the
// paths recorded in the state file, so the launcher writes that file, with
// the paths, and loads the container from it. libcontainer's init then
// joins exactly those cgroups, at its start, before it sets up anything
// (initProcess.start: "so that no children can escape the cgroup"), and
// Destroy removes exactly those. Without cgroups the map is empty and
// libcontainer joins none.
//
// On cgroup v1 the state has no paths: the init is born in its cgroups
// instead (startInCgroups), and the launcher removes them itself
// (destroyContainer; cgroupLayout.cleanStale after a crash).
//
// It returns the container and the sandbox's cgroups (empty without
// cgroups).
func (l *ContainerLauncher) createContainer(cs *containerSpec, cfg *configs.Config) (_ *libcontainer.Container, paths map[string]string, err error) {
	if err := validate.Validate(cfg); err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(l.croot, cs.ID)
	if err := os.Mkdir(dir, 0o711); err != nil {
		return nil, nil, err
	}
	paths = map[string]string{}
	defer func() {
		if err != nil {
			_ = removeCgroups(paths)
			_ = os.RemoveAll(dir)
		}
	}()
	statePaths := paths
	if cs.Cgroups {
		var spare int64
		if l.threadJoin() {
			spare = 1 // the starting thread
		}
		if paths, err = l.cgLayout.create(cs.ID, cs.Limits, spare); err != nil {
			return nil, nil, err
		}
		if !l.threadJoin() {
			statePaths = paths
		}
	}
	st := stateFile{State: libcontainer.State{BaseState: libcontainer.BaseState{ID: cs.ID, Created: time.Now().UTC(), Config: *cfg}}, CgroupPaths: statePaths}
	b, err := json.Marshal(&st)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), b, 0o600); err != nil {
		return nil, nil, err
	}
	c, err := libcontainer.Load(l.croot, cs.ID)
	return c, paths, err
}

// seccompExec says whether the trampoline loads the seccomp filter (see
// start_seccomp_linux.go), rather than libcontainer (or nothing, in
// benchmarks without a filter).
func (l *ContainerLauncher) seccompExec() bool {
	return !l.noSeccomp && !l.libcontainerSeccomp
}

// threadJoin says whether sandboxes are started from inside their cgroups
// (see startInCgroups).
func (l *ContainerLauncher) threadJoin() bool {
	return l.cgroups && l.cgLayout != nil && l.cgLayout.threadJoin()
}

// stateFile is libcontainer's state.json with the cgroup paths always
// written: libcontainer's own State omits an empty map, which Load would
// read as "compute the paths from the configuration", for every hierarchy.
type stateFile struct {
	libcontainer.State
	CgroupPaths map[string]string `json:"cgroup_paths"`
}

// openFiles returns spec files with nil entries replaced by /dev/null,
// and a func closing the /dev/null files it opened.
func openFiles(in []*os.File) ([]*os.File, func(), error) {
	n := max(len(in), 3)
	out := make([]*os.File, n)
	var opened []*os.File
	closeAll := func() {
		for _, f := range opened {
			f.Close()
		}
	}
	for i := range out {
		if i < len(in) && in[i] != nil {
			out[i] = in[i]
			continue
		}
		f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		opened = append(opened, f)
		out[i] = f
	}
	return out, closeAll, nil
}

// prepare resolves the interpreter, and builds its root filesystem and the
// list of binds each start makes, once per command.
//
// The root filesystem is built once: the interpreter's files are bound
// read-only into it on the host when the launcher may mount there (root),
// so that each start makes one recursive bind of the whole tree instead of
// one bind and one read-only remount per path (libcontainer spends a few
// tenths of a millisecond on each, and python needs some 30 paths). The
// profile's mounts stay per start. See rootfs.prebind.
func (l *ContainerLauncher) prepare(ctx context.Context, lang, cmd string) (*interpreter, *rootfs, []bindMount, error) {
	if l.profile.Interpreter != "" {
		cmd = l.profile.Interpreter // policy wins over the driver's default
	}
	in, err := resolveInterpreter(ctx, lang, cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.binds[cmd]; ok {
		return in, l.roots[cmd], b, nil
	}
	if l.closed {
		return nil, nil, nil, errors.New("sandbox: launcher closed")
	}
	root, err := newRootfs(filepath.Join(l.rdir, newID()))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sandbox: rootfs: %w", err)
	}
	fail := func(err error) (*interpreter, *rootfs, []bindMount, error) {
		if rerr := root.remove(); rerr != nil {
			l.log.Warn("sandbox: removing root filesystem", "dir", root.dir, "err", rerr)
		}
		return nil, nil, nil, err
	}
	bs := root.newBindSet()
	paths := in.Paths
	if l.seccompExec() {
		// The trampoline is this program: its loader and shared
		// libraries (libc, libseccomp) must be there too.
		// (trampolineDeps is computed once, and NewContainerLauncher
		// turns seccompExec off when it fails; the check is a guard.)
		deps, err := trampolineDeps()
		if err != nil {
			return fail(err)
		}
		paths = append(slices.Clip(paths), deps...)
	}
	for _, p := range paths {
		if err := bs.add(p); err != nil {
			return fail(fmt.Errorf("sandbox: binding %s: %w", p, err))
		}
	}
	srcs, err := bs.list()
	if err != nil {
		return fail(fmt.Errorf("sandbox: rootfs: %w", err))
	}
	var binds []bindMount
	for _, s := range srcs {
		binds = append(binds, bindMount{Source: s, Target: s})
	}
	if !l.rootless {
		if err := root.prebind(binds); err != nil {
			l.log.Debug("sandbox: binding the interpreter at each start", "reason", err)
		} else {
			binds = nil
		}
	}
	for i, m := range l.profile.Mounts {
		src, err := filepath.EvalSymlinks(m.Source)
		if err != nil {
			return fail(fmt.Errorf("%w: profile %q: mounts[%d].source: %v", ErrProfile, l.profile.Name, i, err))
		}
		fi, err := os.Stat(src)
		if err != nil {
			return fail(fmt.Errorf("%w: profile %q: mounts[%d].source: %v", ErrProfile, l.profile.Name, i, err))
		}
		dst := m.Target
		if dst == "" {
			dst = m.Source
		}
		dst = filepath.Clean(dst)
		if !filepath.IsAbs(dst) || dst == "/" || strings.HasPrefix(dst, "/proc") || strings.HasPrefix(dst, "/dev") {
			return fail(fmt.Errorf("%w: profile %q: mounts[%d].target %q: not an absolute path outside /, /proc and /dev", ErrProfile, l.profile.Name, i, dst))
		}
		if err := root.mountpoint(dst, fi.IsDir()); err != nil {
			return fail(err)
		}
		binds = append(binds, bindMount{Source: src, Target: dst, Writable: m.Writable})
	}
	l.roots[cmd] = root
	l.binds[cmd] = binds
	return in, root, binds, nil
}

// envAllow returns the names the container's environment takes from the
// bond's (besides BOND_*): bond.SideEnv, the profile's env.allow, and the
// settings of the driver of lang (a canonical language name, or "" for
// none). It is computed once per language; the caller must not modify it.
func (l *ContainerLauncher) envAllow(lang string) map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if allow, ok := l.allow[lang]; ok {
		return allow
	}
	allow := map[string]bool{bond.SideEnv: true}
	for _, n := range l.profile.Env.Allow {
		allow[n] = true
	}
	if drv, err := drivers.Lookup(lang); err == nil {
		for _, n := range drv.EnvNames() {
			allow[n] = true // the driver's own settings (drivers.HeapEnv)
		}
	}
	l.allow[lang] = allow
	return allow
}

// env builds the container's environment from the bond's and the
// profile's allowlist (envAllow; lang as there).
func (l *ContainerLauncher) env(lang string, in []string) []string {
	allow := l.envAllow(lang)
	vals := map[string]string{}
	var order []string
	put := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, kv := range in {
		k, v, ok := strings.Cut(kv, "=")
		if ok && (allow[k] || strings.HasPrefix(k, "BOND_")) {
			put(k, v)
		}
	}
	for _, k := range l.profile.Env.Allow {
		if _, ok := vals[k]; !ok {
			if v, ok := os.LookupEnv(k); ok {
				put(k, v)
			}
		}
	}
	for k, v := range l.profile.Env.Set {
		put(k, v)
	}
	if _, ok := vals["PATH"]; !ok {
		put("PATH", "/usr/local/bin:/usr/bin:/bin")
	}
	if _, ok := vals["HOME"]; !ok {
		put("HOME", "/tmp")
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out
}
