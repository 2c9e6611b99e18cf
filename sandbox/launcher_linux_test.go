//go:build linux

package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbond/sandbond/internal/testenv"
	"github.com/sandbond/sandbond/policy"
)

// TestLanguages starts every interpreter sandboxed and echoes a message
// through the protocol fds 3 (in) and 4 (out).
func TestLanguages(t *testing.T) {
	needRoot(t)
	tests := []struct {
		lang string
		argv []string
	}{
		{"python", []string{"python3", "-c", `import os; os.write(4, os.read(3, 100).upper())`}},
		{"node", []string{"node", "-e", `const fs=require("fs"); fs.writeSync(4, fs.readFileSync(3).toString().toUpperCase())`}},
		{"perl", []string{"perl", "-e", `open(my $i, "<&=3") or die; open(my $o, ">&=4") or die; my $d = <$i>; print $o uc $d; close $o`}},
		{"php", []string{"php", "-r", `$d = fread(fopen("php://fd/3", "r"), 100); fwrite(fopen("php://fd/4", "w"), strtoupper($d));`}},
	}
	for _, tc := range tests {
		t.Run(tc.lang, func(t *testing.T) {
			if _, err := os.Stat("/usr/bin/" + tc.argv[0]); err != nil {
				testenv.SkipOrFail(t, "%s not installed", tc.argv[0])
			}
			l := newTestLauncher(t, testProfile(tc.lang))
			r := run(t, l, tc.lang, tc.argv, "hello", nil)
			if r.WaitErr != nil || r.Out != "HELLO" {
				t.Fatalf("out %q, wait %v, stderr:\n%s", r.Out, r.WaitErr, r.Err)
			}
		})
	}
}

// isolationProbe reports, as JSON on fd 4, what a sandboxed python sees.
const isolationProbe = `
import os, json, socket, sys
r = {}
os.write(4, b" ")  # the host inspects /proc/PID now
os.read(3, 1)       # and tells us to go on
r["uid"] = os.getuid()
r["shadow"] = os.path.exists("/etc/shadow")
r["root"] = os.path.exists("/root")
r["etc"] = sorted(os.listdir("/etc")) if os.path.isdir("/etc") else []
try:
    open("/pwned", "w"); r["write_root"] = True
except OSError as e:
    r["write_root"] = False
try:
    open("/usr/lib/pwned", "w"); r["write_usr"] = True
except OSError as e:
    r["write_usr"] = False
with open("/tmp/x", "w") as f: f.write("ok")
r["tmp"] = open("/tmp/x").read()
st = os.statvfs("/tmp"); r["tmp_size"] = st.f_blocks * st.f_frsize
r["ifaces"] = [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]]
r["hostname"] = socket.gethostname()
r["fds"] = sorted(int(x) for x in os.listdir("/proc/self/fd"))
r["env"] = sorted(os.environ.keys())
r["dev"] = sorted(os.listdir("/dev"))
with open("/dev/null", "w") as f: r["devnull_write"] = f.write("x")
r["dev_zero"] = open("/dev/zero", "rb").read(3).hex()
try:
    open("/dev/pwned", "w"); r["write_dev"] = True
except OSError as e:
    r["write_dev"] = False
r["dev_fd"] = os.readlink("/dev/stdin")
s = socket.socket(); s.settimeout(2)
try:
    s.connect(("127.0.0.1", int(sys.argv[1]))); r["tcp"] = "connected"
except OSError as e:
    r["tcp"] = str(e)
r["sid_is_pid"] = os.getsid(0) == os.getpid()
r["pid"] = os.getpid()
try:
    os.open("/dev/tty", os.O_RDWR); r["tty"] = True
except OSError:
    r["tty"] = False
caps = [l for l in open("/proc/self/status") if l.startswith(("CapEff", "NoNewPrivs", "Seccomp:"))]
r["status"] = caps
os.write(4, json.dumps(r).encode())
`

