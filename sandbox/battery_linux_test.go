//go:build linux

package sandbox

// The hostile-input battery (issue 4, "Hostile inputs: the project's own
// battery"; SECURITY.md describes it): every behaviour below runs in each of
// the four languages as a real sandboxed bond in the decoder profile, in a
// fresh sandbox, and the test asserts the safe outcome and then that the
// host and the launcher are unaffected.
//
// The probes live in testdata/battery/probes.{py,php,pl,js}, one function
// probe_NAME per behaviour and language. Run only the battery with
//
//	go test -tags seccomp -run Battery ./sandbox/
//
// and set SANDBOND_BATTERY_TABLE=FILE to write the table of outcomes
// (behaviour x language) as Markdown, the one SECURITY.md shows.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/internal/testenv"
	"github.com/sandbond/sandbond/policy"
	"github.com/sandbond/sandbond/profiles"
)

// The battery maps its sandboxes to host ids of its own, so that a stray
// process of a battery sandbox can be told from anything else on the host
// (other tests of the package, other launchers) by its uid.
const (
	batteryIDBase  = 0x71000000
	batteryIDCount = 4096
)

var batteryLangs = []string{"python", "php", "perl", "node"}

var probeFiles = map[string]string{"python": "probes.py", "php": "probes.php", "perl": "probes.pl", "node": "probes.js"}

// batteryCase is one behaviour.
type batteryCase struct {
	name  string // the behaviour, as the table shows it
	probe string // probe_NAME in the probe files
	// mutate adjusts the decoder profile (smaller limits so bombs end
	// fast); nil keeps the decoder's limits.
	mutate func(p *policy.Profile)
	// notes say, per language, where the language cannot express the
	// behaviour and what the probe attempts instead.
	notes map[string]string
	// run replaces the single call of probe_NAME (tmp persistence needs
	// two sandboxes).
	run func(t *testing.T, r *batteryRun)
	// check asserts the safe outcome and returns it in words.
	check func(t *testing.T, r *batteryRun) string
}

// batteryRun is one behaviour in one language.
type batteryRun struct {
	lang    string
	c       *batteryCase
	h       *batteryHost
	p       *policy.Profile
	l       *ContainerLauncher
	rec     *recLauncher
	val     any   // what probe_NAME returned
	err     error // or the call's error
	stdout  countingWriter
	stderr  tailWriter
	elapsed time.Duration
	heapUp  int64 // growth of the test's heap during the call, bytes
}

// recLauncher records the processes a launcher starts.
type recLauncher struct {
	l     *ContainerLauncher
	mu    sync.Mutex
	procs []*Process
}

func (r *recLauncher) Launch(ctx context.Context, spec *bond.LaunchSpec) (bond.Process, error) {
	p, err := r.l.Launch(ctx, spec)
	if err == nil {
		r.mu.Lock()
		r.procs = append(r.procs, p.(*Process))
		r.mu.Unlock()
	}
	return p, err
}

func (r *recLauncher) processes() []*Process {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.procs)
}

type countingWriter struct{ n atomic.Int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }

// tailWriter keeps the last 8 KiB written to it.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) > 8<<10 {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-8<<10:]...)
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

// batteryHost is what the battery sets up on the host: listeners the
// sandboxes must not reach, canary files they must not read or change, a
// descriptor they must not inherit, a secret they must not see, a process
// they must not kill.
type batteryHost struct {
	tag         string
	secret      string
	tcp, tcp6   net.Listener
	abstract    net.Listener
	unixPath    net.Listener
	sockPath    string
	abstractNm  string
	accepted    atomic.Int64
	canaryRoot  string // under /root
	canaryTmp   string // under the host's /tmp
	leakPath    string // opened without O_CLOEXEC for the whole battery
	leakFD      int
	sentinel    *exec.Cmd
	repoFile    string
	watched     []string // host files whose state must not change
	snapshot    map[string]string
	probes      map[string]string // language -> probe source
	interpreter map[string]string // language -> real interpreter path
	interpHash  map[string]string
}

