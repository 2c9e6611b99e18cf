//go:build linux

package sandbox

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/runc/libcontainer/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// The seccomp filter, compiled once per profile.
//
// libcontainer compiles a container's seccomp profile with libseccomp in
// the container's init, at every start (4 to 8 ms here, the Go code of a
// cold process calling into libseccomp for some 400 rules), and installs it
// right before the init execs the interpreter. The launcher instead
// compiles the profile once, to the very program libcontainer would load
// (seccompProgram: the same libseccomp calls, and libcontainer's -ENOSYS
// stub in front, ported from runc's libcontainer/seccomp/patchbpf), and
// writes it into a sealed memfd (programFile). Each container gets no
// seccomp configuration from libcontainer; its init execs a trampoline
// instead of the interpreter (start_seccompexec_linux.go): the launcher's
// own binary, whose C constructor reads the program from that descriptor,
// closes it, sets no_new_privs, loads the filter and execs the interpreter,
// before any Go code runs. TestSeccompExecSameFilter compares the program
// the kernel holds for an interpreter started either way.

// seccompProgram compiles cfg the way libcontainer's seccomp.InitSeccomp
// does (same libseccomp calls in the same order, then patchbpf's -ENOSYS
// stub in front of libseccomp's program) and returns the program and the
// flags libcontainer would load it with. It does not load anything.
func seccompProgram(cfg *configs.Seccomp) ([]unix.SockFilter, uint, error) {
	def, err := scmpAction(cfg.DefaultAction, cfg.DefaultErrnoRet)
	if err != nil {
		return nil, 0, fmt.Errorf("default action: %w", err)
	}
	filter, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, 0, fmt.Errorf("creating filter: %w", err)
	}
	defer filter.Release()
	for _, a := range cfg.Architectures {
		arch, err := libseccomp.GetArchFromString(a)
		if err != nil {
			return nil, 0, fmt.Errorf("architecture %q: %w", a, err)
		}
		if err := filter.AddArch(arch); err != nil {
			return nil, 0, fmt.Errorf("architecture %q: %w", a, err)
		}
	}
	for _, fl := range cfg.Flags {
		var err error
		switch fl {
		case specs.LinuxSeccompFlagLog:
			err = filter.SetLogBit(true)
		case specs.LinuxSeccompFlagSpecAllow:
			err = filter.SetSSB(true)
		case specs.LinuxSeccompFlagWaitKillableRecv:
			err = filter.SetWaitKill(true)
		case "SECCOMP_FILTER_FLAG_TSYNC":
			// libcontainer ignores it: the process is
			// single-threaded when the filter is loaded.
		default:
			err = fmt.Errorf("unknown flag")
		}
		if err != nil {
			return nil, 0, fmt.Errorf("seccomp flag %s: %w", fl, err)
		}
	}
	if len(cfg.Syscalls) > 32 {
		_ = filter.SetOptimize(2)
	}
	if err := filter.SetNoNewPrivsBit(false); err != nil {
		return nil, 0, err
	}
	for _, call := range cfg.Syscalls {
		if err := addRule(filter, call, def); err != nil {
			return nil, 0, err
		}
	}
	raw, err := exportBPF(filter)
	if err != nil {
		return nil, 0, err
	}
	var stub []unix.SockFilter
	if patchNeeded(cfg) {
		last, err := lastSyscalls(cfg)
		if err != nil {
			return nil, 0, err
		}
		if stub, err = enosysStub(last); err != nil {
			return nil, 0, err
		}
	}
	prog := append(stub, raw...)
	if len(prog) > unix.BPF_MAXINSNS {
		return nil, 0, fmt.Errorf("filter has %d instructions, the kernel takes at most %d", len(prog), unix.BPF_MAXINSNS)
	}
	flags, err := filterFlags(filter)
	return prog, flags, err
}