func TestIsolation(t *testing.T) {
	needRoot(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	p := testProfile("python")
	p.Env.Set = map[string]string{"FROM_PROFILE": "1"}
	p.Env.Allow = []string{"LANG"}
	os.Setenv("SECRET_TOKEN", "hunter2")
	l := newTestLauncher(t, p)

	var hostUID, hostNS, selfNS string
	r3, w3, _ := os.Pipe()
	_ = r3
	_ = w3
	res := runWithGo(t, l, []string{"/usr/bin/python3", "-c", isolationProbe, port}, func(p *Process) {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
		for _, line := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(line, "Uid:") {
				hostUID = strings.Fields(line)[1]
			}
		}
		hostNS, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/user", p.Pid()))
		selfNS, _ = os.Readlink("/proc/self/ns/user")
		if fmt.Sprint(p.HostUID()) != hostUID {
			t.Errorf("host uid %s, launcher says %d", hostUID, p.HostUID())
		}
	})
	if res.WaitErr != nil {
		t.Fatalf("wait: %v\nstderr:\n%s", res.WaitErr, res.Err)
	}
	var got struct {
		UID          int      `json:"uid"`
		Shadow, Root bool     `json:"-"`
		ShadowJ      bool     `json:"shadow"`
		RootJ        bool     `json:"root"`
		Etc          []string `json:"etc"`
		WriteRoot    bool     `json:"write_root"`
		WriteUsr     bool     `json:"write_usr"`
		Tmp          string   `json:"tmp"`
		TmpSize      int64    `json:"tmp_size"`
		Ifaces       []string `json:"ifaces"`
		Hostname     string   `json:"hostname"`
		FDs          []int    `json:"fds"`
		Env          []string `json:"env"`
		Dev          []string `json:"dev"`
		DevNullWrite int      `json:"devnull_write"`
		DevZero      string   `json:"dev_zero"`
		WriteDev     bool     `json:"write_dev"`
		DevStdin     string   `json:"dev_fd"`
		TCP          string   `json:"tcp"`
		SidIsPid     bool     `json:"sid_is_pid"`
		Pid          int      `json:"pid"`
		TTY          bool     `json:"tty"`
		Status       []string `json:"status"`
	}
	out := strings.TrimSpace(res.Out)
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("probe output %q: %v\nstderr:\n%s", out, err, res.Err)
	}
	t.Logf("probe: %s", out)
	checks := []struct {
		name string
		ok   bool
	}{
		{"host uid is not 0", hostUID != "" && hostUID != "0"},
		{"new user namespace", hostNS != "" && hostNS != selfNS},
		{"root inside", got.UID == 0},
		{"/etc/shadow not visible", !got.ShadowJ},
		{"/root not visible", !got.RootJ},
		{"cannot write /", !got.WriteRoot},
		{"cannot write /usr/lib", !got.WriteUsr},
		{"/tmp writable", got.Tmp == "ok"},
		{"/tmp sized", got.TmpSize == 4<<20},
		{"only lo", len(got.Ifaces) == 1 && got.Ifaces[0] == "lo"},
		{"no TCP to host", got.TCP != "connected"},
		{"hostname", got.Hostname == "sandbox"},
		{"fds 0-4 only (+ listdir's own)", fmt.Sprint(got.FDs) == "[0 1 2 3 4 5]"},
		{"env allowlist", !contains(got.Env, "SECRET_TOKEN") && contains(got.Env, "FROM_PROFILE")},
		{"minimal /dev", fmt.Sprint(got.Dev) == "[fd null random stderr stdin stdout urandom zero]" ||
			l.rootless && !contains(got.Dev, "tty") && !contains(got.Dev, "full") && contains(got.Dev, "null") && contains(got.Dev, "urandom")},
		{"/dev/null writable, /dev/zero readable", got.DevNullWrite == 1 && got.DevZero == "000000"},
		{"/dev/stdin links to fd 0", got.DevStdin == "/proc/self/fd/0"},
		// root: the prebound /dev, bound read-only (rootless: a tmpfs
		// of the container's own)
		{"cannot write /dev", !got.WriteDev || l.rootless},
		{"pid 1", got.Pid == 1},
		{"own session", got.SidIsPid},
		{"no terminal", !got.TTY},
		{"no caps, no_new_privs, seccomp", strings.Contains(strings.Join(got.Status, ""), "CapEff:\t0000000000000000") &&
			strings.Contains(strings.Join(got.Status, ""), "NoNewPrivs:\t1") && strings.Contains(strings.Join(got.Status, ""), "Seccomp:\t2")},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: failed", c.name)
		}
	}
	assertGone(t, l, res)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// runWithGo runs python with the inspect handshake of isolationProbe: the
