//go:build linux

package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/sandbond/sandbond/policy"
	"github.com/sandbond/sandbond/profiles"
)

// seccompFilter is a parsed, checked and compiled OCI seccomp profile.
type seccompFilter struct {
	// Config is the profile as libcontainer takes it: handed to it only
	// where the trampoline cannot run (see trampolineDeps), and by tests
	// and benchmarks, to compare.
	Config *configs.Seccomp
	// Hash identifies the profile's bytes.
	Hash [32]byte
	// Prog and Flags are the BPF program libcontainer would compile
	// from Config and the flags it would load it with (seccompProgram).
	Prog  []unix.SockFilter
	Flags uint
	// File holds Prog for the trampoline (programFile): a sealed,
	// read-only memfd, open for the life of the process.
	File *os.File
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

// compileSeccomp parses, checks, converts and compiles an OCI seccomp JSON
// profile, once per distinct content: to the BPF program libcontainer
// would compile in every container, which the trampoline loads instead
// (see start_seccomp_linux.go). A bad rule is an error at launcher
// creation.
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
	prog, flags, err := seccompProgram(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: seccomp profile: %v", ErrProfile, err)
	}
	file, err := programFile(prog, flags)
	if err != nil {
		return nil, fmt.Errorf("sandbox: seccomp program file: %w", err)
	}
	f := &seccompFilter{Config: cfg, Hash: h, Prog: prog, Flags: flags, File: file}
	seccompCache[h] = f
	return f, nil
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

// seccompKill is what the kernel's audit record of a seccomp kill says.
type seccompKill struct {
	pid  int
	uid  int    // host uid of the process
	arch uint32 // AUDIT_ARCH_* of the system call
	nr   int
	at   time.Time // when the launcher received the record
}

// x32SyscallBit (__X32_SYSCALL_BIT) marks the system call numbers of the
// x32 ABI, which shares x86_64's audit architecture.
const x32SyscallBit = 0x40000000

// name returns the system call's name: plain for the native ABI, prefixed
// with the ABI otherwise ("i386:getpid", "x32:getpid"), because the same
// number means another call there.
func (k seccompKill) name() string {
	switch {
	case k.arch == unix.AUDIT_ARCH_X86_64 && k.nr&x32SyscallBit != 0:
		return "x32:" + syscallNameArch(k.nr, libseccomp.ArchX32, k.nr&^x32SyscallBit)
	case k.arch == unix.AUDIT_ARCH_I386:
		return "i386:" + syscallNameArch(k.nr, libseccomp.ArchX86, k.nr)
	case k.arch == unix.AUDIT_ARCH_ARM:
		return "arm:" + syscallNameArch(k.nr, libseccomp.ArchARM, k.nr)
	case k.arch == unix.AUDIT_ARCH_X86_64 || k.arch == unix.AUDIT_ARCH_AARCH64 || k.arch == 0:
		return SyscallName(k.nr)
	}
	return fmt.Sprintf("arch_%x:syscall_%d", k.arch, k.nr)
}

func syscallNameArch(nr int, arch libseccomp.ScmpArch, plain int) string {
	if name, err := libseccomp.ScmpSyscall(nr).GetNameByArch(arch); err == nil && name != "" {
		return name
	}
	return "syscall_" + strconv.Itoa(plain)
}

// The audit patterns are compiled on first use: every sandbox's init runs
// this package's initializers.
var auditSeccompRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`type=1326 .*\bpid=(\d+)\b.*\bsig=(\d+)\b.*\barch=([0-9a-f]+)\b.*\bsyscall=(\d+)\b`)
})

// auditFieldsRe parses the text of an AUDIT_SECCOMP record as the audit
// netlink socket delivers it (without the "type=1326" prefix of the kernel
// log).
var auditFieldsRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`\buid=(\d+)\b.*\bpid=(\d+)\b.*\barch=([0-9a-f]+)\b.*\bsyscall=(\d+)\b`)
})

// seccompKilledSyscall returns the kernel's audit record of a seccomp kill
// of host pid, started at or after since, or ok false. It asks the audit
// netlink reader first (see auditReader), waiting a moment for the record
// (the kernel's audit thread sends it after the kill), and the kernel log
// second.
func seccompKilledSyscall(pid int, since time.Time) (seccompKill, bool) {
	if a := auditReaderOnce(); a != nil {
		if k, ok := a.wait(pid, since, 250*time.Millisecond); ok {
			return k, true
		}
	}
	return kmsgKilledSyscall(pid)
}

