//go:build linux

package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/sandbond/sandbond/policy"
	"github.com/sandbond/sandbond/profiles"
)

// seccompFilter is a parsed and checked OCI seccomp profile.
type seccompFilter struct {
	// Config is handed to libcontainer, which installs it right before
	// the interpreter's execve.
	Config *configs.Seccomp
	// Hash identifies the profile's bytes.
	Hash [32]byte
}

var (
	seccompMu    sync.Mutex
	seccompCache = map[[32]byte]*seccompFilter{}
)

// seccompJSON returns the OCI seccomp JSON a profile names.
func seccompJSON(p *policy.Profile, override []byte) ([]byte, error) {
	if override != nil {
		return override, nil
	}
	if p.Seccomp.Disabled {
		return nil, fmt.Errorf("%w: profile %q: seccomp.disabled: the container launcher always runs a seccomp filter; remove \"disabled\" or use the plain launcher", ErrProfile, p.Name)
	}
	name := p.Seccomp.Profile
	if name == "" {
		name = "builtin:interpreter"
	}
	if strings.HasPrefix(name, "builtin:") {
		b, err := profiles.SeccompProfile(name)
		if err != nil {
			return nil, fmt.Errorf("%w: profile %q: seccomp.profile: %v", ErrProfile, p.Name, err)
		}
		return b, nil
	}
	if !filepath.IsAbs(name) {
		// The policy loader resolves paths relative to the profile
		// file; a relative path left here is relative to the daemon.
		abs, err := filepath.Abs(name)
		if err != nil {
			return nil, err
		}
		name = abs
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("%w: profile %q: seccomp.profile: %v", ErrProfile, p.Name, err)
	}
	return b, nil
}

// compileSeccomp parses, checks and converts an OCI seccomp JSON profile,
// once per distinct content. The profile is also compiled to BPF with
// libseccomp once here, so that a bad rule is an error at launcher
// creation rather than at every start.
func compileSeccomp(raw []byte) (*seccompFilter, error) {
	h := sha256.Sum256(raw)
	seccompMu.Lock()
	defer seccompMu.Unlock()
	if f, ok := seccompCache[h]; ok {
		return f, nil
	}
	var spec specs.LinuxSeccomp
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("%w: seccomp profile: %v", ErrProfile, err)
	}
	if spec.DefaultAction == specs.ActAllow {
		return nil, fmt.Errorf("%w: seccomp profile: defaultAction SCMP_ACT_ALLOW is not a sandbox; deny by default and list what is allowed", ErrProfile)
	}
	cfg, err := specconv.SetupSeccomp(&spec)
	if err != nil {
		return nil, fmt.Errorf("%w: seccomp profile: %v", ErrProfile, err)
	}
	if _, err := bpfSize(cfg); err != nil {
		return nil, fmt.Errorf("%w: seccomp profile: %v", ErrProfile, err)
	}
	f := &seccompFilter{Config: cfg, Hash: h}
	seccompCache[h] = f
	return f, nil
}

