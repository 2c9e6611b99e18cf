//go:build linux

package sandbox

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/cgroups"
	_ "github.com/opencontainers/cgroups/devices" // registers the device-rules manager (cgroup v1 file, v2 eBPF)
	"golang.org/x/sys/unix"
)

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