// kmsgKilledSyscall looks for the kernel's audit record of a seccomp kill
// of host pid in /dev/kmsg. The kernel writes that record for
// SECCOMP_RET_KILL_* (see /proc/sys/kernel/seccomp/actions_logged) when
// auditd does not consume it, rate limited like any printk (a burst of
// kills loses records: hence auditReader); reading /dev/kmsg needs
// CAP_SYSLOG when kernel.dmesg_restrict=1.
func kmsgKilledSyscall(pid int) (seccompKill, bool) {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return seccompKill{}, false
	}
	defer unix.Close(fd)
	want := strconv.Itoa(pid)
	var found seccompKill
	ok := false
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
		if m := auditSeccompRe().FindStringSubmatch(line); m != nil && m[1] == want {
			arch, _ := strconv.ParseUint(m[3], 16, 32)
			nr, _ := strconv.Atoi(m[4])
			found, ok = seccompKill{pid: pid, arch: uint32(arch), nr: nr}, true
		}
	}
	return found, ok
}

// auditReader keeps the recent AUDIT_SECCOMP records that the kernel
// multicasts to the audit netlink group AUDIT_NLGRP_READLOG. Unlike the
// kernel log, that group gets every record, however many kills happen in a
// burst. Joining it needs CAP_AUDIT_READ in the initial user namespace
// (root); elsewhere the launcher falls back to /dev/kmsg.
//
// It also tells a sandbox about any kill of one of its processes, by host
// uid (each root-mode sandbox has its own): see onUID.
type auditReader struct {
	mu    sync.Mutex
	cond  *sync.Cond
	kills map[int]seccompKill         // host pid -> latest record
	byUID map[int]func(k seccompKill) // host uid -> the sandbox's handler
}

const (
	netlinkAudit      = 9    // NETLINK_AUDIT
	auditNlgrpReadlog = 1    // AUDIT_NLGRP_READLOG
	auditTypeSeccomp  = 1326 // AUDIT_SECCOMP
	auditKeep         = time.Minute
)

var auditReaderOnce = sync.OnceValue(newAuditReader)

func newAuditReader() *auditReader {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, netlinkAudit)
	if err != nil {
		return nil
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: auditNlgrpReadlog}); err != nil {
		unix.Close(fd)
		return nil
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	a := &auditReader{kills: map[int]seccompKill{}, byUID: map[int]func(seccompKill){}}
	a.cond = sync.NewCond(&a.mu)
	go a.run(fd)
	return a
}

// run reads records for the life of the process (a daemon keeps launchers
// for its whole life; one blocked thread is the cost).
func (a *auditReader) run(fd int) {
	defer unix.Close(fd)
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EINTR || err == unix.ENOBUFS {
			continue // ENOBUFS: records dropped while we were slow; go on
		}
		if err != nil {
			return
		}
		now := time.Now()
		// syscall.ParseNetlinkMessage wants every message padded to 4
		// bytes; audit records are not (nlmsg_len is the text's length).
		for b := buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			typ := binary.NativeEndian.Uint16(b[4:6])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				break
			}
			data := b[unix.NLMSG_HDRLEN:l]
			b = b[min(len(b), (l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
			if typ != auditTypeSeccomp {
				continue
			}
			f := auditFieldsRe().FindSubmatch(data)
			if f == nil {
				continue
			}
			uid, _ := strconv.Atoi(string(f[1]))
			pid, _ := strconv.Atoi(string(f[2]))
			arch, _ := strconv.ParseUint(string(f[3]), 16, 32)
			nr, _ := strconv.Atoi(string(f[4]))
			k := seccompKill{pid: pid, uid: uid, arch: uint32(arch), nr: nr, at: now}
			a.mu.Lock()
			a.kills[pid] = k
			if h := a.byUID[uid]; h != nil {
				go h(k)
			}
			if len(a.kills) > 1024 {
				for p, k := range a.kills {
					if now.Sub(k.at) > auditKeep {
						delete(a.kills, p)
					}
				}
			}
			a.cond.Broadcast()
			a.mu.Unlock()
		}
	}
}

// onUID calls h for every seccomp kill of a process running as host uid,
// until the returned func is called.
func (a *auditReader) onUID(uid int, h func(k seccompKill)) (cancel func()) {
	a.mu.Lock()
	a.byUID[uid] = h
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		delete(a.byUID, uid)
		a.mu.Unlock()
	}
}

// wait returns the record for pid received at or after since, waiting up
// to d for it.
func (a *auditReader) wait(pid int, since time.Time, d time.Duration) (seccompKill, bool) {
	deadline := time.Now().Add(d)
	t := time.AfterFunc(d, func() { a.mu.Lock(); a.cond.Broadcast(); a.mu.Unlock() })
	defer t.Stop()
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		if k, ok := a.kills[pid]; ok && !k.at.Before(since) {
			delete(a.kills, pid)
			return k, true
		}
		if !time.Now().Before(deadline) {
			return seccompKill{}, false
		}
		a.cond.Wait()
	}
}
