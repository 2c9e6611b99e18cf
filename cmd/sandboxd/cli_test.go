package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sandbond/sandbond/internal/testenv"
)

// runVerb runs the command line in-process.
func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckProfileAndConfig(t *testing.T) {
	code, out, errs := runCmd("check", "decoder")
	if code != 0 || errs != "" {
		t.Fatalf("check decoder: %d %s", code, errs)
	}
	for _, w := range []string{"Network: none", "memory: 128 MiB", "wall time per call: 5s", "Seccomp: builtin:interpreter"} {
		if !strings.Contains(out, w) {
			t.Errorf("check decoder lacks %q:\n%s", w, out)
		}
	}
	code, out, _ = runCmd("check", "testdata/full.json")
	for _, w := range []string{`Callable "decode": calls decode in python (profile decoder)`, "Callers: root, the daemon's own user, uid 1001",
		"Network: none", "memory: 128 MiB", "Metrics: Prometheus on http://127.0.0.1:9464/metrics", "Attach: off",
		"Pool: workers reused, replaced after 100 calls"} {
		if !strings.Contains(out, w) {
			t.Errorf("check full.json lacks %q:\n%s", w, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	code, out, _ = runCmd("check", "testdata/profile-strict.json")
	if code != 0 || !strings.Contains(out, `Profile "strict"`) || !strings.Contains(out, "Network: none (new network namespace, loopback down) (default)") {
		t.Errorf("check profile file: %d\n%s", code, out)
	}
}

func TestCheckErrors(t *testing.T) {
	code, _, errs := runCmd("check", "testdata/bad/unknown-field.json", "testdata/bad/broken-profile.json", "testdata/nope.json")
	if code != 1 {
		t.Errorf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(errs), "\n")
	if len(lines) != 3 {
		t.Errorf("want 3 problem lines, got:\n%s", errs)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "sandboxd check: ") || !strings.Contains(l, "fix:") {
			t.Errorf("not a one-line problem with a fix: %q", l)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		has  string
	}{
		{[]string{"serve", "-nope"}, 2, "flag provided but not defined: -nope"},
		{[]string{"serve", "-config", "testdata/nope.json"}, 1, "sandboxd serve: config testdata/nope.json: cannot open: no such file or directory; fix:"},
		{[]string{"serve", "-config", "testdata/bad/version.json"}, 1, "sandboxd serve: config testdata/bad/version.json: version: this build reads version 1 (got 2); fix:"},
		{[]string{"call", "-socket", "/nonexistent/s.sock", "x"}, 1, "no daemon socket at /nonexistent/s.sock; fix:"},
		{[]string{"call", "-socket", "/nonexistent/s.sock", "x", "not-json"}, 2, "argument 1 (\"not-json\") is not JSON; fix:"},
		{[]string{"call"}, 2, "name a callable; fix:"},
		{[]string{"run", "-e", "1"}, 2, "-profile is required; fix:"},
		{[]string{"run", "-profile", "decoder"}, 2, "nothing to run; fix:"},
		{[]string{"run", "-profile", "nosuch", "-e", "1"}, 1, `no profile "nosuch"; fix:`},
		{[]string{"run", "-profile", "decoder", "-lang", "cobol", "-e", "1"}, 1, "language"},
		{[]string{"attach"}, 2, "name one callable; fix:"},
		{[]string{"serve", "-socket", "/" + strings.Repeat("s", 120), "-config", "testdata/full.json"}, 2, "longer than a Unix socket path may be (107 bytes); fix:"},
		{[]string{"check"}, 2, "name a profile or config file; fix:"},
	} {
		code, _, errs := runCmd(c.args...)
		if code != c.code || !strings.Contains(errs, c.has) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errs, c.code, c.has)
		}
		if n := strings.Count(strings.TrimSpace(errs), "\n"); n > 0 && c.code == 1 {
			t.Errorf("%v: more than one line: %q", c.args, errs)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, v := range []string{"serve", "call", "run", "check", "attach", "bench-daemon", "version"} {
		code, _, errs := runCmd(v, "-h")
		if code != 0 || !strings.Contains(errs, "usage") && v != "version" {
			t.Errorf("%s -h: %d %s", v, code, errs)
		}
	}
}

func TestRunVerb(t *testing.T) {
	needRoot(t)
	code, out, errs := runCmd("run", "-profile", "decoder", "-lang", "python", "-e", "1+1")
	if code != 0 || out != "2\n" {
		t.Errorf("run -e: %d %q %s", code, out, errs)
	}
	code, out, errs = runCmd("run", "-profile", "decoder", "-f", "testdata/setup.py", "-e", `decode("abc")`)
	if code != 0 || out != `{"length":3,"upper":"ABC"}`+"\n" {
		t.Errorf("run -f -e: %d %q %s", code, out, errs)
	}
	code, _, errs = runCmd("run", "-profile", "decoder", "-e", "1/0")
	if code != 1 || errs != "sandboxd run: remote: ZeroDivisionError: division by zero\n" {
		t.Errorf("run remote error: %d %q", code, errs)
	}
}

// TestAttach drives a REPL session through the attach wire with a real
// worker: statements, an expression, and a remote Ctrl+C that interrupts
// running code while the session goes on.
func TestAttach(t *testing.T) {
	needRoot(t)
	d := startDaemon(t, `{"version": 1, "socket": {"path": "%SOCKET%"}, "attach": {"enabled": true},
	  "callables": [{"name": "py", "profile": "worker", "function": "f", "pool": {"min_idle": 1, "max_size": 1},
	    "setup": "import time\ndef f():\n    return 1\n"}]}`, nil)
	conn, err := net.Dial("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "POST /v1/attach/py HTTP/1.1\r\nHost: sandboxd\r\nConnection: Upgrade\r\nUpgrade: sandboxd-attach\r\nContent-Length: 0\r\n\r\n")
	var got testenv.Buffer
	done := make(chan struct{})
	go func() { _, _ = io.Copy(&got, conn); close(done) }()
	waitFor := func(s string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(got.String(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in:\n%s", s, got.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("101 Switching Protocols")
	waitFor("python> ")
	_, _ = io.WriteString(conn, "x = 20\r")
	_, _ = io.WriteString(conn, "!x * 2 + f()\r")
	waitFor("41")
	_, _ = io.WriteString(conn, "time.sleep(30)\r")
	time.Sleep(500 * time.Millisecond)
	_, _ = conn.Write([]byte{3}) // Ctrl+C
	waitFor("KeyboardInterrupt")
	_, _ = io.WriteString(conn, "!'still here'\r")
	waitFor(`"still here"`)
	_, _ = conn.Write([]byte{4}) // Ctrl+D
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end at Ctrl+D")
	}
	// Not for other users: covered by privileged(); a plain call to the
	// endpoint without Upgrade is a bad request.
	if st, _, b := request(t, d.socket, "POST", "/v1/attach/py", ""); st != http.StatusBadRequest {
		t.Errorf("attach without upgrade: %d %s", st, b)
	}
}

func TestPeerPrivileged(t *testing.T) {
	k := &callable{UIDs: []uint32{5}, GIDs: []uint32{7}}
	for _, c := range []struct {
		p         peer
		call, adm bool
	}{
		{peer{Known: true, UID: 0}, true, true},
		{peer{Known: true, UID: 99}, true, true}, // the daemon's own uid below
		{peer{Known: true, UID: 5, GID: 1}, true, false},
		{peer{Known: true, UID: 6, GID: 7}, true, false},
		{peer{Known: true, UID: 6, GID: 8}, false, false},
		{peer{Known: false, UID: 0}, false, false},
	} {
		if got := c.p.mayCall(k, 99); got != c.call {
			t.Errorf("%+v mayCall %v", c.p, got)
		}
		if got := c.p.privileged(99); got != c.adm {
			t.Errorf("%+v privileged %v", c.p, got)
		}
	}
}

// TestBenchDaemonNull runs the load generator briefly against the null
// pool (no containers): the table has its rows and no errors.
func TestBenchDaemonNull(t *testing.T) {
	k := &callable{Name: "ident", Function: "ident"}
	rows, err := benchDaemon(context.Background(), k, func(context.Context, poolSpec) (workerPool, error) { return nullPool{}, nil },
		4, 200*time.Millisecond, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 {
		t.Fatalf("rows: %+v", rows)
	}
	for _, r := range rows {
		if r.Calls == 0 || r.Errors != 0 {
			t.Errorf("row %+v", r)
		}
	}
	if tab := benchTable(rows); !strings.Contains(tab, "| sandboxd (Unix socket API), raw HTTP/1.1 client | 4 |") {
		t.Errorf("table:\n%s", tab)
	}
}

// TestSystemdUnits keeps the units in step with the daemon's defaults.
func TestSystemdUnits(t *testing.T) {
	sock, err := os.ReadFile("systemd/sandboxd.socket")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := os.ReadFile("systemd/sandboxd.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"ListenStream=" + defaultSocketPath, "SocketMode=0660"} {
		if !strings.Contains(string(sock), w) {
			t.Errorf("sandboxd.socket lacks %s", w)
		}
	}
	for _, w := range []string{"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed", "Requires=sandboxd.socket", "sandboxd serve -config"} {
		if !strings.Contains(string(svc), w) {
			t.Errorf("sandboxd.service lacks %s", w)
		}
	}
}
