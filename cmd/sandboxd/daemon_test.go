package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sandbond/sandbond/internal/testenv"
)

// testUser returns the unprivileged user the CI creates.
func testUser(t *testing.T) (uid, gid uint32) {
	t.Helper()
	needRoot(t)
	name := os.Getenv("SANDBOND_TEST_USER")
	if name == "" {
		name = "sbtest"
	}
	u, err := user.Lookup(name)
	if err != nil {
		testenv.SkipOrFail(t, "no user %s (.ci/install creates it)", name)
	}
	a, _ := strconv.ParseUint(u.Uid, 10, 32)
	b, _ := strconv.ParseUint(u.Gid, 10, 32)
	return uint32(a), uint32(b)
}

// TestPeerCred: a caller that may not use a callable gets the same 404 as
// for a callable that does not exist, and the list shows it nothing; root
// gets 200. The client is the real binary run as the unprivileged user.
func TestPeerCred(t *testing.T) {
	uid, gid := testUser(t)
	cfg := fmt.Sprintf(`{"version": 1, "socket": {"path": "%%SOCKET%%", "mode": "0666"},
	  "callables": [
	    {"name": "secret", "profile": "worker", "function": "echo"},
	    {"name": "shared", "profile": "worker", "function": "echo", "allow": {"uids": [%d]}},
	    {"name": "bygroup", "profile": "worker", "function": "echo", "allow": {"gids": [%d]}}
	  ]}`, uid, gid)
	d := startDaemon(t, cfg, fakeFactory)
	as := &[2]uint32{uid, gid}

	code, out := callCLI(t, d.socket, as, "secret", `"x"`)
	if code != 1 || !strings.Contains(out, `not_found: no callable "secret" for this caller`) {
		t.Errorf("unprivileged caller on secret: exit %d: %s", code, out)
	}
	code, missing := callCLI(t, d.socket, as, "missing", `"x"`)
	if code != 1 || strings.Replace(missing, "missing", "secret", 1) != out {
		t.Errorf("refused and missing differ: %q vs %q", out, missing)
	}
	if code, out := callCLI(t, d.socket, as, "shared", `"x"`); code != 0 || strings.TrimSpace(out) != `"x"` {
		t.Errorf("allowed uid: exit %d: %s", code, out)
	}
	if code, out := callCLI(t, d.socket, as, "bygroup", `"y"`); code != 0 || strings.TrimSpace(out) != `"y"` {
		t.Errorf("allowed gid: exit %d: %s", code, out)
	}
	if code, out := callCLI(t, d.socket, as, "-list"); code != 0 || strings.Contains(out, "secret") || !strings.Contains(out, "shared") {
		t.Errorf("list as unprivileged: exit %d: %s", code, out)
	}
	if code, out := callCLI(t, d.socket, nil, "secret", `"x"`); code != 0 || strings.TrimSpace(out) != `"x"` {
		t.Errorf("root on secret: exit %d: %s", code, out)
	}
	// Attach is for root and the daemon's user only, and off here anyway.
	if !strings.Contains(d.logs.String(), `"msg":"caller refused","callable":"secret","uid":`+itoa(uid)) {
		t.Errorf("refusal not logged:\n%s", d.logs)
	}
}

// TestRealPool calls a real sandboxed python pool through the API.
func TestRealPool(t *testing.T) {
	needRoot(t)
	d := startDaemon(t, `{"version": 1, "socket": {"path": "%SOCKET%"},
	  "callables": [{"name": "py", "profile": "worker", "function": "f",
	    "pool": {"min_idle": 1, "max_size": 2},
	    "setup": "import base64\ndef f(x, b=None):\n    if x == 'boom':\n        raise KeyError('k')\n    if x == 'net':\n        import socket\n        socket.create_connection(('10.0.0.1', 80), timeout=1)\n    return {'x': x, 'b': b, 'big': 2**80}\n"}]}`, nil)
	cases := []struct {
		body   string
		status int
		has    []string
	}{
		{`{"args":["hi", {"$bytes":"aGk="}]}`, 200, []string{`{"result":{"b":{"$bytes":"aGk="},"big":1208925819614629174706176,"x":"hi"}}`}},
		{`{"args":["boom"]}`, 502, []string{`"kind":"remote"`, `"type":"KeyError"`, `"language":"python"`}},
		{`{"args":["net"]}`, 502, []string{`"kind":"remote"`, `"type":"OSError"`}},
		{`{"args":[]}`, 502, []string{`"kind":"remote"`, `"type":"TypeError"`}},
	}
	for _, c := range cases {
		st, _, body := request(t, d.socket, "POST", "/v1/call/py", c.body)
		if st != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.body, st, c.status, body)
		}
		for _, w := range c.has {
			if !strings.Contains(body, w) {
				t.Errorf("%s: body %s lacks %s", c.body, body, w)
			}
		}
	}
}

