//go:build linux

package sandbox

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sandbond/sandbond/profiles"
)

// TestSeccompExecSameFilter checks that the trampoline loads exactly the
// filter libcontainer would have loaded: the program the kernel holds for
// an interpreter started by the launcher is the one an interpreter started
// with libcontainer compiling the profile holds, instruction for
// instruction, with the same flags, and it is the only filter.
func TestSeccompExecSameFilter(t *testing.T) {
	needRoot(t)
	for _, name := range []string{"builtin:interpreter"} {
		raw, err := profiles.SeccompProfile(name)
		if err != nil {
			t.Fatal(err)
		}
		fast := newTestLauncher(t, testProfile("python"), WithSeccompJSON(raw))
		if !fast.seccompExec() {
			t.Fatalf("%s: the trampoline is not in use", name)
		}
		slow := newTestLauncher(t, testProfile("python"), WithSeccompJSON(raw))
		slow.libcontainerSeccomp = true
		got := kernelFilter(t, fast)
		want := kernelFilter(t, slow)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the trampoline loaded %d instructions, libcontainer %d, not the same", name, len(got)/8, len(want)/8)
		}
		var prog bytes.Buffer
		_ = binary.Write(&prog, binary.NativeEndian, fast.seccomp.Prog)
		if !bytes.Equal(got, prog.Bytes()) {
			t.Errorf("%s: the kernel's program is not the launcher's", name)
		}
		t.Logf("%s: %d instructions, flags %#x", name, len(got)/8, fast.seccomp.Flags)
	}
}

// kernelFilter starts an interpreter in l and returns the seccomp program
// the kernel holds for it (PTRACE_SECCOMP_GET_FILTER, root only), after
// checking that it is the only one and that the flags the kernel reports
// are the launcher's.
func kernelFilter(t *testing.T, l *ContainerLauncher) []byte {
	t.Helper()
	var prog []byte
	r := runHandshake(t, l, "python", []string{"/usr/bin/python3", "-c", `import os; os.write(4, b"x"); os.read(3, 1)`}, func(p *Process) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		pid := p.Pid()
		if err := unix.PtraceSeize(pid); err != nil {
			t.Errorf("PTRACE_SEIZE: %v", err)
			return
		}
		defer unix.PtraceDetach(pid)
		if err := unix.PtraceInterrupt(pid); err != nil {
			t.Errorf("PTRACE_INTERRUPT: %v", err)
			return
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
			t.Errorf("wait: %v", err)
			return
		}
		const getFilter, getMetadata = 0x420c, 0x420d // PTRACE_SECCOMP_GET_FILTER, PTRACE_SECCOMP_GET_METADATA
		n, _, errno := unix.Syscall6(unix.SYS_PTRACE, getFilter, uintptr(pid), 0, 0, 0, 0)
		if errno != 0 {
			t.Errorf("PTRACE_SECCOMP_GET_FILTER: %v", errno)
			return
		}
		buf := make([]unix.SockFilter, n)
		if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, getFilter, uintptr(pid), 0, uintptr(unsafe.Pointer(&buf[0])), 0, 0); errno != 0 {
			t.Errorf("PTRACE_SECCOMP_GET_FILTER: %v", errno)
			return
		}
		if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, getFilter, uintptr(pid), 1, 0, 0, 0); errno != unix.ENOENT {
			t.Errorf("a second filter: PTRACE_SECCOMP_GET_FILTER(1): %v, want ENOENT", errno)
		}
		md := struct{ Off, Flags uint64 }{}
		if _, _, errno := unix.Syscall6(unix.SYS_PTRACE, getMetadata, uintptr(pid), unsafe.Sizeof(md), uintptr(unsafe.Pointer(&md)), 0, 0); errno != 0 {
			t.Errorf("PTRACE_SECCOMP_GET_METADATA: %v", errno)
		} else if want := uint64(l.seccomp.Flags & unix.SECCOMP_FILTER_FLAG_LOG); md.Flags != want {
			// The kernel reports the LOG flag only.
			t.Errorf("filter flags %#x, want %#x", md.Flags, want)
		}
		var b bytes.Buffer
		_ = binary.Write(&b, binary.NativeEndian, buf)
		prog = b.Bytes()
	})
	if r.WaitErr != nil {
		t.Fatalf("out %q wait %v stderr %s", r.Out, r.WaitErr, r.Err)
	}
	if len(prog) == 0 {
		t.Fatal("no filter read")
	}
	return prog
}