// addRule is libcontainer's matchCall.
func addRule(filter *libseccomp.ScmpFilter, call *configs.Syscall, def libseccomp.ScmpAction) error {
	if call == nil || call.Name == "" {
		return errors.New("empty system call rule")
	}
	act, err := scmpAction(call.Action, call.ErrnoRet)
	if err != nil {
		return fmt.Errorf("syscall %s: %w", call.Name, err)
	}
	if act == def {
		return nil // redundant, as libcontainer skips it
	}
	nr, err := libseccomp.GetSyscallFromName(call.Name)
	if err != nil {
		return nil // unknown here: libcontainer skips it too
	}
	if len(call.Args) == 0 {
		if err := filter.AddRule(nr, act); err != nil {
			return fmt.Errorf("syscall %s: %w", call.Name, err)
		}
		return nil
	}
	var counts [6]int
	conds := make([]libseccomp.ScmpCondition, 0, len(call.Args))
	for _, a := range call.Args {
		if a == nil || a.Index >= uint(len(counts)) {
			return fmt.Errorf("syscall %s: bad argument condition", call.Name)
		}
		op, err := scmpOp(a.Op)
		if err != nil {
			return fmt.Errorf("syscall %s: %w", call.Name, err)
		}
		c, err := libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
		if err != nil {
			return fmt.Errorf("syscall %s: %w", call.Name, err)
		}
		counts[a.Index]++
		conds = append(conds, c)
	}
	if slices.ContainsFunc(counts[:], func(n int) bool { return n > 1 }) {
		// Two conditions on one argument: one rule per condition
		// (libcontainer's "old behavior": the conditions are ORed).
		for _, c := range conds {
			if err := filter.AddRuleConditional(nr, act, []libseccomp.ScmpCondition{c}); err != nil {
				return fmt.Errorf("syscall %s: %w", call.Name, err)
			}
		}
		return nil
	}
	if err := filter.AddRuleConditional(nr, act, conds); err != nil {
		return fmt.Errorf("syscall %s: %w", call.Name, err)
	}
	return nil
}

// exportBPF returns libseccomp's program for filter.
func exportBPF(filter *libseccomp.ScmpFilter) ([]unix.SockFilter, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	done := make(chan error, 1)
	go func() { _, err := io.Copy(&buf, r); r.Close(); done <- err }()
	err = filter.ExportBPF(w)
	w.Close()
	if cerr := <-done; err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("exporting the filter: %w", err)
	}
	if buf.Len()%8 != 0 {
		return nil, fmt.Errorf("exporting the filter: %d bytes", buf.Len())
	}
	prog := make([]unix.SockFilter, buf.Len()/8)
	if err := binary.Read(&buf, binary.NativeEndian, prog); err != nil {
		return nil, err
	}
	return prog, nil
}

// filterFlags is libcontainer's patchbpf.filterFlags: the flags of
// seccomp(SECCOMP_SET_MODE_FILTER) for filter's attributes.
func filterFlags(filter *libseccomp.ScmpFilter) (uint, error) {
	api, _ := libseccomp.GetAPI()
	var flags uint
	for _, a := range []struct {
		api  uint
		get  func() (bool, error)
		flag uint
	}{
		{3, filter.GetLogBit, unix.SECCOMP_FILTER_FLAG_LOG},
		{4, filter.GetSSB, unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW},
		{7, filter.GetWaitKill, unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
	} {
		if api < a.api {
			continue
		}
		set, err := a.get()
		if err != nil {
			return 0, err
		}
		if set {
			flags |= a.flag
		}
	}
	return flags, nil
}

// The -ENOSYS stub, as runc's patchbpf generates it (generatePatch and
// generateEnosysStub in libcontainer/seccomp/patchbpf/enosys_linux.go,
// runc v1.5.2, Apache-2.0): system calls numbered above the largest one
// the profile names, for each architecture, fail with ENOSYS (so that
// libcs fall back from calls newer than the profile) instead of the
// default action. Ported instruction for instruction; the one difference
// is that architectures are visited in a fixed order rather than Go's map
// order, which only matters for profiles naming several architectures, and
// only for the order of equivalent branches.

// retErrnoENOSYS is SCMP_ACT_ERRNO(ENOSYS).
const retErrnoENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)

// patchNeeded is the condition of libcontainer's generatePatch.
func patchNeeded(cfg *configs.Seccomp) bool {
	if cfg.DefaultErrnoRet != nil && *cfg.DefaultErrnoRet == uint(retErrnoENOSYS) {
		// libcontainer compares the errno with the whole action
		// value; kept as is.
		return false
	}
	switch cfg.DefaultAction {
	case configs.Allow, configs.Log, configs.Trace:
		return false
	}
	return true
}

