//go:build linux

package sandbox

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// Process is a sandboxed interpreter, as [ContainerLauncher.Launch] returns
// it. It implements [bond.Process].
//
// It is supervised through a pidfd: signals go through pidfd_send_signal,
// so they can never reach a recycled pid, and nothing relies on
// Pdeathsig (libcontainer ends an OS thread per start, which would fire the
// parent-death signal of unrelated children). When the daemon dies, the
// interpreter sees its protocol pipes close, and the next daemon removes
// what is left (see [NewContainerLauncher]).
type Process struct {
	l       *ContainerLauncher
	c       *libcontainer.Container
	lp      *libcontainer.Process
	cs      *containerSpec
	cgroups map[string]string // the sandbox's cgroups (libcontainer's subsystem -> path map)
	pid     int
	release func()
	timer   *time.Timer
	started time.Time
	pidsW   *pidsWatch
	unaudit func()

	mu      sync.Mutex
	pidfd   int // -1 once closed
	wallHit bool
	pidsHit bool
	seccomp *seccompKill // a seccomp kill anywhere in the sandbox
	waited  bool
}

func (l *ContainerLauncher) newProcess(c *libcontainer.Container, lp *libcontainer.Process, cs *containerSpec, cgroups map[string]string, release func()) (*Process, error) {
	pid, err := lp.Pid()
	if err != nil {
		return nil, err
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		_ = c.Signal(unix.SIGKILL)
		_, _ = lp.Wait()
		_ = destroyContainer(c, cgroups)
		release()
		l.live.Done()
		return nil, os.NewSyscallError("pidfd_open", err)
	}
	p := &Process{l: l, c: c, lp: lp, cs: cs, cgroups: cgroups, pid: pid, release: release, pidfd: fd, started: time.Now()}
	if a := auditReaderOnce(); a != nil && !cs.Rootless {
		// The filter kills only the offending process (KILL_PROCESS), or
		// only the offending thread for a system call of another ABI
		// (int 0x80, x32: libseccomp's bad-arch action, which
		// libcontainer leaves at KILL_THREAD). Either way the rest of the
		// sandbox would go on, and the host would never hear of it. The
		// sandbox's own host uid names it in the audit record: end it.
		p.unaudit = a.onUID(int(cs.HostUID), func(k seccompKill) {
			p.mu.Lock()
			if !p.waited && p.seccomp == nil {
				p.seccomp = &k
			}
			p.mu.Unlock()
			_ = p.signal(unix.SIGKILL)
		})
	}
	if cs.Cgroups && cs.Limits.Pids > 0 {
		// Reaching the pids limit ends the sandbox (see watchPids).
		p.pidsW = watchPids(cgroups, func() {
			p.mu.Lock()
			if !p.waited {
				p.pidsHit = true
			}
			p.mu.Unlock()
			_ = p.signal(unix.SIGKILL)
		})
	}
	if cs.Limits.Wall > 0 {
		p.timer = time.AfterFunc(cs.Limits.Wall, func() {
			p.mu.Lock()
			if !p.waited {
				p.wallHit = true
			}
			p.mu.Unlock()
			_ = p.signal(unix.SIGKILL)
		})
	}
	l.log.Debug("sandbox: started", "profile", l.profile.Name, "id", cs.ID, "pid", pid, "host_uid", cs.HostUID)
	return p, nil
}

// Pid returns the interpreter's pid on the host.
func (p *Process) Pid() int { return p.pid }

// ID returns the container id (also the name of its state directory and
// cgroup).
func (p *Process) ID() string { return p.cs.ID }

// HostUID returns the host uid (and gid) that the container's root maps to.
func (p *Process) HostUID() int { return int(p.cs.HostUID) }

// Interrupt sends SIGINT to the interpreter. It is pid 1 of its pid
// namespace, so the kernel delivers the signal only when the interpreter
// handles it (python does; the drivers install a handler).
func (p *Process) Interrupt() error { return p.signal(unix.SIGINT) }

// Kill ends the interpreter at once, and with it everything in its pid
// namespace.
func (p *Process) Kill() error { return p.signal(unix.SIGKILL) }

