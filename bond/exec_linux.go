package bond

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ExecLauncher starts the interpreter as a plain child process in its own
// process group. Kill ends the whole group, so nothing the interpreter
// started outlives it.
type ExecLauncher struct {
	// InterruptGroup sends interrupts to the whole process group instead
	// of the interpreter alone (used for commands run under a shell).
	InterruptGroup bool
}

// Launch implements Launcher.
func (l ExecLauncher) Launch(ctx context.Context, spec *LaunchSpec) (Process, error) {
	if len(spec.Argv) == 0 {
		return nil, errors.New("launch: empty command line")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Dir, cmd.Env = spec.Dir, spec.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	files := append([]*os.File(nil), spec.Files...)
	for len(files) < 3 {
		files = append(files, nil)
	}
	// Assign only real files: a nil *os.File in these interfaces would
	// not be nil, and the child would get a closed descriptor instead of
	// /dev/null.
	if files[0] != nil {
		cmd.Stdin = files[0]
	}
	if files[1] != nil {
		cmd.Stdout = files[1]
	}
	if files[2] != nil {
		cmd.Stderr = files[2]
	}
	cmd.ExtraFiles = files[3:]
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Argv[0], err)
	}
	return &execProcess{cmd: cmd, group: l.InterruptGroup}, nil
}

type execProcess struct {
	cmd    *exec.Cmd
	group  bool
	mu     sync.Mutex
	exited bool // the leader is dead; the group may be gone
}

func (p *execProcess) Pid() int { return p.cmd.Process.Pid }

func (p *execProcess) Interrupt() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return nil
	}
	pid := p.cmd.Process.Pid
	if p.group {
		pid = -pid
	}
	return ignoreESRCH(syscall.Kill(pid, syscall.SIGINT))
}

func (p *execProcess) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return nil
	}
	return ignoreESRCH(syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL))
}

// Wait waits for the leader to exit without reaping it, kills what is left
// of its group while the group id cannot be reused, then reaps it.
func (p *execProcess) Wait() error {
	pid := p.cmd.Process.Pid
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	p.mu.Lock()
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	p.exited = true
	p.mu.Unlock()
	return p.cmd.Wait()
}

func ignoreESRCH(err error) error {
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}
