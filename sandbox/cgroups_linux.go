//go:build linux

package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

// A sandbox is confined by two cgroup controllers only: memory (a limit
// without swap, OOM kills counted) and pids (a limit, refused forks
// counted). Its cgroups are SANDBOND/ID under the daemon's own cgroup of
// each of those hierarchies (cgroup v1), or under the parent of the
// daemon's cgroup (cgroup v2, where the daemon's own cgroup holds
// processes and so cannot have children with controllers).
//
// libcontainer is not left to manage cgroups: on cgroup v1 it would join
// the container to every mounted hierarchy (cpu, cpuacct, cpuset, blkio,
// devices, freezer, net_cls, perf_event, hugetlb, name=systemd, the
// hybrid unified one...), a dozen mkdir, write and rmdir per start, and,
// above all, the cpu hierarchy puts the sandbox in a CFS task group of its
// own, which adds cross-group wake-up latency to every pipe round trip
// between the daemon and the interpreter (a warm call measured at 1.3-4x
// the same call unsandboxed). Instead the launcher creates the two
// cgroups and sets their limits itself (cgroupLayout.create). On cgroup
// v1 the container's init is born in them: a thread of the launcher that
// moved itself into them forks it (startInCgroups), because moving a
// process after the fork write-locks the kernel's cgroup_threadgroup_rwsem,
// which waits for an RCU grace period (6-20 ms on a loaded 2-core VM)
// unless the host boots with cgroup_favordynmods=true. The launcher then
// removes them itself when the sandbox ends. On cgroup v2 the launcher hands libcontainer the paths
// before the start, and libcontainer's cgroup manager moves the init into
// them right after it is forked and before it sets up anything
// (libcontainer's initProcess.start).
//
// On cgroup v2 the launcher enables only memory and pids for the sandboxes,
// but libcontainer's v2 manager, when it joins the init to the sandbox's
// cgroup, enables every controller the hierarchy offers on each ancestor
// of it (fs2.CreateCgroupPath), cpu included where the parent has it: the
// one CFS group per sandbox can come back there. Not measurable on the
// cgroup v1 hosts this was written on; avoiding it means not letting
// libcontainer join the cgroup at all (CLONE_INTO_CGROUP, which
// libcontainer does not offer for the init).
const cgroupDirName = "sandbond"

// cgroupLayout is where a launcher's sandboxes get their cgroups: the
// parent directories (one per v1 hierarchy, or the unified one) under
// which SANDBOND/ID is created. It is computed once per launcher.
type cgroupLayout struct {
	v2 bool
	// parents maps "memory" and "pids" (v1) or "" (v2) to the
	// directory that holds the sandboxes' cgroups (…/sandbond).
	parents map[string]string
	// roots maps "memory" and "pids" (v1 only) to the hierarchies'
	// roots, where a thread that started a sandbox goes if the daemon's
	// own cgroups are gone (see startInCgroups).
	roots map[string]string
	// memsw says whether the v1 memory controller accounts swap
	// (memory.memsw.limit_in_bytes exists), v2 whether memory.swap.max
	// exists.
	memsw bool
}

func newCgroupLayout() (*cgroupLayout, error) {
	lay := &cgroupLayout{parents: map[string]string{}, roots: map[string]string{}}
	if cgroups.IsCgroup2UnifiedMode() {
		lay.v2 = true
		own := filepath.Dir(ownCgroup2())
		base := filepath.Join("/sys/fs/cgroup", own)
		dir := filepath.Join(base, cgroupDirName)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		// Only memory and pids below: no cpu (or io...) task groups.
		enableControllers(base)
		enableControllers(dir)
		lay.parents[""] = dir
		return lay, nil
	}
	for _, sub := range []string{"memory", "pids"} {
		own, err := cgroups.GetOwnCgroupPath(sub)
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(own, cgroupDirName)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		lay.parents[sub] = dir
		if lay.roots[sub], err = cgroups.FindCgroupMountpoint("", sub); err != nil {
			return nil, err
		}
	}
	_, err := os.Stat(filepath.Join(lay.parents["memory"], "memory.memsw.limit_in_bytes"))
	lay.memsw = err == nil
	return lay, nil
}

// enableControllers enables memory and pids (only) for the children of
// cgroup v2 directory dir; errors are left to the limit writes to report.
func enableControllers(dir string) {
	for _, c := range []string{"+memory", "+pids"} {
		_ = os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte(c), 0)
	}
}