// bpfSize compiles cfg with libseccomp into a BPF program and returns its
// length in instructions. It mirrors what libcontainer does in the
// container (see libcontainer/seccomp), minus loading the program.
func bpfSize(cfg *configs.Seccomp) (int, error) {
	def, err := scmpAction(cfg.DefaultAction, cfg.DefaultErrnoRet)
	if err != nil {
		return 0, err
	}
	filter, err := libseccomp.NewFilter(def)
	if err != nil {
		return 0, err
	}
	defer filter.Release()
	for _, a := range cfg.Architectures {
		arch, err := libseccomp.GetArchFromString(a)
		if err != nil {
			return 0, err
		}
		if err := filter.AddArch(arch); err != nil {
			return 0, err
		}
	}
	if len(cfg.Syscalls) > 32 {
		_ = filter.SetOptimize(2)
	}
	for _, call := range cfg.Syscalls {
		nr, err := libseccomp.GetSyscallFromName(call.Name)
		if err != nil {
			continue // unknown on this kernel/arch: libcontainer skips it too
		}
		act, err := scmpAction(call.Action, call.ErrnoRet)
		if err != nil {
			return 0, fmt.Errorf("syscall %s: %w", call.Name, err)
		}
		if act == def {
			continue
		}
		var conds []libseccomp.ScmpCondition
		for _, a := range call.Args {
			op, err := scmpOp(a.Op)
			if err != nil {
				return 0, fmt.Errorf("syscall %s: %w", call.Name, err)
			}
			c, err := libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
			if err != nil {
				return 0, fmt.Errorf("syscall %s: %w", call.Name, err)
			}
			conds = append(conds, c)
		}
		if len(conds) == 0 {
			err = filter.AddRule(nr, act)
		} else {
			err = filter.AddRuleConditional(nr, act, conds)
		}
		if err != nil {
			return 0, fmt.Errorf("syscall %s: %w", call.Name, err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	done := make(chan int64, 1)
	go func() { n, _ := io.Copy(io.Discard, r); r.Close(); done <- n }()
	err = filter.ExportBPF(w)
	w.Close()
	n := <-done
	if err != nil {
		return 0, err
	}
	return int(n / 8), nil
}

func scmpAction(a configs.Action, errno *uint) (libseccomp.ScmpAction, error) {
	ret := int16(unix.EPERM)
	if errno != nil {
		ret = int16(*errno)
	}
	switch a {
	case configs.Kill, configs.KillThread:
		return libseccomp.ActKillThread, nil
	case configs.KillProcess:
		return libseccomp.ActKillProcess, nil
	case configs.Errno:
		return libseccomp.ActErrno.SetReturnCode(ret), nil
	case configs.Trap:
		return libseccomp.ActTrap, nil
	case configs.Allow:
		return libseccomp.ActAllow, nil
	case configs.Trace:
		return libseccomp.ActTrace.SetReturnCode(ret), nil
	case configs.Log:
		return libseccomp.ActLog, nil
	}
	return 0, fmt.Errorf("seccomp action %d not supported in a sandbox", a)
}

func scmpOp(op configs.Operator) (libseccomp.ScmpCompareOp, error) {
	switch op {
	case configs.EqualTo:
		return libseccomp.CompareEqual, nil
	case configs.NotEqualTo:
		return libseccomp.CompareNotEqual, nil
	case configs.GreaterThan:
		return libseccomp.CompareGreater, nil
	case configs.GreaterThanOrEqualTo:
		return libseccomp.CompareGreaterEqual, nil
	case configs.LessThan:
		return libseccomp.CompareLess, nil
	case configs.LessThanOrEqualTo:
		return libseccomp.CompareLessOrEqual, nil
	case configs.MaskEqualTo:
		return libseccomp.CompareMaskedEqual, nil
	}
	return 0, fmt.Errorf("seccomp operator %d unknown", op)
}

// SyscallName returns the name of system call nr on the native
// architecture, or "syscall_NR" when libseccomp does not know it.
func SyscallName(nr int) string {
	name, err := libseccomp.ScmpSyscall(nr).GetName()
	if err != nil || name == "" {
		return "syscall_" + strconv.Itoa(nr)
	}
	return name
}

var auditSeccompRe = regexp.MustCompile(`type=1326 .*\bpid=(\d+)\b.*\bsig=(\d+)\b.*\bsyscall=(\d+)\b`)

// seccompKilledSyscall looks for the kernel's audit record of a seccomp kill
// of host pid in /dev/kmsg and returns the system call number, or -1. The
// kernel writes that record for SECCOMP_RET_KILL_* (see
// /proc/sys/kernel/seccomp/actions_logged) when auditd does not consume it;
// reading /dev/kmsg needs CAP_SYSLOG when kernel.dmesg_restrict=1.
func seccompKilledSyscall(pid int) int {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	defer unix.Close(fd)
	want := strconv.Itoa(pid)
	nr := -1
	buf := make([]byte, 8192) // one record per read(2)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EPIPE || err == unix.EINTR {
			continue // records overwritten while reading: go on
		}
		if err != nil || n <= 0 {
			break // EAGAIN: the end of the buffer
		}
		line := string(buf[:n])
		if !strings.Contains(line, "type=1326") {
			continue
		}
		if m := auditSeccompRe.FindStringSubmatch(line); m != nil && m[1] == want {
			nr, _ = strconv.Atoi(m[3])
		}
	}
	return nr
}
