//go:build linux

package sandbox

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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