// program writes one byte, the host inspects, then writes one byte back.
func runWithGo(t *testing.T, l *ContainerLauncher, argv []string, inspect func(p *Process)) result {
	t.Helper()
	return runHandshake(t, l, "python", argv, inspect)
}

// assertGone checks that nothing of a waited-for sandbox is left: its
// process, its state directory, its cgroups.
func assertGone(t *testing.T, l *ContainerLauncher, r result) {
	t.Helper()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", r.Pid)); err == nil {
		t.Errorf("process %d still exists", r.Pid)
	}
	if _, err := os.Stat(filepath.Join(l.StateDir(), "containers", r.Proc.ID())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("container state %s left: %v", r.Proc.ID(), err)
	}
	for _, sub := range []string{"memory", "pids", "unified", ""} {
		m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", sub, "*", "sandbond", r.Proc.ID()))
		m2, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", sub, "sandbond", r.Proc.ID()))
		m3, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", sub, "*", "*", "sandbond", r.Proc.ID()))
		if len(m)+len(m2)+len(m3) > 0 {
			t.Errorf("cgroup left: %v %v %v", m, m2, m3)
		}
	}
}

func TestLimits(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name    string
		mutate  func(p *policy.Profile)
		code    string
		want    error
		wantMsg string
	}{
		{"fork bomb", func(p *policy.Profile) { p.Limits.Pids = 16 },
			`import os, time
pids = []
while True:
    pids.append(os.fork())
    if pids[-1] == 0:
        time.sleep(30); os._exit(0)`, ErrPidsLimit, ""},
		{"memory bomb", func(p *policy.Profile) { p.Limits.MemoryBytes = 64 << 20 },
			`x = []
while True: x.append(bytearray(1 << 20))`, ErrMemoryLimit, ""},
		{"cpu spin", func(p *policy.Profile) { p.Limits.CPUSeconds = 1 },
			`while True: pass`, ErrCPULimit, ""},
		{"wall", func(p *policy.Profile) { p.Limits.WallPerSandbox = policy.Duration(500 * time.Millisecond) },
			`import time; time.sleep(30)`, ErrWallLimit, ""},
		{"ptrace", nil, `import ctypes; ctypes.CDLL(None).ptrace(0, 0, 0, 0)`, ErrSeccomp, "ptrace"},
		{"unshare", nil, `import ctypes; ctypes.CDLL(None).unshare(0x10000000)`, ErrSeccomp, "unshare"},
		{"bpf", nil, `import ctypes; ctypes.CDLL(None).syscall(321, 0, 0, 0)`, ErrSeccomp, "bpf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testProfile("python")
			if tc.mutate != nil {
				tc.mutate(p)
			}
			l := newTestLauncher(t, p)
			start := time.Now()
			r := py(t, l, tc.code, "", nil)
			if !errors.Is(r.WaitErr, tc.want) {
				t.Fatalf("wait: %v, want %v (after %v)\nstderr:\n%s", r.WaitErr, tc.want, time.Since(start), tail(r.Err))
			}
			t.Logf("%v after %v", r.WaitErr, time.Since(start).Round(time.Millisecond))
			var se *SeccompError
			if tc.wantMsg != "" && errors.As(r.WaitErr, &se) && se.Syscall != tc.wantMsg {
				t.Errorf("seccomp syscall %q, want %q", se.Syscall, tc.wantMsg)
			}
			assertGone(t, l, r)
		})
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return "..." + s[len(s)-2000:]
	}
	return s
}

