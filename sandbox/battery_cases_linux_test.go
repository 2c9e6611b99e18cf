//go:build linux

package sandbox

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/policy"
)

// batteryCases are the behaviours of issue 4's battery, in its order.
var batteryCases = []*batteryCase{
	{
		name: "read /etc/shadow and host files outside the mounts", probe: "read_host",
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			allFailed(t, m, "ENOENT", "EACCES", "ENOTDIR")
			return summary(m)
		},
	},
	{
		name: "write host paths", probe: "write_host",
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			allFailed(t, m, "EROFS", "ENOENT", "EACCES", "EPERM", "ETXTBSY")
			return summary(m)
		},
	},
	{
		name: "persist state into the next task via /tmp", probe: "tmp_write",
		run: func(t *testing.T, r *batteryRun) {
			first, err := r.call(t, "tmp_write")
			if err != nil {
				t.Fatalf("first task: %v", err)
			}
			if !strings.Contains(fmt.Sprint(first), r.h.tag+".marker") {
				t.Fatalf("first task did not write its marker: %v", first)
			}
			r.val, r.err = r.call(t, "tmp_read")
		},
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			if n := errName(m["marker"]); n != "ENOENT" {
				t.Errorf("the next task sees the marker: %s", n)
			}
			if fmt.Sprint(m["tmp"]) != "[]" {
				t.Errorf("the next task's /tmp is not empty: %v", m["tmp"])
			}
			return "next task: marker " + errName(m["marker"]) + ", /tmp empty"
		},
	},
	{
		name: "TCP to a host loopback listener", probe: "tcp",
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			allFailed(t, m, "ENETUNREACH", "EADDRNOTAVAIL", "ECONNREFUSED", "EHOSTUNREACH")
			return summary(m) + "; host listener: 0 connections"
		},
	},
	{
		name: "abstract UNIX socket of the host", probe: "unix_abstract",
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			allFailed(t, m, "ECONNREFUSED", "ENOENT")
			return summary(m) + "; host listener: 0 connections"
		},
	},
	{
		name: "pathname UNIX socket in the host's /tmp", probe: "unix_path",
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			allFailed(t, m, "ENOENT")
			return summary(m) + "; host listener: 0 connections"
		},
	},
	{
		name: "AF_VSOCK (and AF_NETLINK, AF_PACKET) sockets", probe: "vsock", notes: nativeNote,
		check: errnoOrNative(map[string]string{"AF_VSOCK": "EPERM", "AF_NETLINK": "EPERM", "AF_PACKET": "EPERM"}),
	},
	{
		name: "fork bomb", probe: "fork_bomb",
		notes: map[string]string{"node": "child_process.spawn of node itself, recursively"},
		check: func(t *testing.T, r *batteryRun) string { return wantLimit(t, r, ErrPidsLimit) },
	},
	{
		name: "memory bomb", probe: "memory_bomb",
		check: func(t *testing.T, r *batteryRun) string { return wantLimit(t, r, ErrMemoryLimit) },
	},
	{
		name: "CPU spin", probe: "cpu_spin",
		// The CPU limit must stop the spin however loaded the machine is:
		// the wall limits only bound a hang.
		mutate: func(p *policy.Profile) {
			p.Limits.CPUSeconds = 1
			p.Limits.WallPerCall = policy.Duration(45 * time.Second)
			p.Limits.WallPerSandbox = policy.Duration(50 * time.Second)
		},
		check: func(t *testing.T, r *batteryRun) string { return wantLimit(t, r, ErrCPULimit) },
	},
	{
		name: "256 MiB stdout flood", probe: "output_flood",
		check: func(t *testing.T, r *batteryRun) string {
			wantErr(t, r, bond.ErrOutputLimit)
			limit := r.p.WithDefaults().Limits.OutputBytes
			if got := r.stdout.n.Load(); got > limit {
				t.Errorf("the host received %d bytes of output, limit %d", got, limit)
			}
			if r.heapUp > 64<<20 {
				t.Errorf("the test's heap grew by %d MiB during the flood", r.heapUp>>20)
			}
			return fmt.Sprintf("bond.ErrOutputLimit after %d bytes (limit %d), sandbox killed", r.stdout.n.Load(), limit)
		},
	},
	{
		name: "fill /tmp", probe: "fill_tmp",
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			n, _ := m["bytes"].(int64)
			tmp := r.p.WithDefaults().Limits.TmpBytes
			if e := errName(m["errno"]); e != "ENOSPC" {
				t.Errorf("filling /tmp ends with %s, want ENOSPC", e)
			}
			if n > tmp || n < tmp/2 {
				t.Errorf("/tmp took %d bytes, limit %d", n, tmp)
			}
			return fmt.Sprintf("ENOSPC at %d MiB (tmp_bytes %d MiB)", n>>20, tmp>>20)
		},
	},
	{
		name: "fd exhaustion", probe: "fd_exhaustion",
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			n, _ := m["opened"].(int64)
			lim := r.p.WithDefaults().Limits.OpenFiles
			if e := errName(m["errno"]); e != "EMFILE" {
				t.Errorf("opening files ends with %s, want EMFILE", e)
			}
			if n >= lim || n == 0 {
				t.Errorf("opened %d files, open_files %d", n, lim)
			}
			return fmt.Sprintf("EMFILE after %d more (open_files %d)", n, lim)
		},
	},
	{name: "ptrace", probe: "ptrace", notes: nativeNote, check: killedOrNative("ptrace")},
	{name: "mount", probe: "mount", notes: nativeNote, check: killedOrNative("mount")},
	{name: "nested user namespace + mount (unshare)", probe: "userns_mount", notes: nativeNote, check: killedOrNative("unshare")},
	{
		name: "clone3 with namespace flags", probe: "clone3_ns", notes: nativeNote,
		check: errnoOrNative(map[string]string{"clone3": "ENOSYS", "clone": "EPERM", "clone3 no flags": "ENOSYS"}),
	},
	{name: "add_key", probe: "add_key", notes: nativeNote, check: killedOrNative("add_key")},
	{name: "bpf", probe: "bpf", notes: nativeNote, check: killedOrNative("bpf")},
	{name: "perf_event_open", probe: "perf_event_open", notes: nativeNote, check: killedOrNative("perf_event_open")},
	{
		name: "io_uring", probe: "io_uring", notes: nativeNote,
		check: errnoOrNative(map[string]string{"io_uring_setup": "ENOSYS"}),
	},
	{name: "userfaultfd", probe: "userfaultfd", notes: nativeNote, check: killedOrNative("userfaultfd")},
	{
		name: "personality", probe: "personality", notes: nativeNote,
		check: errnoOrNative(map[string]string{"PER_LINUX32": "EPERM", "READ_IMPLIES_EXEC": "EPERM", "ADDR_NO_RANDOMIZE": "EPERM"}),
	},
	{
		name: "setuid binaries", probe: "setuid",
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			if s := fmt.Sprint(m["setuid"]); s != "[]" {
				t.Errorf("setuid/setgid files visible: %s", s)
			}
			if fmt.Sprint(m["no_new_privs"]) != "1" {
				t.Errorf("NoNewPrivs is %v", m["no_new_privs"])
			}
			n, _ := m["scanned"].(int64)
			if n == 0 {
				t.Errorf("nothing scanned")
			}
			return fmt.Sprintf("none among %d visible files; no_new_privs 1", n)
		},
	},
	{
		name: "kill(-1) and kill parent", probe: "kill",
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			if fmt.Sprint(m["ppid"]) != "0" {
				t.Errorf("getppid() is %v inside the sandbox, want 0", m["ppid"])
			}
			var host []string
			for k, v := range m {
				if strings.HasPrefix(k, "kill ") && k != "kill -1" {
					if e := errName(v); e != "ESRCH" {
						t.Errorf("%s: %s, want ESRCH", k, e)
					}
					host = append(host, errName(v))
				}
			}
			return fmt.Sprintf("kill(-1): %s (the sandbox only); ppid 0; host pids: %s; host unaffected", errName(m["kill -1"]), strings.Join(slices.Compact(host), ","))
		},
	},
	{
		name: "/proc/1/root and /proc/*/environ", probe: "proc",
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			pids, _ := m["pids"].([]any)
			if len(pids) == 0 || len(pids) > 4 {
				t.Errorf("/proc shows pids %v", pids)
			}
			for _, k := range []string{"environ", "cmdline"} {
				for pid, v := range asMap(t, m[k]) {
					s := fmt.Sprint(v)
					if strings.Contains(s, r.h.secret) || strings.Contains(s, "SECRET_TOKEN") {
						t.Errorf("/proc/%s/%s shows the host secret", pid, k)
					}
					if k == "cmdline" && strings.Contains(s, ".test") {
						t.Errorf("/proc/%s/cmdline is a host process: %q", pid, s)
					}
				}
			}
			root := fmt.Sprint(m["/proc/1/root"])
			if strings.Contains(root, "home") || strings.Contains(root, "boot") || strings.Contains(root, "var") {
				t.Errorf("/proc/1/root looks like the host's root: %s", root)
			}
			if e := errName(m["/proc/1/root/etc/shadow"]); e != "ENOENT" {
				t.Errorf("/proc/1/root/etc/shadow: %s", e)
			}
			return fmt.Sprintf("pids %v (the sandbox's own); no host secret in environ; /proc/1/root is the sandbox root (/etc/shadow ENOENT)", pids)
		},
	},
	{
		name: "inherited fds", probe: "fds",
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			fds := asMap(t, m["fds"])
			for _, fd := range []string{"0", "1", "2", "3", "4"} {
				if _, ok := fds[fd]; !ok {
					t.Errorf("fd %s is not open", fd)
				}
			}
			var own []string
			for fd, v := range fds {
				target := errName(v) // ENOENT: the listing's own descriptor, closed since
				if !isErrnoName(target) {
					target = fmt.Sprint(v)
				}
				if strings.Contains(target, r.h.tag) {
					t.Errorf("fd %s is the host's descriptor: %s", fd, target)
				}
				safe := strings.HasPrefix(target, "pipe:") || strings.HasPrefix(target, "anon_inode:") ||
					strings.HasPrefix(target, "socket:") || target == "/dev/null" || strings.HasPrefix(target, "/proc/") ||
					strings.HasPrefix(target, "/dev/urandom") || strings.HasPrefix(target, "/tmp/") || target == "ENOENT"
				if !safe {
					t.Errorf("fd %s -> %s", fd, target)
				}
				if n := len(fd); n > 1 || fd[0] > '4' {
					own = append(own, target)
				}
			}
			if e := errName(m["canary"]); e != "ENOENT" {
				t.Errorf("the host canary: %s", e)
			}
			sort.Strings(own)
			s := "fds 0-4 (protocol and stdio)"
			if len(own) > 0 {
				s += fmt.Sprintf(" + %d the interpreter opened itself (%s)", len(own), strings.Join(slices.Compact(kinds(own)), ", "))
			}
			return s + "; the host's non-CLOEXEC fd is not inherited"
		},
	},
	{
		name: "symlinks planted for the host to follow", probe: "symlink_plant",
		run: func(t *testing.T, r *batteryRun) {
			// Nothing on the host may open /etc/shadow while the sandbox
			// plants links to it and is torn down.
			fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if _, err := unix.InotifyAddWatch(fd, "/etc/shadow", unix.IN_OPEN|unix.IN_ACCESS); err != nil {
				t.Fatal(err)
			}
			r.val, r.err = r.call(t, "symlink_plant")
			time.Sleep(50 * time.Millisecond)
			buf := make([]byte, 4096)
			if n, _ := unix.Read(fd, buf); n > 0 {
				t.Errorf("/etc/shadow was opened on the host while the sandbox ran (%d bytes of inotify events)", n)
			}
		},
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			if errName(m["/tmp/x -> /etc/shadow"]) != "ok" {
				t.Errorf("planting the symlink failed: %v", m["/tmp/x -> /etc/shadow"])
			}
			if e := errName(m["follow inside"]); e != "ENOENT" {
				t.Errorf("following it inside: %s", e)
			}
			if _, ok := m["planted"].(string); !ok {
				t.Errorf("the planted path came back as %T", m["planted"])
			}
			return fmt.Sprintf("planted (symlink ok, hard link %s); dangles inside; the host got a string and never opened /etc/shadow", errName(m["/tmp/hard -> /etc/ld.so.cache"]))
		},
	},
	{
		name: "device nodes and mknod", probe: "devices",
		notes: map[string]string{"node": "no mknod in Node: lists /dev, opens devices, tries an addon"},
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			nodes := asMap(t, m["nodes"])
			want := map[string]string{"/dev/null": "1,3", "/dev/zero": "1,5", "/dev/random": "1,8", "/dev/urandom": "1,9"}
			for k, v := range nodes {
				if want[k] != fmt.Sprint(v) {
					t.Errorf("device node %s (%v) in the sandbox", k, v)
				}
			}
			if len(nodes) != len(want) {
				t.Errorf("device nodes %v, want %v", nodes, want)
			}
			for _, k := range []string{"open /dev/mem", "open /dev/kmsg"} {
				if e := errName(m[k]); e != "ENOENT" {
					t.Errorf("%s: %s", k, e)
				}
			}
			if r.lang == "node" {
				return "only null, zero, random, urandom; /dev/mem, /dev/kmsg ENOENT; " + wantNative(t, m["mknod"])
			}
			for _, k := range []string{"mknod chr 1,1 (mem)", "mknod blk 8,0"} {
				if e := errName(m[k]); e != "EPERM" {
					t.Errorf("%s: %s, want EPERM", k, e)
				}
			}
			return fmt.Sprintf("only null, zero, random, urandom; mknod EPERM (mkfifo %s); /dev/mem, /dev/kmsg ENOENT", errName(m["mkfifo"]))
		},
	},
	{
		name: "host environment secrets", probe: "env",
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			env := asMap(t, m["environ"])
			if _, ok := env["SECRET_TOKEN"]; ok {
				t.Errorf("SECRET_TOKEN is in the sandbox's environment")
			}
			if s := fmt.Sprint(m); strings.Contains(s, r.h.secret) {
				t.Errorf("the secret's value is visible in the sandbox")
			}
			keys := slices.Sorted(mapsKeys(env))
			return fmt.Sprintf("SECRET_TOKEN absent (bond handed the whole host env); sandbox env: %s", strings.Join(keys, ", "))
		},
	},
	{
		name: "TIOCSTI", probe: "tiocsti",
		notes: map[string]string{"node": "no ioctl in Node: checks for a terminal, tries an addon"},
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			if e := errName(m["/dev/tty"]); e != "ENOENT" && e != "ENXIO" {
				t.Errorf("/dev/tty: %s", e)
			}
			if r.lang == "node" {
				if fmt.Sprint(m["isatty"]) != "[false false false]" {
					t.Errorf("isatty: %v", m["isatty"])
				}
				return "no terminal (isatty false, /dev/tty " + errName(m["/dev/tty"]) + "); " + wantNative(t, m["ioctl"])
			}
			for fd := 0; fd <= 4; fd++ {
				if e := errName(m[fmt.Sprintf("fd%d", fd)]); e != "EPERM" {
					t.Errorf("TIOCSTI on fd %d: %s, want EPERM", fd, e)
				}
			}
			return "EPERM on fds 0-4 (seccomp ioctl allowlist); /dev/tty " + errName(m["/dev/tty"])
		},
	},
	{
		name: "write /proc/self/exe", probe: "proc_self_exe",
		check: func(t *testing.T, r *batteryRun) string {
			noErr(t, r)
			m := asMap(t, r.val)
			delete(m, "exe")
			allFailed(t, m, "ETXTBSY", "EROFS", "EACCES", "EPERM")
			return summary(m) + "; host binary unchanged"
		},
	},
	{
		name: "32-bit syscalls (int 0x80)", probe: "syscall32",
		notes: map[string]string{"python": "ctypes runs the code, from a multithreaded process", "php": "FFI runs the code",
			"perl": "mmap via syscall(), code installed as an XSUB", "node": nativeNote["node"]},
		check: func(t *testing.T, r *batteryRun) string {
			if r.lang == "node" {
				noErr(t, r)
				return wantNative(t, r.val)
			}
			if !strings.Contains(r.stderr.String(), "int 0x80") {
				t.Errorf("the probe did not reach its int 0x80: %s", r.stderr.String())
			}
			return wantKilled(t, r, "i386:getpid")
		},
	},
	{
		name: "x32 ABI syscalls", probe: "x32",
		notes: nativeNote,
		check: killedOrNative("x32:getpid"),
	},
	{
		name: "denied syscall in a child process", probe: "child_syscall",
		notes: map[string]string{"node": "a child node tries an addon"},
		check: func(t *testing.T, r *batteryRun) string {
			if r.lang == "node" {
				noErr(t, r)
				m := asMap(t, r.val)
				if dl := fmt.Sprint(m["dlopen"]); !strings.Contains(dl, "failed to map segment") {
					t.Errorf("the child's addon: %q", dl)
				}
				return "no FFI; the child's addon dlopen from /tmp refused (noexec)"
			}
			out := wantKilled(t, r, "ptrace")
			if r.elapsed > 2*time.Second {
				t.Errorf("the sandbox ended only after %v", r.elapsed)
			}
			return fmt.Sprintf("the whole sandbox ends (%v): %s", r.elapsed.Round(10*time.Millisecond), out)
		},
	},
	{
		name: "interpreter escape hatches", probe: "escape",
		notes: map[string]string{"python": "ctypes", "php": "FFI (enabled in the CLI: ffi.enable=preload)", "perl": "syscall()",
			"node": "process.binding, native addons, spawning a shell"},
		check: func(t *testing.T, r *batteryRun) string {
			if r.lang == "node" {
				noErr(t, r)
				m := asMap(t, r.val)
				if e := errName(m["spawn a shell"]); !strings.Contains(e, "ENOENT") {
					t.Errorf("spawning /bin/sh: %s", e)
				}
				return "process.binding gives no raw syscall; " + wantNative(t, m["addon"]) + "; no /bin/sh"
			}
			if !strings.Contains(r.stderr.String(), "getpid: 1") {
				t.Errorf("the raw getpid did not answer 1: %q", r.stderr.String())
			}
			return "raw syscalls work (getpid 1) but meet the filter: " + wantKilled(t, r, "process_vm_readv")
		},
	},
}

// kinds reduces descriptor targets to their kind: pipe, anon_inode:[eventfd]...
func kinds(targets []string) []string {
	var out []string
	for _, s := range targets {
		switch {
		case strings.HasPrefix(s, "pipe:"):
			s = "pipe"
		case strings.HasPrefix(s, "socket:"):
			s = "socket"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}
