package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/internal/testenv"
	"github.com/sandbond/sandbond/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.Init()
	if conf := os.Getenv(benchClientEnv); conf != "" { // bench-daemon -client-process
		os.Exit(runBenchClient(conf, os.Stdin, os.Stdout))
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// sandboxdBinary builds the command once per test run, with -tags seccomp,
// into a directory every user may read (the SO_PEERCRED test runs it as
// another user).
func sandboxdBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "sandboxd-bin-")
		if binErr != nil {
			return
		}
		_ = os.Chmod(binDir, 0o755)
		binPath = filepath.Join(binDir, "sandboxd")
		out, err := exec.Command("go", "build", "-tags", "seccomp", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// needRoot skips tests that start containers or switch users.
func needRoot(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t, "containers, SO_PEERCRED as another user")
}

// publicTempDir is a temp dir every user may traverse (sockets for the
// unprivileged client), removed at the end of the test.
func publicTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sandboxd-test-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// fakePool plays a callable without an interpreter: its function name
// picks the behaviour.
type fakePool struct {
	fn     string
	mu     sync.Mutex
	calls  uint64
	closed bool
}

func fakeFactory(_ context.Context, spec poolSpec) (workerPool, error) {
	if spec.Function == "fail_to_start" {
		return nil, errors.New("cannot start")
	}
	return &fakePool{fn: spec.Function}, nil
}

func (p *fakePool) Call(ctx context.Context, args ...any) (any, error) {
	p.mu.Lock()
	p.calls++
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, errPoolClosed
	}
	switch p.fn {
	case "echo":
		if len(args) == 0 {
			return nil, nil
		}
		return args[0], nil
	case "count":
		return int64(len(args)), nil
	case "raise":
		return nil, &bond.RemoteError{Language: "python", Type: "ValueError", Message: "bad input", Traceback: "Traceback..."}
	case "overload":
		return nil, errOverloaded
	case "memory":
		return nil, &bond.ExitError{Language: "python", Err: &sandbox.LimitError{Limit: sandbox.LimitMemory, Value: 1 << 27, Profile: "decoder"}}
	case "seccomp":
		return nil, &bond.ExitError{Language: "python", Err: &sandbox.SeccompError{Syscall: "socket", Nr: 41, Profile: "decoder"}}
	case "timeout":
		return nil, fmt.Errorf("%w: %w", &sandbox.LimitError{Limit: sandbox.LimitWall, Profile: "decoder"}, context.DeadlineExceeded)
	case "die":
		return nil, &bond.ExitError{Language: "python", Stderr: "Segmentation fault"}
	case "bytes":
		return []byte("hi"), nil
	case "sleep":
		select {
		case <-time.After(300 * time.Millisecond):
			return "slept", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("fake pool: no function %q", p.fn)
}

func (p *fakePool) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	return nil
}

func (p *fakePool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *fakePool) Stats() poolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return poolStats{Idle: 1, Started: 1, Calls: p.calls}
}

// testDaemon is a daemon run in-process on a temp socket.
type testDaemon struct {
	socket string
	config string     // the config file
	run    *daemonRun // its reload is what SIGHUP runs
	srv    *server
	cancel context.CancelFunc
	done   chan error
	logs   *testenv.Buffer
}

// startDaemon runs the serve loop in-process with config text (the socket
// path is filled in: %SOCKET%) and the given pool factory.
func startDaemon(t *testing.T, cfgText string, factory poolFactory) *testDaemon {
	t.Helper()
	dir := publicTempDir(t)
	sock := filepath.Join(dir, "sandboxd.sock")
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(cfgText, "%SOCKET%", sock)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *server, 1)
	d := &daemonRun{cfg: cfg, path: path, log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), factory: factory,
		ready: func(s *server, _ net.Addr) { ready <- s }}
	td := &testDaemon{socket: sock, config: path, run: d, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { td.done <- d.run(ctx) }()
	select {
	case td.srv = <-ready:
	case err := <-td.done:
		t.Fatalf("daemon ended: %v\n%s", err, logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("daemon not ready\n%s", logs)
	}
	t.Cleanup(func() { td.stop(t) })
	return td
}

// stop drains the daemon and waits for it.
func (td *testDaemon) stop(t *testing.T) {
	td.cancel()
	select {
	case err := <-td.done:
		if err != nil {
			t.Errorf("daemon: %v", err)
		}
		td.done <- nil
	case <-time.After(60 * time.Second):
		t.Errorf("daemon did not stop")
	}
}

// request sends one HTTP request over the socket.
func request(t *testing.T, socket, method, path, body string) (int, http.Header, string) {
	t.Helper()
	c := newClient(socket)
	defer c.http.CloseIdleConnections()
	req, _ := http.NewRequest(method, "http://sandboxd"+path, strings.NewReader(body))
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(data)
}

// notifySocket listens for sd_notify datagrams.
type notifySocket struct {
	path string
	conn *net.UnixConn
	msgs chan string
}

func newNotifySocket(t *testing.T, dir string) *notifySocket {
	t.Helper()
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifySocket{path: path, conn: conn, msgs: make(chan string, 32)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				close(n.msgs)
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return n
}

// wait waits for a datagram containing want.
func (n *notifySocket) wait(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m, ok := <-n.msgs:
			if !ok {
				t.Fatalf("notify socket closed before %q", want)
			}
			if strings.Contains(m, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q on NOTIFY_SOCKET within %s", want, timeout)
		}
	}
}

// daemonProc is the real binary running serve.
type daemonProc struct {
	cmd    *exec.Cmd
	stderr *testenv.Buffer
	notify *notifySocket
	socket string
	config string
}

// startBinary runs the built sandboxd serve with cfgText (%SOCKET%
// replaced) and waits for READY=1. wrap, when set, adjusts the command.
func startBinary(t *testing.T, cfgText string, wrap func(cmd *exec.Cmd, bin, cfg string) *exec.Cmd) *daemonProc {
	t.Helper()
	bin := sandboxdBinary(t)
	dir := publicTempDir(t)
	sock := filepath.Join(dir, "sandboxd.sock")
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(cfgText, "%SOCKET%", sock)), 0o644); err != nil {
		t.Fatal(err)
	}
	n := newNotifySocket(t, dir)
	cmd := exec.Command(bin, "serve", "-config", cfgPath, "-log-format", "json")
	if wrap != nil {
		cmd = wrap(cmd, bin, cfgPath)
	}
	p := &daemonProc{cmd: cmd, stderr: &testenv.Buffer{}, notify: n, socket: sock, config: cfgPath}
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.path)
	cmd.Stderr = p.stderr
	cmd.Stdout = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	n.wait(t, "READY=1", 90*time.Second)
	return p
}

// callCLI runs "sandboxd call" and returns its exit code and output.
func callCLI(t *testing.T, socket string, cred *[2]uint32, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(sandboxdBinary(t), append([]string{"call", "-socket", socket}, args...)...)
	cmd.Env = append(os.Environ(), "SANDBOND_NO_SEAL=1")
	if cred != nil {
		cmd.SysProcAttr = credAttr(cred[0], cred[1])
	}
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(out)
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