// auditArches maps libseccomp's architectures to their audit
// architectures (linux/audit.h); x86_64 and x32 share one.
var auditArches = map[libseccomp.ScmpArch]uint32{
	libseccomp.ArchX86:         unix.AUDIT_ARCH_I386,
	libseccomp.ArchAMD64:       unix.AUDIT_ARCH_X86_64,
	libseccomp.ArchX32:         unix.AUDIT_ARCH_X86_64,
	libseccomp.ArchARM:         unix.AUDIT_ARCH_ARM,
	libseccomp.ArchARM64:       unix.AUDIT_ARCH_AARCH64,
	libseccomp.ArchMIPS:        unix.AUDIT_ARCH_MIPS,
	libseccomp.ArchMIPS64:      unix.AUDIT_ARCH_MIPS64,
	libseccomp.ArchMIPS64N32:   unix.AUDIT_ARCH_MIPS64N32,
	libseccomp.ArchMIPSEL:      unix.AUDIT_ARCH_MIPSEL,
	libseccomp.ArchMIPSEL64:    unix.AUDIT_ARCH_MIPSEL64,
	libseccomp.ArchMIPSEL64N32: unix.AUDIT_ARCH_MIPSEL64N32,
	libseccomp.ArchPPC:         unix.AUDIT_ARCH_PPC,
	libseccomp.ArchPPC64:       unix.AUDIT_ARCH_PPC64,
	libseccomp.ArchPPC64LE:     unix.AUDIT_ARCH_PPC64LE,
	libseccomp.ArchS390:        unix.AUDIT_ARCH_S390,
	libseccomp.ArchS390X:       unix.AUDIT_ARCH_S390X,
	libseccomp.ArchRISCV64:     unix.AUDIT_ARCH_RISCV64,
	libseccomp.ArchLOONGARCH64: unix.AUDIT_ARCH_LOONGARCH64,
}

// auditArch returns arch's audit architecture (ArchNative: the native
// architecture's).
func auditArch(arch libseccomp.ScmpArch) (uint32, error) {
	if arch == libseccomp.ArchNative {
		native, err := libseccomp.GetNativeArch()
		if err != nil {
			return 0, err
		}
		arch = native
	}
	if a, ok := auditArches[arch]; ok {
		return a, nil
	}
	return 0, fmt.Errorf("unknown architecture %v", arch)
}

// archLast is the largest system call number the profile names for one
// libseccomp architecture.
type archLast struct {
	arch libseccomp.ScmpArch
	nr   libseccomp.ScmpSyscall
}

// auditLast groups archLast by audit architecture (x86_64 and x32 share
// one).
type auditLast struct {
	audit uint32
	archs []archLast
}

// lastSyscalls is libcontainer's findLastSyscalls, in a fixed order.
func lastSyscalls(cfg *configs.Seccomp) ([]auditLast, error) {
	var archs []libseccomp.ScmpArch
	for _, a := range cfg.Architectures {
		arch, err := libseccomp.GetArchFromString(a)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(archs, arch) {
			archs = append(archs, arch)
		}
	}
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(archs, native) {
		archs = append(archs, native)
	}
	slices.Sort(archs)
	var out []auditLast
	for _, arch := range archs {
		audit, err := auditArch(arch)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(out, func(a auditLast) bool { return a.audit == audit })
		if i < 0 {
			out = append(out, auditLast{audit: audit})
			i = len(out) - 1
		}
		if slices.ContainsFunc(out[i].archs, func(a archLast) bool { return a.arch == arch }) {
			continue
		}
		var largest libseccomp.ScmpSyscall
		for _, rule := range cfg.Syscalls {
			nr, err := libseccomp.GetSyscallFromNameByArch(rule.Name, arch)
			if err == nil && nr > largest {
				largest = nr
			}
		}
		if largest != 0 {
			out[i].archs = append(out[i].archs, archLast{arch, largest})
		}
	}
	return out, nil
}

// Raw classic BPF instructions, encoded as golang.org/x/net/bpf assembles
// the instructions patchbpf builds.
func bpfLoadAbs(off uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: off}
}
func bpfRet(v uint32) unix.SockFilter { return unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: v} }
func bpfJa(skip uint32) unix.SockFilter {
	return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA, K: skip}
}

// bpfJump is a conditional jump against a constant; the "negative" tests
// (!=, <=, bits not set) are the positive instruction with the targets
// swapped, as x/net/bpf assembles them.
func bpfJump(op string, k uint32, skipTrue, skipFalse uint8) unix.SockFilter {
	var code uint16
	flip := false
	switch op {
	case "==":
		code = unix.BPF_JEQ
	case "!=":
		code, flip = unix.BPF_JEQ, true
	case ">":
		code = unix.BPF_JGT
	case "<=":
		code, flip = unix.BPF_JGT, true
	case "&":
		code = unix.BPF_JSET
	case "!&":
		code, flip = unix.BPF_JSET, true
	default:
		panic("bpfJump: " + op)
	}
	if flip {
		skipTrue, skipFalse = skipFalse, skipTrue
	}
	return unix.SockFilter{Code: unix.BPF_JMP | code | unix.BPF_K, Jt: skipTrue, Jf: skipFalse, K: k}
}