// TestRealPoolLimits maps a real worker's limit, seccomp kill and timeout
// to the API's kinds.
func TestRealPoolLimits(t *testing.T) {
	needRoot(t)
	wd, _ := os.Getwd()
	d := startDaemon(t, `{"version": 1, "socket": {"path": "%SOCKET%"},
	  "callables": [{"name": "py", "profile": "`+filepath.Join(wd, "testdata/profile-fast.json")+`", "function": "f",
	    "setup": "import ctypes, time\ndef f(what):\n    if what == 'memory':\n        return len(bytearray(1 << 30))\n    if what == 'seccomp':\n        return ctypes.CDLL(None).syscall(165, 0, 0, 0, 0, 0)\n    if what == 'sleep':\n        time.sleep(5)\n    return what\n"}]}`, nil)
	cases := []struct {
		arg    string
		status int
		has    []string
	}{
		{"memory", 502, []string{`"kind":"limit"`, `"limit":"memory"`}},
		{"seccomp", 502, []string{`"kind":"seccomp"`}},
		{"sleep", 504, []string{`"kind":"timeout"`}},
		{"ok", 200, []string{`{"result":"ok"}`}},
	}
	for _, c := range cases {
		st, h, body := request(t, d.socket, "POST", "/v1/call/py", `{"args":["`+c.arg+`"]}`)
		if st != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.arg, st, c.status, body)
		}
		for _, w := range c.has {
			if !strings.Contains(body, w) {
				t.Errorf("%s: body %s lacks %s", c.arg, body, w)
			}
		}
		if st == 503 && h.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
	}
	rec := d.srv.poolStats()["py"]
	if rec.Restarts < 2 {
		t.Errorf("pool restarts after the kills: %+v", rec)
	}
}

const slowConfig = `{"version": 1, "socket": {"path": "%SOCKET%", "mode": "0660"}%EXTRA%,
  "callables": [{"name": "slow", "profile": "worker", "function": "slow",
    "pool": {"min_idle": 1, "max_size": 2},
    "setup": "import time\ndef slow(s):\n    time.sleep(s)\n    return 'done'\n"}%MORE%]}`

func slowCfg(extra, more string) string {
	return strings.NewReplacer("%EXTRA%", extra, "%MORE%", more).Replace(slowConfig)
}

