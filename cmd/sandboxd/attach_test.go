package main

import (
	"errors"
	"io"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandbond/sandbond/internal/testenv"
)

// attachSession is an attach session driven over the raw wire.
type attachSession struct {
	t    *testing.T
	conn net.Conn
	got  *testenv.Buffer
	done chan struct{}
}

// attachTo opens a session on callable name; worker is the
// Sandboxd-Attach-Worker header ("" for the default, a live worker).
func attachTo(t *testing.T, socket, name, worker string) *attachSession {
	t.Helper()
	conn, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := "POST /v1/attach/" + name + " HTTP/1.1\r\nHost: sandboxd\r\nConnection: Upgrade\r\nUpgrade: sandboxd-attach\r\nContent-Length: 0\r\n"
	if worker != "" {
		head += "Sandboxd-Attach-Worker: " + worker + "\r\n"
	}
	_, _ = io.WriteString(conn, head+"\r\n")
	s := &attachSession{t: t, conn: conn, got: &testenv.Buffer{}, done: make(chan struct{})}
	go func() { _, _ = io.Copy(s.got, conn); close(s.done) }()
	return s
}

// waitFor waits for s in the session's output.
func (s *attachSession) waitFor(want string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.got.String(), want) {
		if time.Now().After(deadline) {
			s.t.Fatalf("no %q in:\n%s", want, s.got.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *attachSession) send(line string) { _, _ = io.WriteString(s.conn, line+"\r") }

// end says Ctrl+D and waits for the session to end.
func (s *attachSession) end() {
	s.t.Helper()
	_, _ = s.conn.Write([]byte{4})
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.t.Fatal("session did not end at Ctrl+D")
	}
}

const attachTestConfig = `{"version": 1, "socket": {"path": "%SOCKET%", "mode": "0666"}, "attach": {"enabled": true},
  "callables": [{"name": "py", "profile": "worker", "function": "f",
    "pool": {"min_idle": 1, "max_size": 1, "queue_timeout": "500ms"},
    "setup": "def f():\n    return 'original'\n"}]}`

// TestAttachLive attaches to the live worker of a pool, patches its
// function, detaches, and the pool's next call runs the patch on the same
// worker process; while attached the worker takes no calls. A -fresh
// session gets a worker of its own and leaves the pool alone.
func TestAttachLive(t *testing.T) {
	needRoot(t)
	d := startDaemon(t, attachTestConfig, nil)
	if st, _, b := request(t, d.socket, "POST", "/v1/call/py", `{"args":[]}`); st != 200 || strings.TrimSpace(b) != `{"result":"original"}` {
		t.Fatalf("before: %d %s", st, b)
	}
	pids := poolPids(t, d, "py")

	s := attachTo(t, d.socket, "py", "")
	s.waitFor("101 Switching Protocols")
	s.waitFor("python> ")
	// The only worker is lent: a call waits for the queue timeout.
	st, h, b := request(t, d.socket, "POST", "/v1/call/py", `{"args":[]}`)
	if st != 503 || h.Get("Retry-After") == "" || !strings.Contains(b, `"kind":"overload"`) {
		t.Errorf("call while the only worker is lent: %d %s", st, b)
	}
	s.send("import os")
	s.send("!os.getpid() > 0 and f()")
	s.waitFor(`"original"`)
	s.send("def f(): return 'patched'")
	s.send("!f()")
	s.waitFor(`"patched"`)
	s.end()

	if st, _, b := request(t, d.socket, "POST", "/v1/call/py", `{"args":[]}`); st != 200 || strings.TrimSpace(b) != `{"result":"patched"}` {
		t.Errorf("call after the patch: %d %s", st, b)
	}
	if got := poolPids(t, d, "py"); !slices.Equal(got, pids) {
		t.Errorf("worker pids %v before the session, %v after", pids, got)
	}
	if !strings.Contains(d.logs.String(), `"msg":"attach session started"`) || !strings.Contains(d.logs.String(), `"worker":"live"`) {
		t.Errorf("session not logged:\n%s", d.logs)
	}

	// A fresh worker: the setup's f, and the pool keeps its patch.
	s = attachTo(t, d.socket, "py", "fresh")
	s.waitFor("python> ")
	s.send("!f()")
	s.waitFor(`"original"`)
	s.send("def f(): return 'fresh patch'")
	s.end()
	if st, _, b := request(t, d.socket, "POST", "/v1/call/py", `{"args":[]}`); st != 200 || strings.TrimSpace(b) != `{"result":"patched"}` {
		t.Errorf("call after a fresh session: %d %s", st, b)
	}

	// A session that kills its interpreter: the worker is replaced.
	s = attachTo(t, d.socket, "py", "")
	s.waitFor("python> ")
	s.send("os._exit(3)")
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the session did not end with its interpreter")
	}
	for deadline := time.Now().Add(30 * time.Second); len(poolPids(t, d, "py")) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no replacement worker")
		}
	}
	if st, _, b := request(t, d.socket, "POST", "/v1/call/py", `{"args":[]}`); st != 200 || strings.TrimSpace(b) != `{"result":"original"}` {
		t.Errorf("call after the worker died in a session: %d %s", st, b)
	}
	if got := poolPids(t, d, "py"); len(got) != 1 || got[0] == pids[0] {
		t.Errorf("worker pids %v after the session's worker died (was %v)", got, pids)
	}
}