// enosysStub is patchbpf's generateEnosysStub.
func enosysStub(last []auditLast) ([]unix.SockFilter, error) {
	const sizeofInt = 4
	cat := func(a ...[]unix.SockFilter) []unix.SockFilter { return slices.Concat(a...) }
	jumpTable := map[uint32]uint32{}
	tail := []unix.SockFilter{
		bpfJa(1),               // fall-through rules jump into the filter
		bpfRet(retErrnoENOSYS), // rules that jump here get -ENOSYS
	}
	for _, al := range last {
		baseJumpEnosys := uint32(len(tail) - 1)
		baseJumpFilter := baseJumpEnosys + 1
		section := []unix.SockFilter{bpfLoadAbs(0)} // the system call number
		switch len(al.archs) {
		case 0:
			continue
		case 1:
			arch, nr := al.archs[0].arch, al.archs[0].nr
			if arch == libseccomp.ArchS390 || arch == libseccomp.ArchS390X {
				// setup(2), nr 0, multiplexes unknown calls there.
				section = append(section, bpfJump("!=", 0, 1, 0), bpfRet(retErrnoENOSYS))
			}
			var sectionTail []unix.SockFilter
			if baseJumpEnosys+1 <= 255 {
				sectionTail = []unix.SockFilter{
					bpfJump(">", uint32(nr), uint8(baseJumpEnosys+1), 0),
					bpfJa(baseJumpFilter),
				}
			} else {
				sectionTail = []unix.SockFilter{
					bpfJump("<=", uint32(nr), 1, 0),
					bpfRet(retErrnoENOSYS),
					bpfJa(baseJumpFilter),
				}
			}
			if al.audit == unix.AUDIT_ARCH_X86_64 {
				switch arch {
				case libseccomp.ArchAMD64:
					sectionTail = cat([]unix.SockFilter{bpfJump("&", x32SyscallBit, uint8(len(sectionTail)-1), 0)}, sectionTail)
				case libseccomp.ArchX32:
					sectionTail = cat([]unix.SockFilter{bpfJump("!&", x32SyscallBit, uint8(len(sectionTail)-1), 0)}, sectionTail)
				default:
					return nil, fmt.Errorf("unknown amd64 native architecture %#x", arch)
				}
			}
			section = append(section, sectionTail...)
		case 2:
			if al.audit != unix.AUDIT_ARCH_X86_64 {
				return nil, fmt.Errorf("unknown architecture overlap on native arch %#x", al.audit)
			}
			var x32nr, x86nr libseccomp.ScmpSyscall
			for _, a := range al.archs {
				switch a.arch {
				case libseccomp.ArchX32:
					x32nr = a.nr
				case libseccomp.ArchAMD64:
					x86nr = a.nr
				}
			}
			if x32nr == 0 || x86nr == 0 {
				return nil, fmt.Errorf("overlapping x86_64 architectures: %v", al.archs)
			}
			if baseJumpEnosys+2 <= 255 {
				section = append(section,
					bpfJump("&", x32SyscallBit, 1, 0),
					bpfJump(">", uint32(x86nr), uint8(baseJumpEnosys+2), 1),
					bpfJump(">", uint32(x32nr), uint8(baseJumpEnosys+1), 0),
					bpfJa(baseJumpFilter),
				)
			} else {
				section = append(section,
					bpfJump("&", x32SyscallBit, 1, 0),
					bpfJump(">", uint32(x86nr), 1, 2),
					bpfJump("<=", uint32(x32nr), 1, 0),
					bpfRet(retErrnoENOSYS),
					bpfJa(baseJumpFilter),
				)
			}
		default:
			return nil, fmt.Errorf("invalid number of architecture overlaps: %d", len(al.archs))
		}
		tail = cat(section, tail)
		jumpTable[al.audit] = uint32(len(tail))
	}
	tail = cat([]unix.SockFilter{bpfJa(uint32(len(tail)))}, tail)
	// patchbpf loops over every architecture of the map here, also those
	// it skipped above (no system call found: their jump-table entry is
	// 0, a jump to the end of the stub).
	for _, al := range last {
		jump := uint32(len(tail)) - jumpTable[al.audit]
		if jump <= 255 {
			tail = cat([]unix.SockFilter{bpfJump("==", al.audit, uint8(jump), 0)}, tail)
		} else {
			tail = cat([]unix.SockFilter{bpfJump("!=", al.audit, 1, 0), bpfJa(jump)}, tail)
		}
	}
	return cat([]unix.SockFilter{bpfLoadAbs(sizeofInt)}, tail), nil
}