// TestDenied checks syscalls that fail with an errno instead of killing.
func TestDenied(t *testing.T) {
	needRoot(t)
	l := newTestLauncher(t, testProfile("python"))
	r := py(t, l, `import ctypes, os, socket, json, fcntl, termios
libc = ctypes.CDLL(None, use_errno=True)
out = {}
def sc(name, nr, *args):
    rc = libc.syscall(nr, *args)
    out[name] = 0 if rc >= 0 else ctypes.get_errno()
sc("io_uring_setup", 425, 1, 0)
sc("clone3", 435, 0, 0)
sc("userfaultfd_as_errno", 999, 0)
for fam, name in [(16, "netlink"), (17, "packet"), (40, "vsock")]:
    try:
        socket.socket(fam, socket.SOCK_RAW if fam != 40 else socket.SOCK_STREAM); out[name] = 0
    except OSError as e:
        out[name] = e.errno
try:
    fcntl.ioctl(0, termios.TIOCSTI, b"x"); out["tiocsti"] = 0
except OSError as e:
    out["tiocsti"] = e.errno
out["personality"] = libc.personality(0x0040000) # ADDR_NO_RANDOMIZE
out["personality_errno"] = ctypes.get_errno()
try:
    os.mknod("/tmp/dev", 0o600 | 0o020000, os.makedev(1, 3)); out["mknod"] = 0
except OSError as e:
    out["mknod"] = e.errno
os.write(4, json.dumps(out).encode())`, "", nil)
	if r.WaitErr != nil {
		t.Fatalf("wait: %v\n%s", r.WaitErr, r.Err)
	}
	var got map[string]int
	if err := json.Unmarshal([]byte(r.Out), &got); err != nil {
		t.Fatalf("%q: %v\n%s", r.Out, err, r.Err)
	}
	t.Logf("%v", got)
	want := map[string]int{"io_uring_setup": 38, "clone3": 38, "netlink": 1, "packet": 1, "vsock": 1, "tiocsti": 1, "personality": -1, "personality_errno": 1, "mknod": 1}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %d, want %d", k, got[k], v)
		}
	}
}

// TestDistinctHostUIDs runs two sandboxes at once: each has its own host uid.
func TestDistinctHostUIDs(t *testing.T) {
	needRoot(t)
	l := newTestLauncher(t, testProfile("python"))
	uids := make(chan int, 2)
	release := make(chan struct{})
	done := make(chan result, 2)
	for i := 0; i < 2; i++ {
		go func() {
			done <- runHandshake(t, l, "python", []string{"python3", "-c", `import os; os.write(4, b"x"); os.read(3, 1)`}, func(p *Process) {
				uids <- p.HostUID()
				<-release
			})
		}()
	}
	a, b := <-uids, <-uids
	close(release)
	<-done
	<-done
	if a == b || a == 0 || b == 0 {
		t.Fatalf("host uids %d and %d", a, b)
	}
}

// TestKill kills a running sandbox; nothing is left behind.
func TestKill(t *testing.T) {
	needRoot(t)
	l := newTestLauncher(t, testProfile("python"))
	r := runHandshake(t, l, "python", []string{"python3", "-c", `import os, time
os.fork(); os.fork()
os.write(4, b"x"); time.sleep(60)`}, func(p *Process) {
		if err := p.Kill(); err != nil {
			t.Errorf("kill: %v", err)
		}
	})
	if r.WaitErr == nil || errors.Is(r.WaitErr, ErrLimit) {
		t.Fatalf("wait after kill: %v", r.WaitErr)
	}
	if err := r.Proc.Kill(); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("kill after wait: %v", err)
	}
	assertGone(t, l, r)
}

