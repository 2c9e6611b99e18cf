//go:build linux

package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Starting a sandbox inside its cgroups (cgroup v1).
//
// Moving a process into a cgroup (a pid written to cgroup.procs, what
// libcontainer's cgroup manager does right after it forks the container's
// init) write-locks the kernel's global cgroup_threadgroup_rwsem, which
// first waits for an RCU grace period: 6 to 20 ms of every start on a
// loaded 2-core VM, more than all the rest of what cgroups cost.
//
// A thread that moves itself (0 written to a v1 hierarchy's tasks file)
// needs no such lock: it cannot exit or exec under the kernel's feet, and
// the kernel skips the global lock for it (about 50 µs per hierarchy
// here, Linux 6.18; a kernel that takes the lock anyway makes the thread
// wait instead, and the start costs what it did). A forked child starts in the cgroups of the thread that forked it,
// and Go forks on the calling thread. So the launcher starts each sandbox
// from a fresh OS thread (a goroutine locked to it) that first moves itself
// into the sandbox's memory and pids cgroups, then runs libcontainer's
// start: the container's init is born in them, before it runs a single
// instruction, and so is everything it forks. The thread then moves back to
// the daemon's own cgroups and ends (its goroutine returns still locked,
// so the runtime destroys it rather than reuse a thread that
// libcontainer's start ran on).
//
// libcontainer is given no cgroup paths for that start, so it joins
// nothing (its manager's Apply would pay the grace period again, even for
// a process already in place), and it never learns them: the launcher
// removes them when the sandbox ends (destroyContainer), and the next
// daemon removes those of a daemon that died (cgroupLayout.cleanStale).
// (Recording them in the container's state after the start meant writing
// and loading that state a second time at every start, for nothing
// libcontainer would do with them.)
//
// While the thread is inside, it counts against the sandbox's pids limit:
// the cgroup is created with one more pid than the profile's limit, which
// the launcher lowers to the profile's once the container runs, before the
// thread leaves, so the sandbox's own processes never get more than the
// profile allows (for a few microseconds, one less).
// Memory the thread allocates is charged to the daemon (the memory cgroup
// of a page is its mm owner's), apart from kernel objects it allocates
// while inside (the init's task and stack, pipes): those are the
// sandbox's anyway.
//
// cgroup v2 has no per-thread moves outside threaded subtrees; there
// libcontainer joins the init as before.

// v1Controllers are the hierarchies a sandbox joins on cgroup v1, in the
// order the starting thread joins them.
var v1Controllers = [...]string{"memory", "pids"}

// moveThread moves the calling thread (which must be locked to its
// goroutine) into the cgroup dirs[c] of each v1 controller c.
func moveThread(dirs map[string]string) error {
	for _, c := range v1Controllers {
		dir, ok := dirs[c]
		if !ok {
			return fmt.Errorf("sandbox: no %s cgroup", c)
		}
		// "0" is the writing thread itself: no pid lookup, and no
		// global threadgroup lock.
		if err := os.WriteFile(filepath.Join(dir, "tasks"), []byte("0"), 0); err != nil {
			return fmt.Errorf("sandbox: moving the starting thread into %s: %w", dir, err)
		}
	}
	return nil
}

// startInCgroups runs start on a new OS thread that has joined the cgroups
// paths (libcontainer's subsystem -> path map of a sandbox), so that the
// process start forks is born in them; then the thread leaves them (for
// the daemon's own cgroups, or the hierarchies' roots if those are gone)
// and ends. It returns start's error, or why the thread could not move;
// after an error the caller removes the container.
func (lay *cgroupLayout) startInCgroups(paths map[string]string, start func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the runtime ends the thread with this
		// goroutine, whatever state a failed move or libcontainer's
		// start left it in.
		runtime.LockOSThread()
		if err := moveThread(paths); err != nil {
			errc <- err
			return
		}
		err := start()
		lerr := moveThread(lay.home())
		if lerr != nil {
			lerr = moveThread(lay.roots)
		}
		if err == nil {
			err = lerr
		}
		errc <- err
	}()
	return <-errc
}

// home maps "memory" and "pids" to the daemon's own cgroups (cgroup v1),
// the parents of lay.parents.
func (lay *cgroupLayout) home() map[string]string {
	home := make(map[string]string, len(lay.parents))
	for sub, parent := range lay.parents {
		home[sub] = filepath.Dir(parent)
	}
	return home
}