// TestSeccompTrampoline runs this binary as the trampoline on the host: it
// execs the program only with a valid filter file, closes every
// descriptor from the filter's up, and fails closed (status 127, the
// program never runs) on anything wrong.
func TestSeccompTrampoline(t *testing.T) {
	const self = "/proc/self/exe"
	allow := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW}}
	good, err := programFile(allow, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	badMagic := memfdWith(t, append([]byte("XXXXXXXX"), make([]byte, 16)...))
	defer badMagic.Close()
	var short bytes.Buffer
	short.WriteString(seccompFileMagic)
	_ = binary.Write(&short, binary.NativeEndian, [2]uint32{0, 2}) // says 2, holds 1
	_ = binary.Write(&short, binary.NativeEndian, allow)
	truncated := memfdWith(t, short.Bytes())
	defer truncated.Close()
	extra, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()

	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	// The program lists its descriptors and its environment.
	prog := []string{sh, "-c", `ls /proc/self/fd | tr '\n' ' '; echo; echo "$GREETING"`}
	run := func(file *os.File, args []string, env []string) (string, int) {
		cmd := exec.Command(self, args...)
		cmd.Args[0] = seccompExecPath
		cmd.Env = env
		cmd.ExtraFiles = []*os.File{file, extra} // fds 3 and 4
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String() + errb.String(), code
	}
	marker := []string{seccompExecEnv + "=3"}
	argv := seccompExecArgs(prog, []string{"GREETING=hello"})[1:]

	out, code := run(good, argv, marker)
	if code != 0 {
		t.Fatalf("good filter: status %d: %s", code, out)
	}
	// sh's own ls: 0, 1, 2 and the descriptor ls opened for
	// /proc/self/fd; not 3 (the filter) nor 4 (above it).
	if lines := strings.Split(out, "\n"); len(lines) < 2 || strings.TrimSpace(lines[0]) != "0 1 2 3" || lines[1] != "hello" {
		t.Errorf("good filter: output %q, want fds 0 1 2 (and ls's own 3), then hello", out)
	}
	for _, c := range []struct {
		name string
		file *os.File
		args []string
		env  []string
	}{
		{"bad magic", badMagic, argv, marker},
		{"truncated program", truncated, argv, marker},
		{"descriptor not a filter", extra, argv, []string{seccompExecEnv + "=4"}},
		{"descriptor not open", good, argv, []string{seccompExecEnv + "=9"}},
		{"descriptor not a number", good, argv, []string{seccompExecEnv + "=x"}},
		{"no marker argument", good, append([]string{"--other"}, argv[1:]...), marker},
		{"argument count too large", good, []string{seccompExecArg, "9", sh}, marker},
		{"argument count zero", good, []string{seccompExecArg, "0", sh}, marker},
	} {
		out, code := run(c.file, c.args, c.env)
		if code != 127 || strings.Contains(out, "hello") || !strings.Contains(out, "sandbond: seccomp trampoline:") {
			t.Errorf("%s: status %d, output %q; want 127 and the trampoline's message", c.name, code, out)
		}
	}
}