func newBatteryHost(t *testing.T) *batteryHost {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	h := &batteryHost{tag: fmt.Sprintf("sandbond-battery-%d-%s", os.Getpid(), hex.EncodeToString(b[:4]))}
	h.secret = "sandbond-battery-secret-" + hex.EncodeToString(b)
	t.Setenv("SECRET_TOKEN", h.secret)

	accept := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.accepted.Add(1)
			c.Close()
		}
	}
	var err error
	if h.tcp, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go accept(h.tcp)
	if h.tcp6, err = net.Listen("tcp6", "[::1]:0"); err == nil {
		go accept(h.tcp6)
	} else {
		t.Logf("no IPv6 loopback on the host: %v", err)
	}
	h.abstractNm = h.tag
	if h.abstract, err = net.Listen("unix", "@"+h.abstractNm); err != nil {
		t.Fatal(err)
	}
	go accept(h.abstract)
	h.sockPath = "/tmp/" + h.tag + ".sock"
	if h.unixPath, err = net.Listen("unix", h.sockPath); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(h.sockPath, 0o777)
	go accept(h.unixPath)

	h.canaryRoot = "/root/." + h.tag
	h.canaryTmp = "/tmp/" + h.tag + ".canary"
	for _, p := range []string{h.canaryRoot, h.canaryTmp} {
		if err := os.WriteFile(p, []byte("canary "+h.secret+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.leakPath = h.canaryTmp
	// A descriptor without O_CLOEXEC, open while every sandbox starts.
	if h.leakFD, err = syscall.Open(h.leakPath, syscall.O_RDONLY, 0); err != nil {
		t.Fatal(err)
	}
	h.sentinel = exec.Command("sleep", "3600")
	if err := h.sentinel.Start(); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	h.repoFile = filepath.Join(filepath.Dir(wd), "go.mod")

	h.probes = map[string]string{}
	for lang, f := range probeFiles {
		src, err := os.ReadFile(filepath.Join("testdata", "battery", f))
		if err != nil {
			t.Fatal(err)
		}
		s := string(src)
		if lang == "php" {
			s = strings.TrimPrefix(s, "<?php\n")
		}
		h.probes[lang] = s
	}
	h.interpreter, h.interpHash = map[string]string{}, map[string]string{}
	h.watched = []string{"/etc/shadow", "/etc/passwd", h.canaryRoot, h.canaryTmp, h.repoFile}

	t.Cleanup(func() {
		for _, ln := range []net.Listener{h.tcp, h.tcp6, h.abstract, h.unixPath} {
			if ln != nil {
				ln.Close()
			}
		}
		syscall.Close(h.leakFD)
		os.Remove(h.canaryRoot)
		os.Remove(h.canaryTmp)
		os.Remove(h.sockPath)
		_ = h.sentinel.Process.Kill()
		_ = h.sentinel.Wait()
	})
	return h
}

// args are the facts a probe receives.
func (h *batteryHost) args() map[string]any {
	port6 := 0
	if h.tcp6 != nil {
		port6 = h.tcp6.Addr().(*net.TCPAddr).Port
	}
	return map[string]any{
		"port":     h.tcp.Addr().(*net.TCPAddr).Port,
		"port6":    port6,
		"abstract": h.abstractNm,
		"sockpath": h.sockPath,
		"leakpath": h.leakPath,
		"marker":   h.tag + ".marker",
		"hostpids": []int{os.Getpid(), os.Getppid(), h.sentinel.Process.Pid},
		"read": []string{"/etc/shadow", "/etc/gshadow", "/etc/passwd", h.canaryRoot, h.canaryTmp, h.repoFile,
			filepath.Dir(h.repoFile), "/home", "/var/log", "/run/sandbond", "/sys/fs/cgroup"},
		"create": []string{"/etc/sandbond-pwned", "/usr/sandbond-pwned", "/sandbond-pwned", "/proc/sys/kernel/hostname",
			"/proc/sys/kernel/core_pattern", "/sys/sandbond-pwned"},
		"append": []string{h.canaryRoot, h.repoFile},
	}
}

// fileState describes a host file well enough to see any change to it.
func fileState(p string) string {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return "missing: " + err.Error()
	}
	return fmt.Sprintf("ino %d size %d mode %o uid %d mtime %d.%d ctime %d.%d", st.Ino, st.Size, st.Mode, st.Uid,
		st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}

func (h *batteryHost) takeSnapshot() {
	h.snapshot = map[string]string{}
	for _, p := range h.watched {
		h.snapshot[p] = fileState(p)
	}
}

func hashFile(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	s := sha256.New()
	_, _ = io.Copy(s, f)
	return hex.EncodeToString(s.Sum(nil))
}

// batteryCanary is an expression every language evaluates to 2.
const batteryCanary = "1+1"

// after checks that a case left the host and the launcher as they were:
// a fresh sandbox of the same launcher starts and answers, nothing of the
// case's sandboxes is left (processes, state, cgroups), no process runs as
// a battery host id, the watched host files are unchanged, the sentinel
// process lives and no listener was reached.
func (h *batteryHost) after(t *testing.T, r *batteryRun) {
	t.Helper()
	rec := &recLauncher{l: r.l}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := bond.Open(ctx, r.lang, batteryOptions(r.p, rec, nil, nil))
	if err != nil {
		t.Errorf("host check: the next sandbox does not start: %v", err)
	} else {
		v, err := b.Eval(ctx, batteryCanary)
		if n, ok := v.(int64); err != nil || !ok || n != 2 {
			t.Errorf("host check: the next sandbox answers %v (%T), %v", v, v, err)
		}
		b.Close()
	}
	for _, p := range append(r.rec.processes(), rec.processes()...) {
		assertGone(t, r.l, result{Pid: p.Pid(), Proc: p})
	}
	if stray := ProcessesInIDRange(batteryIDBase, batteryIDCount); len(stray) > 0 {
		t.Errorf("host check: processes still run as battery host ids: %v", stray)
	}
	for _, p := range h.watched {
		if now := fileState(p); now != h.snapshot[p] {
			t.Errorf("host check: %s changed: %s -> %s", p, h.snapshot[p], now)
		}
	}
	if err := h.sentinel.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("host check: the sentinel process is gone: %v", err)
	}
	if n := h.accepted.Load(); n != 0 {
		t.Errorf("host check: the host listeners accepted %d connections", n)
	}
	for _, p := range []string{"/etc/sandbond-pwned", "/usr/sandbond-pwned", "/sandbond-pwned", "/tmp/" + h.tag + ".marker"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("host check: %s exists on the host", p)
		}
	}
}