// TestCgroupsBeforeLaunchReturns checks the ordering the launcher relies
// on: when Launch returns (before the bond sends the driver, and long
// before any untrusted input), the interpreter is already in its memory
// and pids cgroups, with their limits set, and in no other cgroup of its
// own (no cpu task group: the daemon's cpu cgroup is the interpreter's).
func TestCgroupsBeforeLaunchReturns(t *testing.T) {
	needRoot(t)
	l := newTestLauncher(t, testProfile("python"))
	p, release := launchWaiting(t, l)
	// Read at once, while the interpreter waits for its first input.
	mine, _ := os.ReadFile("/proc/self/cgroup")
	theirs, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	paths := p.cgroups // the sandbox's cgroups, which the launcher removes at the end
	t.Logf("cgroups of the interpreter:\n%s\nsandbox cgroups: %v", theirs, paths)
	lines := func(b []byte) map[string]string { // controllers -> path
		m := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if f := strings.SplitN(line, ":", 3); len(f) == 3 {
				m[f[1]] = f[2]
			}
		}
		return m
	}
	own, got := lines(mine), lines(theirs)
	for ctrl, path := range got {
		if dir, ok := paths[ctrl]; ok {
			if !strings.HasSuffix(dir, "/"+cgroupDirName+"/"+p.ID()) || !strings.HasSuffix(dir, path) {
				t.Errorf("%s: in %s, want the sandbox's cgroup %s", ctrl, path, dir)
			}
			continue
		}
		// Every other hierarchy: the daemon's own cgroup (both read
		// from the host's cgroup namespace).
		if path != own[ctrl] {
			t.Errorf("%s: in %s, want the daemon's own %s (no cgroup of its own)", ctrl, path, own[ctrl])
		}
	}
	for _, sub := range []string{"memory", "pids"} {
		if l.cgLayout.v2 {
			break
		}
		if _, ok := paths[sub]; !ok {
			t.Errorf("no %s cgroup", sub)
		}
	}
	if !l.cgLayout.v2 {
		lim, _ := os.ReadFile(filepath.Join(paths["memory"], "memory.limit_in_bytes"))
		pm, _ := os.ReadFile(filepath.Join(paths["pids"], "pids.max"))
		if strings.TrimSpace(string(lim)) != fmt.Sprint(128<<20) || strings.TrimSpace(string(pm)) != "32" {
			t.Errorf("limits: memory %q, pids %q", lim, pm)
		}
	}
	release()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range paths {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left after Wait: %v", dir, err)
		}
	}
}

// TestPreboundRootfs checks the root filesystem built once per launcher
// (root only): the interpreter's files are mounted read-only in it on the
// host, nothing is bound at each start, Close unmounts and removes it, and
// the next daemon removes the tree of a daemon that died without Close.
func TestPreboundRootfs(t *testing.T) {
	needRoot(t)
	// Not t.TempDir: the state directory's parents must be searchable
	// by the sandbox's host uid.
	state := testStateDir() + "-prebound"
	l, err := NewContainerLauncher(testProfile("python"), WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); os.RemoveAll(state) })
	r := run(t, l, "python", []string{"/usr/bin/python3", "-c", `import os; os.write(4, b"ok")`}, "", nil)
	if r.WaitErr != nil || r.Out != "ok" {
		t.Fatalf("out %q wait %v\n%s", r.Out, r.WaitErr, r.Err)
	}
	if len(l.roots) != 1 {
		t.Fatalf("%d root filesystems", len(l.roots))
	}
	var dir string
	for cmd, root := range l.roots {
		dir = root.dir
		if !root.mounted || !hasMountsUnder(dir) {
			t.Fatalf("%s: not prebound", dir)
		}
		if len(l.binds[cmd]) != 0 {
			t.Errorf("binds at each start: %v", l.binds[cmd])
		}
	}
	// Read-only on the host too (access(2) asks without writing).
	exe, _ := filepath.EvalSymlinks("/usr/bin/python3")
	if err := unix.Access(filepath.Join(dir, exe), unix.W_OK); !errors.Is(err, unix.EROFS) {
		t.Errorf("write access to %s through the prebound tree: %v, want EROFS", exe, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if hasMountsUnder(dir) {
		t.Errorf("%s still mounted after Close", dir)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left after Close: %v", dir, err)
	}

	// A tree left by a daemon that is gone (pid 1's start time is not 1).
	stale, err := newRootfs(filepath.Join(state, "rootfs", "1.1.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stale.remove() })
	if err := stale.mountpoint("/usr/bin", true); err != nil {
		t.Fatal(err)
	}
	if err := stale.prebind([]bindMount{{Source: "/usr/bin", Target: "/usr/bin"}}); err != nil {
		t.Fatal(err)
	}
	if !hasMountsUnder(stale.dir) {
		t.Fatal("stale tree not mounted")
	}
	cleaned.Delete(state)
	l2, err := NewContainerLauncher(testProfile("python"), WithStateDir(state))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l2.Close() })
	if hasMountsUnder(stale.dir) {
		t.Errorf("stale tree still mounted")
	}
	if _, err := os.Stat(stale.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale tree left: %v", err)
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Errorf("host /usr/bin: %v", err)
	}
}