// The program file a trampoline reads: a header (magic, flags, number of
// instructions, each a native-endian uint32 after the 8-byte magic) and
// the instructions (struct sock_filter, native endian).
const seccompFileMagic = "SBDBPF01"

// programFile returns a sealed, read-only memfd holding prog and flags, in
// the format the trampoline reads.
func programFile(prog []unix.SockFilter, flags uint) (*os.File, error) {
	var buf bytes.Buffer
	buf.WriteString(seccompFileMagic)
	_ = binary.Write(&buf, binary.NativeEndian, uint32(flags))
	_ = binary.Write(&buf, binary.NativeEndian, uint32(len(prog)))
	_ = binary.Write(&buf, binary.NativeEndian, prog)
	fd, err := unix.MemfdCreate("sandbond-seccomp", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_NOEXEC_SEAL)
	if errors.Is(err, unix.EINVAL) { // before Linux 6.3
		fd, err = unix.MemfdCreate("sandbond-seccomp", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	rw := os.NewFile(uintptr(fd), "sandbond-seccomp")
	defer rw.Close()
	if _, err := rw.Write(buf.Bytes()); err != nil {
		return nil, err
	}
	if _, err := unix.FcntlInt(rw.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE); err != nil {
		return nil, os.NewSyscallError("fcntl(F_ADD_SEALS)", err)
	}
	// A read-only descriptor of it, for the containers.
	return os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(rw.Fd())), os.O_RDONLY|unix.O_CLOEXEC, 0)
}

// Marker of a trampoline start: the environment variable (the program's
// descriptor) and the first argument.
const (
	seccompExecEnv = "_SANDBOND_SECCOMP_FD"
	seccompExecArg = "--sandbond-seccomp-exec"
	// seccompExecPath is the trampoline inside the container: the
	// container init's own binary (the launcher's, sealed: see Init).
	seccompExecPath = "/proc/self/exe"
)

// seccompExecArgs returns the trampoline's command line for running argv
// with env, the filter read from descriptor fd: PATH --sandbond-seccomp-exec
// len(argv) argv... env...
func seccompExecArgs(argv, env []string) []string {
	out := make([]string, 0, 3+len(argv)+len(env))
	out = append(out, seccompExecPath, seccompExecArg, strconv.Itoa(len(argv)))
	out = append(out, argv...)
	return append(out, env...)
}

// trampolineDeps returns the dynamic loader and shared libraries of this
// program, which the trampoline needs in every container, or an error
// when one of them cannot be found.
var trampolineDeps = sync.OnceValues(func() ([]string, error) {
	const self = "/proc/self/exe"
	f, err := elf.Open(self)
	if err != nil {
		return nil, fmt.Errorf("sandbox: reading this program's ELF header: %w", err)
	}
	needed, _ := f.DynString(elf.DT_NEEDED)
	f.Close()
	deps := libs.deps(self)
	for _, n := range needed {
		if !slices.ContainsFunc(deps, func(p string) bool { return filepath.Base(p) == n }) {
			return nil, fmt.Errorf("sandbox: this program needs %s, which the launcher cannot find (the seccomp trampoline needs it in every container)", n)
		}
	}
	return deps, nil
})

// execEnv is the environment libcontainer's init would exec the
// interpreter with (its prepareEnv): the last of duplicate names, no empty
// HOME, and HOME=/ when there is none (the container has no /etc/passwd to
// say otherwise). The trampoline gets the interpreter's environment on its
// command line, and so sees none of it: nothing in it (LD_PRELOAD...)
// applies to the trampoline.
func execEnv(env []string) ([]string, error) {
	out := make([]string, 0, len(env)+1)
	seen := map[string]bool{}
	home := false
	for i := len(env) - 1; i >= 0; i-- {
		kv := env[i]
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid environment variable %q", kv)
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		if strings.IndexByte(kv, 0) >= 0 {
			return nil, fmt.Errorf("invalid environment variable %q: contains a nul byte", k)
		}
		if k == "HOME" {
			if v == "" {
				continue
			}
			home = true
		}
		out = append(out, kv)
	}
	slices.Reverse(out)
	if !home {
		out = append(out, "HOME=/")
	}
	return out, nil
}