// batteryOptions are the bond options of a sandboxed bond in profile p, as
// a daemon sets them (BondOptions), except that the bond is handed the whole
// host environment: the launcher's allowlist alone must keep it out.
func batteryOptions(p *policy.Profile, l bond.Launcher, stdout, stderr io.Writer) *bond.Options {
	d := p.WithDefaults()
	return &bond.Options{
		Launcher:        l,
		Env:             os.Environ(),
		MaxOutputBytes:  d.Limits.OutputBytes,
		MaxMessageBytes: int(d.Protocol.MaxMessageBytes),
		Timeout:         d.Limits.WallPerCall.Std(),
		GracePeriod:     500 * time.Millisecond,
		StartTimeout:    20 * time.Second,
		Stdout:          stdout,
		Stderr:          stderr,
	}
}

// open starts a fresh sandboxed bond for the run with the probes loaded.
func (r *batteryRun) open(ctx context.Context) (*bond.Bond, error) {
	b, err := bond.Open(ctx, r.lang, batteryOptions(r.p, r.rec, &r.stdout, &r.stderr))
	if err != nil {
		return nil, err
	}
	if err := b.EvalBlock(ctx, r.h.probes[r.lang]); err != nil {
		b.Close()
		return nil, fmt.Errorf("loading the probes: %w", err)
	}
	return b, nil
}

// call runs probe_NAME in a fresh sandbox and records what it returned.
func (r *batteryRun) call(t *testing.T, probe string) (any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := r.open(ctx)
	if err != nil {
		t.Fatalf("start: %v\nstderr: %s", err, r.stderr.String())
	}
	defer b.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	v, err := b.Call(ctx, "probe_"+probe, r.h.args())
	r.elapsed = time.Since(start)
	runtime.ReadMemStats(&after)
	r.heapUp = int64(after.HeapInuse) - int64(before.HeapInuse)
	return v, err
}

func TestBattery(t *testing.T) {
	needRoot(t)
	for _, lang := range batteryLangs {
		if _, err := exec.LookPath(map[string]string{"python": "python3", "php": "php", "perl": "perl", "node": "node"}[lang]); err != nil {
			testenv.SkipOrFail(t, "%s is not installed", lang)
		}
	}
	h := newBatteryHost(t)
	table := map[string]map[string]string{}
	var tableMu sync.Mutex
	start := time.Now()
	for _, c := range batteryCases {
		t.Run(c.name, func(t *testing.T) {
			for _, lang := range batteryLangs {
				t.Run(lang, func(t *testing.T) {
					outcome := "stopped"
					defer func() {
						if t.Failed() {
							outcome = "FAILED: " + outcome
						}
						tableMu.Lock()
						if table[c.name] == nil {
							table[c.name] = map[string]string{}
						}
						table[c.name][lang] = outcome
						tableMu.Unlock()
					}()
					outcome = runBattery(t, h, c, lang)
				})
			}
		})
	}
	for lang, exe := range h.interpreter {
		if now := hashFile(exe); now != h.interpHash[lang] {
			t.Errorf("the %s interpreter %s changed on the host", lang, exe)
		}
	}
	md := batteryTable(table, time.Since(start))
	t.Logf("battery outcomes (%v):\n%s", time.Since(start).Round(time.Second), md)
	if f := os.Getenv("SANDBOND_BATTERY_TABLE"); f != "" {
		if err := os.WriteFile(f, []byte(md), 0o644); err != nil {
			t.Errorf("writing the table: %v", err)
		}
	}
}