func memfdWith(t *testing.T, b []byte) *os.File {
	t.Helper()
	fd, err := unix.MemfdCreate("test", unix.MFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "test")
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestExecEnv checks execEnv against libcontainer's prepareEnv rules.
func TestExecEnv(t *testing.T) {
	got, err := execEnv([]string{"A=1", "HOME=", "B=2", "A=3"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "B=2 A=3 HOME=/"; strings.Join(got, " ") != want {
		t.Errorf("got %q, want %q", got, want)
	}
	got, _ = execEnv([]string{"HOME=/tmp", "PATH=/bin"})
	if want := "HOME=/tmp PATH=/bin"; strings.Join(got, " ") != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"NOEQUALS", "=x", "A=b\x00c"} {
		if _, err := execEnv([]string{bad}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestStartThreadLeaves checks that the thread that starts a sandbox from
// inside its cgroups (cgroup v1) leaves them: once Launch returned, the
// sandbox's cgroups hold the sandbox's threads only, none of the daemon's,
// and the pids limit is the profile's.
func TestStartThreadLeaves(t *testing.T) {
	needRoot(t)
	l := newTestLauncher(t, testProfile("python"))
	if !l.threadJoin() {
		t.Skip("cgroup v2: libcontainer joins the init")
	}
	p, release := launchWaiting(t, l)
	for _, sub := range []string{"memory", "pids"} {
		tasks, err := os.ReadFile(p.cgroups[sub] + "/tasks")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(tasks))
		if !slices.Contains(f, itoa(p.Pid())) {
			t.Errorf("%s cgroup tasks %q: not the interpreter (%d)", sub, f, p.Pid())
		}
		for _, tid := range f {
			// The init may still be exec'ing: its own threads are
			// there, but none of this process's.
			if _, err := os.Stat("/proc/self/task/" + tid); err == nil {
				t.Errorf("%s cgroup holds thread %s of the daemon", sub, tid)
			}
		}
	}
	if b, _ := os.ReadFile(p.cgroups["pids"] + "/pids.max"); strings.TrimSpace(string(b)) != "32" {
		t.Errorf("pids.max %q, want 32", b)
	}
	release()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestSeccompMultiArchEquivalent checks a profile naming several
// architectures (x86_64, x32, i386, as Docker's default does). libcontainer
// visits them in Go's map order, so its program orders the -ENOSYS stub's
// branches differently from start to start; the launcher's must decide
// every system call the same: both programs are run on every system call
// number of each ABI, with several argument patterns.
func TestSeccompMultiArchEquivalent(t *testing.T) {
	needRoot(t)
	raw, err := profiles.SeccompProfile("builtin:interpreter")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc["architectures"] = []string{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}
	raw, _ = json.Marshal(doc)
	fast := newTestLauncher(t, testProfile("python"), WithSeccompJSON(raw))
	if !fast.seccompExec() {
		t.Fatal("the trampoline is not in use")
	}
	slow := newTestLauncher(t, testProfile("python"), WithSeccompJSON(raw))
	slow.libcontainerSeccomp = true
	ours := kernelFilter(t, fast)
	theirs := kernelFilter(t, slow)
	args := [][6]uint64{{}, {1, 2, 3, 4, 5, 6}, {^uint64(0), ^uint64(0), 0x7e000000, 0x5401, 0x80000000, 1}, {unix.AF_UNIX, unix.SOCK_STREAM}, {unix.AF_VSOCK}, {0x7e020000}, {0, 0x5412}}
	diffs := 0
	seen := map[uint32]bool{}
	for _, arch := range []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64} {
		for nr := uint32(0); nr < 1100; nr++ {
			for _, x32 := range []uint32{0, x32SyscallBit} {
				if x32 != 0 && arch != unix.AUDIT_ARCH_X86_64 {
					continue
				}
				for _, a := range args {
					in := seccompData(nr|x32, arch, a)
					r1, err1 := runBPF(ours, in)
					r2, err2 := runBPF(theirs, in)
					if err1 != nil || err2 != nil {
						t.Fatalf("running the programs: %v, %v", err1, err2)
					}
					seen[r1] = true
					if r1 != r2 && diffs < 10 {
						diffs++
						t.Errorf("arch %#x nr %#x args %v: launcher %#x, libcontainer %#x", arch, nr|x32, a, r1, r2)
					}
				}
			}
		}
	}
	// The inputs reach every kind of verdict (else the comparison
	// proves little).
	for _, v := range []uint32{unix.SECCOMP_RET_ALLOW, unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM), unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS),
		unix.SECCOMP_RET_KILL_PROCESS, unix.SECCOMP_RET_KILL_THREAD} {
		if !seen[v] {
			t.Errorf("no system call got %#x", v)
		}
	}
}

// seccompData is struct seccomp_data for a system call.
func seccompData(nr, arch uint32, args [6]uint64) []byte {
	b := make([]byte, 64)
	binary.NativeEndian.PutUint32(b[0:], nr)
	binary.NativeEndian.PutUint32(b[4:], arch)
	for i, a := range args {
		binary.NativeEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

// runBPF runs a classic BPF program (native-endian struct sock_filter
// array) on data as the kernel's seccomp does, and returns its verdict.
// It knows the instructions libseccomp and the -ENOSYS stub use.
func runBPF(prog, data []byte) (uint32, error) {
	n := len(prog) / 8
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < n; pc++ {
		in := prog[8*pc:]
		code := binary.NativeEndian.Uint16(in[0:])
		jt, jf := int(in[2]), int(in[3])
		k := binary.NativeEndian.Uint32(in[4:])
		src := k
		if code&unix.BPF_X != 0 {
			src = x
		}
		switch code & 0x07 {
		case unix.BPF_LD:
			switch code &^ 0x07 {
			case unix.BPF_W | unix.BPF_ABS:
				if int(k)+4 > len(data) {
					return 0, fmt.Errorf("pc %d: load at %d", pc, k)
				}
				a = binary.NativeEndian.Uint32(data[k:])
			case unix.BPF_MEM:
				a = mem[k&15]
			case unix.BPF_IMM:
				a = k
			default:
				return 0, fmt.Errorf("pc %d: load %#x", pc, code)
			}
		case unix.BPF_LDX:
			switch code &^ 0x07 {
			case unix.BPF_MEM:
				x = mem[k&15]
			case unix.BPF_IMM:
				x = k
			default:
				return 0, fmt.Errorf("pc %d: loadx %#x", pc, code)
			}
		case unix.BPF_ST:
			mem[k&15] = a
		case unix.BPF_STX:
			mem[k&15] = x
		case unix.BPF_ALU:
			switch code & 0xf0 {
			case unix.BPF_AND:
				a &= src
			case unix.BPF_OR:
				a |= src
			case unix.BPF_ADD:
				a += src
			case unix.BPF_SUB:
				a -= src
			default:
				return 0, fmt.Errorf("pc %d: alu %#x", pc, code)
			}
		case unix.BPF_JMP:
			var cond bool
			switch code & 0xf0 {
			case unix.BPF_JA:
				pc += int(k)
				continue
			case unix.BPF_JEQ:
				cond = a == src
			case unix.BPF_JGT:
				cond = a > src
			case unix.BPF_JGE:
				cond = a >= src
			case unix.BPF_JSET:
				cond = a&src != 0
			default:
				return 0, fmt.Errorf("pc %d: jump %#x", pc, code)
			}
			if cond {
				pc += jt
			} else {
				pc += jf
			}
		case unix.BPF_RET:
			if code&0x18 == unix.BPF_A {
				return a, nil
			}
			return k, nil
		case unix.BPF_MISC:
			if code&0xf8 == unix.BPF_TAX {
				x = a
			} else {
				a = x
			}
		default:
			return 0, fmt.Errorf("pc %d: %#x", pc, code)
		}
	}
	return 0, fmt.Errorf("fell off the program")
}