// TestBinaryDrain: SIGTERM lets a slow call finish, refuses a new one, and
// the daemon exits 0, telling systemd STOPPING=1.
func TestBinaryDrain(t *testing.T) {
	needRoot(t)
	p := startBinary(t, slowCfg("", ""), nil)
	var wg sync.WaitGroup
	wg.Add(1)
	var slowCode int
	var slowOut string
	go func() {
		defer wg.Done()
		slowCode, slowOut = callCLI(t, p.socket, nil, "slow", "1.5")
	}()
	time.Sleep(700 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.notify.wait(t, "STOPPING=1", 10*time.Second)
	code, out := callCLI(t, p.socket, nil, "slow", "0")
	if code != 1 || !(strings.Contains(out, "overload: sandboxd is shutting down") || strings.Contains(out, "cannot connect") || strings.Contains(out, "no daemon socket")) {
		t.Errorf("new call while draining: exit %d: %s", code, out)
	}
	wg.Wait()
	if slowCode != 0 || strings.TrimSpace(slowOut) != `"done"` {
		t.Errorf("slow call: exit %d: %s", slowCode, slowOut)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("daemon exit: %v\n%s", err, p.stderr)
	}
	if _, err := os.Stat(p.socket); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

// TestBinaryReload: SIGHUP with a callable added makes it callable; a bad
// config keeps the old one. The opt-in metrics listener serves counters.
func TestBinaryReload(t *testing.T) {
	needRoot(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	metrics := `, "metrics": {"listen": "` + addr + `"}`
	p := startBinary(t, slowCfg(metrics, ""), nil)
	if code, out := callCLI(t, p.socket, nil, "slow", "0"); code != 0 {
		t.Fatalf("slow: %d %s", code, out)
	}
	if code, _ := callCLI(t, p.socket, nil, "added", "1", "2"); code != 1 {
		t.Fatalf("added exists before the reload")
	}
	text, _ := os.ReadFile(p.config)
	added := `, {"name": "added", "profile": "worker", "function": "add", "pool": {"min_idle": 1, "max_size": 1}, "setup": "def add(a, b):\n    return a + b\n"}`
	next := strings.Replace(string(text), "}]}", "}"+added+"]}", 1)
	if err := os.WriteFile(p.config, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	// A call in flight during the reload is not dropped.
	var wg sync.WaitGroup
	wg.Add(1)
	var inflight string
	go func() { defer wg.Done(); _, inflight = callCLI(t, p.socket, nil, "slow", "1") }()
	time.Sleep(300 * time.Millisecond)
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	p.notify.wait(t, "RELOADING=1", 10*time.Second)
	p.notify.wait(t, "READY=1", 60*time.Second)
	if code, out := callCLI(t, p.socket, nil, "added", "1", "2"); code != 0 || strings.TrimSpace(out) != "3" {
		t.Errorf("added after reload: %d %s\n%s", code, out, p.stderr)
	}
	wg.Wait()
	if strings.TrimSpace(inflight) != `"done"` {
		t.Errorf("call across the reload: %s", inflight)
	}
	// "slow" did not change: its pool (and warm worker) stayed.
	if !strings.Contains(p.stderr.String(), `"msg":"pools after the reload","kept":1,"started":1`) {
		t.Errorf("reload did not keep the unchanged pool:\n%s", p.stderr)
	}
	// A bad config is logged and the old one kept.
	if err := os.WriteFile(p.config, []byte(strings.Replace(next, `"version": 1`, `"version": 1, "bogus": true`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	p.notify.wait(t, "RELOADING=1", 10*time.Second)
	p.notify.wait(t, "READY=1", 30*time.Second)
	if code, out := callCLI(t, p.socket, nil, "added", "2", "3"); code != 0 || strings.TrimSpace(out) != "5" {
		t.Errorf("after a bad reload: %d %s", code, out)
	}
	if !strings.Contains(p.stderr.String(), "reload refused: keeping the old config") || !strings.Contains(p.stderr.String(), "bogus: unknown field") {
		t.Errorf("bad reload not logged:\n%s", p.stderr)
	}
	// Metrics on the opt-in listener.
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: status %d, %v", resp.StatusCode, err)
	}
	for _, w := range []string{`sandboxd_calls_total{callable="added",outcome="ok"} 2`, `sandboxd_config_reloads_total{result="ok"} 1`,
		`sandboxd_config_reloads_total{result="error"} 1`, `sandboxd_worker_starts_total{callable="slow"}`, `sandboxd_workers{callable="slow",state="idle"}`} {
		if !bytes.Contains(out, []byte(w)) {
			t.Errorf("metrics lack %s", w)
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// TestSocketActivation: the daemon serves on the socket passed as fd 3
// with LISTEN_FDS=1 and LISTEN_PID set to its own pid (a shell sets it
// with $$ and execs), and says READY=1 on NOTIFY_SOCKET.
func TestSocketActivation(t *testing.T) {
	needRoot(t)
	dir := publicTempDir(t)
	sock := filepath.Join(dir, "activated.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	f, err := ln.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // the child owns the socket now (f is a dup)
	p := startBinary(t, slowCfg("", ""), func(_ *exec.Cmd, bin, cfg string) *exec.Cmd {
		cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" serve -config "$1" -log-format json`, bin, cfg)
		cmd.ExtraFiles = []*os.File{f}
		return cmd
	})
	f.Close()
	if code, out := callCLI(t, sock, nil, "slow", "0"); code != 0 || strings.TrimSpace(out) != `"done"` {
		t.Errorf("call on the activated socket: %d %s\n%s", code, out, p.stderr)
	}
	if _, err := os.Stat(p.socket); !os.IsNotExist(err) {
		t.Errorf("the config's socket was created although activated: %v", err)
	}
	if !strings.Contains(p.stderr.String(), "using the socket passed by systemd") {
		t.Errorf("activation not logged:\n%s", p.stderr)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// TestServeSocketFlag: serve -socket PATH listens on PATH instead of the
// config's socket path, also across a reload.
func TestServeSocketFlag(t *testing.T) {
	needRoot(t)
	other := filepath.Join(publicTempDir(t), "other.sock")
	p := startBinary(t, slowCfg("", ""), func(cmd *exec.Cmd, bin, cfg string) *exec.Cmd {
		return exec.Command(bin, "serve", "-config", cfg, "-socket", other, "-log-format", "json")
	})
	if code, out := callCLI(t, other, nil, "slow", "0"); code != 0 || strings.TrimSpace(out) != `"done"` {
		t.Errorf("call on -socket: %d %s\n%s", code, out, p.stderr)
	}
	if _, err := os.Stat(p.socket); !os.IsNotExist(err) {
		t.Errorf("the config's socket was created although -socket was given: %v", err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	p.notify.wait(t, "RELOADING=1", 10*time.Second)
	p.notify.wait(t, "READY=1", 30*time.Second)
	if strings.Contains(p.stderr.String(), "change only at restart") {
		t.Errorf("a reload with -socket warned of a socket change:\n%s", p.stderr)
	}
	if code, out := callCLI(t, other, nil, "slow", "0"); code != 0 {
		t.Errorf("call on -socket after a reload: %d %s", code, out)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("exit: %v", err)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("-socket left behind: %v", err)
	}
}