func runBattery(t *testing.T, h *batteryHost, c *batteryCase, lang string) string {
	p := profiles.Decoder()
	p.Language = lang
	if c.mutate != nil {
		c.mutate(p)
	}
	l, err := NewContainerLauncher(p, WithStateDir(testStateDir()), WithHostIDs(batteryIDBase, batteryIDCount))
	if err != nil {
		t.Fatalf("NewContainerLauncher: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	r := &batteryRun{lang: lang, c: c, h: h, p: p, l: l, rec: &recLauncher{l: l}}
	if _, ok := h.interpreter[lang]; !ok {
		if in, err := resolveInterpreter(context.Background(), lang, map[string]string{"python": "python3", "php": "php", "perl": "perl", "node": "node"}[lang]); err == nil {
			h.interpreter[lang] = in.Exe
			h.interpHash[lang] = hashFile(in.Exe)
			h.watched = append(h.watched, in.Exe)
		}
	}
	h.takeSnapshot()
	if c.run != nil {
		c.run(t, r)
	} else {
		r.val, r.err = r.call(t, c.probe)
	}
	outcome := c.check(t, r)
	if t.Failed() {
		t.Logf("%s/%s: value %s, err %v\nstderr: %s", c.name, lang, show(r.val), r.err, r.stderr.String())
	} else {
		t.Logf("%s/%s: %s (%v)", c.name, lang, outcome, r.elapsed.Round(time.Millisecond))
	}
	if note := c.notes[lang]; note != "" {
		outcome += " [" + note + "]"
	}
	h.after(t, r)
	return outcome
}

func show(v any) string {
	s := fmt.Sprintf("%v", v)
	if len(s) > 3000 {
		s = s[:3000] + "..."
	}
	return s
}

func batteryTable(table map[string]map[string]string, took time.Duration) string {
	var b strings.Builder
	b.WriteString("| behaviour | python | php | perl | node |\n|---|---|---|---|---|\n")
	for _, c := range batteryCases {
		row := table[c.name]
		if row == nil {
			continue
		}
		fmt.Fprintf(&b, "| %s |", c.name)
		for _, lang := range batteryLangs {
			s := row[lang]
			if s == "" {
				s = "not run"
			}
			fmt.Fprintf(&b, " %s |", strings.ReplaceAll(s, "|", "\\|"))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\n%d behaviours x %d languages in %v.\n", len(table), len(batteryLangs), took.Round(time.Second))
	return b.String()
}

// ---- value helpers -------------------------------------------------------

// errName normalizes what a probe reports for a failed attempt: an errno
// name, "errno N" (PHP's FFI and sockets), or a strerror text (PHP's file
// functions) become the errno name; anything else is returned as it is.
func errName(v any) string {
	switch x := v.(type) {
	case string:
		if n, ok := strings.CutPrefix(x, "errno "); ok {
			if i, err := strconv.Atoi(n); err == nil {
				return unix.ErrnoName(syscall.Errno(i))
			}
		}
		if isErrnoName(x) {
			return x
		}
		if _, n, ok := strings.Cut(x, "errno="); ok {
			f := strings.Fields(n)
			if len(f) > 0 {
				if i, err := strconv.Atoi(f[0]); err == nil {
					return unix.ErrnoName(syscall.Errno(i))
				}
			}
		}
		for i := 1; i < 134; i++ {
			if strings.EqualFold(x, syscall.Errno(i).Error()) || strings.HasSuffix(strings.ToLower(x), ": "+syscall.Errno(i).Error()) {
				return unix.ErrnoName(syscall.Errno(i))
			}
		}
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

func isErrnoName(s string) bool {
	if len(s) < 3 || s[0] != 'E' {
		return false
	}
	for _, c := range s {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func asMap(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("probe returned %T %s, want a map", v, show(v))
	}
	return m
}

// summary counts the distinct normalized values of m: "EROFS x5, ENOENT x2".
func summary(m map[string]any, keys ...string) string {
	count := map[string]int{}
	for k, v := range m {
		if len(keys) > 0 && !slices.Contains(keys, k) {
			continue
		}
		count[errName(v)]++
	}
	var names []string
	for n := range count {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if count[names[i]] != count[names[j]] {
			return count[names[i]] > count[names[j]]
		}
		return names[i] < names[j]
	})
	var parts []string
	for _, n := range names {
		if count[n] > 1 {
			parts = append(parts, fmt.Sprintf("%s x%d", n, count[n]))
		} else {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, ", ")
}

// allFailed asserts that every attempt in m failed, with one of the allowed
// errno names when any are given.
func allFailed(t *testing.T, m map[string]any, allowed ...string) {
	t.Helper()
	for k, v := range m {
		n := errName(v)
		if !isErrnoName(n) {
			t.Errorf("%s: %s (the attempt was not refused)", k, show(v))
			continue
		}
		if len(allowed) > 0 && !slices.Contains(allowed, n) {
			t.Errorf("%s: %s, want one of %v", k, n, allowed)
		}
	}
}

// wantErr asserts that the call failed with target.
func wantErr(t *testing.T, r *batteryRun, target error) {
	t.Helper()
	if !errors.Is(r.err, target) {
		t.Errorf("call: value %s, error %v; want %v", show(r.val), r.err, target)
	}
}

// wantKilled asserts a seccomp kill naming syscall.
func wantKilled(t *testing.T, r *batteryRun, syscall string) string {
	t.Helper()
	var se *SeccompError
	if !errors.As(r.err, &se) {
		t.Errorf("call: value %s, error %v; want a *SeccompError (%s)", show(r.val), r.err, syscall)
		return "not killed"
	}
	if se.Syscall != syscall {
		t.Errorf("seccomp kill names %q, want %q", se.Syscall, syscall)
	}
	return "killed: SeccompError(" + se.Syscall + ")"
}

// wantLimit asserts a *LimitError for limit.
func wantLimit(t *testing.T, r *batteryRun, target error) string {
	t.Helper()
	var le *LimitError
	if !errors.As(r.err, &le) || !errors.Is(r.err, target) {
		t.Errorf("call: value %s, error %v; want %v", show(r.val), r.err, target)
		return "not stopped by the limit"
	}
	return fmt.Sprintf("killed: LimitError(%s, %d) after %v", le.Limit, le.Value, r.elapsed.Round(100*time.Millisecond))
}

// wantNative checks Node's closest attempt at native code: an addon copied
// to /tmp, which the noexec mount refuses to map.
func wantNative(t *testing.T, v any) string {
	t.Helper()
	m := asMap(t, v)
	dl, _ := m["dlopen"].(string)
	if !strings.Contains(dl, "failed to map segment") {
		t.Errorf("process.dlopen of an addon in /tmp: %q, want a refused mapping (noexec)", dl)
	}
	return "no FFI; addon dlopen from /tmp refused (noexec)"
}

// killedOrNative: python, php and perl make the raw system call and are
// killed naming it; node attempts a native addon.
func killedOrNative(name string) func(t *testing.T, r *batteryRun) string {
	return func(t *testing.T, r *batteryRun) string {
		if r.lang == "node" {
			if r.err != nil {
				t.Fatalf("call: %v", r.err)
			}
			return wantNative(t, r.val)
		}
		return wantKilled(t, r, name)
	}
}

// errnoOrNative: the raw system calls fail with the given errno names.
func errnoOrNative(want map[string]string) func(t *testing.T, r *batteryRun) string {
	return func(t *testing.T, r *batteryRun) string {
		if r.err != nil {
			t.Fatalf("call: %v", r.err)
		}
		if r.lang == "node" {
			return wantNative(t, r.val)
		}
		m := asMap(t, r.val)
		var parts []string
		for _, k := range slices.Sorted(mapsKeys(want)) {
			got := errName(m[k])
			if got != want[k] {
				t.Errorf("%s: %s, want %s", k, got, want[k])
			}
			parts = append(parts, k+" "+got)
		}
		return strings.Join(parts, "; ")
	}
}

func mapsKeys[V any](m map[string]V) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func noErr(t *testing.T, r *batteryRun) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("call: %v\nstderr: %s", r.err, r.stderr.String())
	}
}

var nativeNote = map[string]string{"node": "closest attempt: no FFI in Node, so a native addon"}