// threadJoin says whether a sandbox's first process is born in its
// cgroups, forked by a thread of the launcher that joined them (cgroup v1,
// where a single thread may move: see startInCgroups), rather than moved
// into them by libcontainer after the fork (cgroup v2).
func (lay *cgroupLayout) threadJoin() bool { return !lay.v2 }

// create makes the memory and pids cgroups of sandbox id with its limits
// and returns them as libcontainer's subsystem -> path map. Nothing is in
// them yet. spare is added to the pids limit: the launcher's thread that
// starts the sandbox from inside its cgroups counts there until it leaves,
// and the launcher lowers the limit to the profile's before it leaves
// (setPidsMax). On error nothing is left.
func (lay *cgroupLayout) create(id string, lim effectiveLimits, spare int64) (paths map[string]string, err error) {
	paths = map[string]string{}
	defer func() {
		if err != nil {
			removeCgroups(paths)
		}
	}()
	for sub, parent := range lay.parents {
		dir := filepath.Join(parent, id)
		err := os.Mkdir(dir, 0o755)
		if errors.Is(err, os.ErrNotExist) {
			// A launcher's Close removed the empty parent (see
			// removeParents): make it again.
			if err = os.MkdirAll(parent, 0o755); err == nil {
				err = os.Mkdir(dir, 0o755)
			}
		}
		if err != nil {
			return nil, err
		}
		paths[sub] = dir
	}
	write := func(sub, file string, v int64) error {
		if err := os.WriteFile(filepath.Join(paths[sub], file), []byte(strconv.FormatInt(v, 10)), 0); err != nil {
			return fmt.Errorf("sandbox: cgroup limit %s: %w", file, err)
		}
		return nil
	}
	if lay.v2 {
		if lim.Memory > 0 {
			if err := write("", "memory.max", lim.Memory); err != nil {
				return nil, err
			}
			if err := write("", "memory.swap.max", 0); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
		if lim.Pids > 0 {
			if err := write("", "pids.max", lim.Pids+spare); err != nil {
				return nil, err
			}
		}
		return paths, nil
	}
	if lim.Memory > 0 {
		if err := write("memory", "memory.limit_in_bytes", lim.Memory); err != nil {
			return nil, err
		}
		if lay.memsw {
			// memory+swap = memory: no swap.
			if err := write("memory", "memory.memsw.limit_in_bytes", lim.Memory); err != nil {
				return nil, err
			}
		}
	}
	if lim.Pids > 0 {
		if err := write("pids", "pids.max", lim.Pids+spare); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// setPidsMax writes the pids limit of a sandbox's cgroup (paths as create
// returns them); n <= 0 leaves it unlimited.
func setPidsMax(paths map[string]string, n int64) error {
	if n <= 0 {
		return nil
	}
	dir, ok := paths["pids"]
	if !ok {
		dir = paths[""]
	}
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte(strconv.FormatInt(n, 10)), 0); err != nil {
		return fmt.Errorf("sandbox: cgroup limit pids.max: %w", err)
	}
	return nil
}

// removeCgroups removes a sandbox's cgroups; cgroup v1 rmdir can be EBUSY
// for a moment after the last process exited (RemovePath retries).
func removeCgroups(paths map[string]string) error {
	var first error
	for _, p := range paths {
		if err := cgroups.RemovePath(p); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// removeParents removes the sandbond directories when no sandbox cgroup is
// left in them (rmdir fails otherwise), so that a daemon that is done
// leaves nothing in its cgroups.
func (lay *cgroupLayout) removeParents() {
	for _, parent := range lay.parents {
		_ = os.Remove(parent)
	}
}

// cleanStale removes the cgroups of sandboxes whose daemon is gone
// (see ownerAlive), killing what still runs in them.
func (lay *cgroupLayout) cleanStale() {
	for _, parent := range lay.parents {
		ents, _ := os.ReadDir(parent)
		for _, e := range ents {
			if !e.IsDir() || ownerAlive(e.Name()) {
				continue
			}
			dir := filepath.Join(parent, e.Name())
			if pids, err := cgroups.GetAllPids(dir); err == nil {
				for _, pid := range pids {
					_ = unix.Kill(pid, unix.SIGKILL)
				}
			}
			_ = cgroups.RemovePath(dir)
		}
	}
}

// cgroupSupport says whether this process may create cgroups with memory and
// pids limits, and why not.
func cgroupSupport() (ok bool, why string) {
	if cgroups.IsCgroup2UnifiedMode() {
		own := ownCgroup2()
		dir := filepath.Join("/sys/fs/cgroup", own)
		ctrl, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
		if err != nil {
			return false, "cannot read " + dir + "/cgroup.controllers: " + err.Error()
		}
		f := strings.Fields(string(ctrl))
		if !hasAll(f, "memory", "pids") {
			return false, "the memory and pids controllers are not enabled in " + dir
		}
		if unix.Access(dir, unix.W_OK) != nil {
			return false, "cgroup " + dir + " is not delegated to uid " + strconv.Itoa(os.Geteuid()) +
				" (run as root, or under a systemd unit with Delegate=yes)"
		}
		return true, ""
	}
	if os.Geteuid() != 0 {
		return false, "cgroup v1 (or hybrid) hierarchy: only root may create cgroups; use cgroup v2 with a delegated subtree, or set limits.cgroups to \"optional\""
	}
	for _, c := range []string{"memory", "pids"} {
		if _, err := cgroups.FindCgroupMountpoint("", c); err != nil {
			return false, "cgroup v1 controller " + c + " is not mounted"
		}
	}
	return true, ""
}

func hasAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func ownCgroup2() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "/"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	return "/"
}

// cgroupEvents reads the counters that tell why a sandbox died: oom kills
// and refused forks. paths is libcontainer's subsystem -> path map.
func cgroupEvents(paths map[string]string) (oomKills, pidsMax int64) {
	if p, ok := paths[""]; ok && cgroups.IsCgroup2UnifiedMode() {
		return readKey(filepath.Join(p, "memory.events"), "oom_kill"), readKey(filepath.Join(p, "pids.events"), "max")
	}
	if p, ok := paths["memory"]; ok {
		oomKills = readKey(filepath.Join(p, "memory.oom_control"), "oom_kill")
	}
	if p, ok := paths["pids"]; ok {
		pidsMax = readKey(filepath.Join(p, "pids.events"), "max")
	}
	return oomKills, pidsMax
}

// readKey returns the value of "key N" in a cgroup flat-keyed file, or 0.
func readKey(path, key string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// pidsWatch kills a sandbox when a fork or clone in it fails at its pids
// limit. A fork bomb otherwise never ends: the limit holds, the forks keep
// failing, and the sandbox spins until its CPU or wall limit, which then
// names the wrong cause (or until a call times out, leaving the bomb's
// processes behind in a recycled sandbox).
//
// The "max" counter of pids.events says a fork failed. cgroup v2 notifies
// changes of that file through inotify; the v1 pids controller does not, so
// the watch also reads the file every pidsPoll.
type pidsWatch struct {
	f    *os.File // inotify instance, or nil
	stop chan struct{}
	once sync.Once
}

const pidsPoll = 100 * time.Millisecond

// watchPids watches the pids.events file of the sandbox's cgroup (paths is
// libcontainer's subsystem -> path map) and calls hit, once, when its
// "max" counter is not zero. It returns nil when there is nothing to watch.
func watchPids(paths map[string]string, hit func()) *pidsWatch {
	dir, ok := paths["pids"]
	if !ok || dir == "" {
		dir = paths[""]
	}
	if dir == "" {
		return nil
	}
	events := filepath.Join(dir, "pids.events")
	w := &pidsWatch{stop: make(chan struct{})}
	if fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC); err == nil {
		if _, err := unix.InotifyAddWatch(fd, events, unix.IN_MODIFY); err == nil {
			w.f = os.NewFile(uintptr(fd), "inotify:"+events) // non-blocking: the runtime's poller waits on it
		} else {
			unix.Close(fd)
		}
	}
	go func() {
		buf := make([]byte, 512)
		t := time.NewTimer(pidsPoll)
		defer t.Stop()
		for {
			if readKey(events, "max") > 0 {
				hit()
				return
			}
			if w.f != nil {
				_ = w.f.SetReadDeadline(time.Now().Add(pidsPoll))
				if _, err := w.f.Read(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					return // stopped
				}
				continue
			}
			t.Reset(pidsPoll)
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// end stops the watch; it is safe on nil and more than once.
func (w *pidsWatch) end() {
	if w == nil {
		return
	}
	w.once.Do(func() {
		close(w.stop)
		if w.f != nil {
			w.f.Close()
		}
	})
}