func (p *Process) signal(sig unix.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pidfd < 0 {
		return os.ErrProcessDone
	}
	err := unix.PidfdSendSignal(p.pidfd, sig, nil, 0)
	if errors.Is(err, unix.ESRCH) {
		return os.ErrProcessDone
	}
	if err != nil {
		return os.NewSyscallError("pidfd_send_signal", err)
	}
	return nil
}

// Wait waits for the interpreter to end, removes its container (state,
// cgroups, host uid) and says why it ended: nil, a [*LimitError], a
// [*SeccompError] or the *exec.ExitError of the interpreter.
func (p *Process) Wait() error {
	st, werr := p.lp.Wait()
	if p.timer != nil {
		p.timer.Stop()
	}
	p.pidsW.end()
	if p.unaudit != nil {
		p.unaudit()
	}
	p.mu.Lock()
	p.waited = true
	wall, pidsHit, sk := p.wallHit, p.pidsHit, p.seccomp
	_ = unix.Close(p.pidfd)
	p.pidfd = -1
	p.mu.Unlock()

	var oom, pidsMax int64
	if p.cs.Cgroups {
		oom, pidsMax = cgroupEvents(p.cgroups)
	}
	if pidsHit {
		pidsMax = max(pidsMax, 1)
	}
	err := p.classify(st, werr, sk, wall, pidsHit, oom, pidsMax)
	if derr := destroyContainer(p.c, p.cgroups); derr != nil {
		p.l.log.Warn("sandbox: destroying container", "id", p.cs.ID, "err", derr)
	}
	p.release()
	p.l.live.Done()
	return err
}

// destroyContainer removes container c's state and the sandbox's cgroups
// (libcontainer's subsystem -> path map): libcontainer removes those it
// knows (cgroup v2), removeCgroups the others (v1, see startInCgroups)
// and finds the ones libcontainer removed gone. Both run even when the
// first fails; it returns the first error. A cgroup's rmdir can be EBUSY
// for a moment while the processes of the pid namespace finish dying:
// cgroups.RemovePath, under both, retries it with backoff.
func destroyContainer(c *libcontainer.Container, cgroups map[string]string) error {
	err := c.Destroy()
	if rerr := removeCgroups(cgroups); err == nil {
		err = rerr
	}
	return err
}

func (p *Process) classify(st *os.ProcessState, werr error, sk *seccompKill, wall, pidsHit bool, oom, pidsMax int64) error {
	name := p.l.profile.Name
	lim := p.cs.Limits
	if sk != nil {
		// Reported even after a clean exit: a violation anywhere in the
		// sandbox is what the caller must hear of.
		if werr == nil && st != nil && !st.Success() {
			werr = execExitError(st)
		}
		return &SeccompError{Syscall: sk.name(), Nr: sk.nr, Profile: name, Err: werr}
	}
	if st == nil {
		return werr
	}
	if st.Success() {
		return nil
	}
	if werr == nil {
		werr = execExitError(st)
	}
	if wall {
		return &LimitError{Limit: LimitWall, Value: int64(lim.Wall), Profile: name, Err: werr}
	}
	if pidsHit {
		return &LimitError{Limit: LimitPids, Value: lim.Pids, Profile: name, Err: werr}
	}
	if oom > 0 {
		return &LimitError{Limit: LimitMemory, Value: lim.Memory, Profile: name, Err: werr}
	}
	ws, _ := st.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		switch ws.Signal() {
		case syscall.SIGSYS:
			e := &SeccompError{Nr: -1, Profile: name, Err: werr}
			if k, ok := seccompKilledSyscall(p.pid, p.started); ok {
				e.Nr, e.Syscall = k.nr, k.name()
			}
			return e
		case syscall.SIGXCPU:
			return &LimitError{Limit: LimitCPU, Value: lim.CPUSeconds, Profile: name, Err: werr}
		case syscall.SIGXFSZ:
			return &LimitError{Limit: LimitFileSize, Value: lim.FileSize, Profile: name, Err: werr}
		case syscall.SIGKILL:
			if lim.CPUSeconds > 0 && st.UserTime()+st.SystemTime() >= time.Duration(lim.CPUSeconds)*time.Second {
				return &LimitError{Limit: LimitCPU, Value: lim.CPUSeconds, Profile: name, Err: werr}
			}
		}
	}
	if pidsMax > 0 {
		return &LimitError{Limit: LimitPids, Value: lim.Pids, Profile: name, Err: werr}
	}
	return werr
}