// attachCLI runs "sandboxd attach" (as uid:gid when cred is set).
func attachCLI(t *testing.T, socket string, cred *[2]uint32, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(sandboxdBinary(t), append([]string{"attach", "-socket", socket}, args...)...)
	if cred != nil {
		cmd.SysProcAttr = credAttr(cred[0], cred[1])
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// TestAttachRefused: attach is for root and the daemon's own user only (a
// user allowed to call the callable is refused, with the answer of a
// missing callable), only when enabled, and only with the upgrade.
func TestAttachRefused(t *testing.T) {
	uid, gid := testUser(t)
	d := startDaemon(t, strings.Replace(attachTestConfig, `"function": "f",`, `"function": "f", "allow": {"uids": [`+itoa(uid)+`]},`, 1), nil)
	as := &[2]uint32{uid, gid}
	if code, out := callCLI(t, d.socket, as, "py"); code != 0 || strings.TrimSpace(out) != `"original"` {
		t.Fatalf("the user may call py: %d %s", code, out)
	}
	code, refused := attachCLI(t, d.socket, as, "py")
	if code != 1 || !strings.Contains(refused, `not_found: no callable "py" for this caller`) {
		t.Errorf("attach as an unprivileged user: %d %s", code, refused)
	}
	code, missing := attachCLI(t, d.socket, nil, "nope")
	if code != 1 || strings.Replace(missing, "nope", "py", 1) != refused {
		t.Errorf("refused and missing differ: %q vs %q", refused, missing)
	}
	if !strings.Contains(d.logs.String(), `"msg":"attach refused","callable":"py","uid":`+itoa(uid)) {
		t.Errorf("refusal not logged:\n%s", d.logs)
	}
	// No session was opened: the pool's worker serves calls.
	if st, _, b := request(t, d.socket, "POST", "/v1/call/py", `{"args":[]}`); st != 200 {
		t.Errorf("call after the refusals: %d %s", st, b)
	}
	if st, _, b := request(t, d.socket, "POST", "/v1/attach/py", ""); st != 400 || !strings.Contains(b, "Upgrade") {
		t.Errorf("attach without upgrade: %d %s", st, b)
	}
	s := attachTo(t, d.socket, "py", "sideways")
	s.waitFor("400 Bad Request")

	// Off by default.
	off := startDaemon(t, strings.Replace(attachTestConfig, `"enabled": true`, `"enabled": false`, 1), fakeFactory)
	code, out := attachCLI(t, off.socket, nil, "py")
	if code != 1 || !strings.Contains(out, "attach is not enabled") {
		t.Errorf("attach when disabled: %d %s", code, out)
	}
}
