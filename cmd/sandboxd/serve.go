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
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func serveVerb() verb {
	return verb{name: "serve", summary: "run the daemon: serve the config's callables on a Unix socket", run: runServe}
}

const serveHelp = `usage: sandboxd serve [-config FILE] [-socket PATH] [-log-format auto|json|text] [-log-level LEVEL]

Loads the config (JSON, or YAML), starts a warm pool of sandboxed workers
per callable and serves the HTTP+JSON API on the config's Unix socket, or
on -socket PATH when given (either way, on the socket systemd passes under
socket activation). Tells systemd when it is ready (NOTIFY_SOCKET).
SIGTERM or SIGINT: calls in progress finish, new ones get 503, then exit 0.
SIGHUP: reload the config without dropping calls: callables whose
definition (profile, language, setup, function) did not change keep their
pool and its warm workers, new and changed ones get a new pool, and the
pools of removed and changed ones close once their calls in progress
finish (a bad config is logged and the old one kept; the socket, its mode
and the metrics listener change only at restart).

API (see "sandboxd call"):
  POST /v1/call/{callable}  {"args": [...]} -> 200 {"result": ...} or {"error": {"kind": ...}}
  GET  /v1/callables        the callables the caller may use
  GET  /healthz             200 {"status":"ok"}, 503 while draining

flags:
`

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", serveHelp, stderr)
	path := fs.String("config", "/etc/sandboxd/config.json", "the config `file`")
	socket := fs.String("socket", "", "serve on the Unix socket at `path` instead of the config's socket.path (made absolute; the config's mode and group apply)")
	format := fs.String("log-format", "", "log format: auto (JSON under systemd, else text), json or text (default: the config's log.format)")
	level := fs.String("log-level", "", "log level: debug, info, warn or error (default: the config's log.level, else info)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sandboxd serve: unexpected argument %q; fix: give the config with -config FILE\n", fs.Arg(0))
		return errUsage
	}
	if *socket != "" {
		abs, err := socketOverride(*socket)
		if err != nil {
			fmt.Fprintf(stderr, "sandboxd serve: -socket: %v\n", err)
			return errUsage
		}
		*socket = abs
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return problemLines("serve", err)
	}
	if *socket != "" {
		cfg.SocketPath = *socket
	}
	if *format == "" {
		*format = cfg.LogFormat
	}
	if *level == "" {
		*level = cfg.LogLevel
	}
	log, err := newLogger(stderr, *format, *level)
	if err != nil {
		return err
	}
	d := &daemonRun{cfg: cfg, path: *path, socket: *socket, log: log}
	return d.run(ctx)
}

// socketOverride checks and makes absolute the path of -socket.
func socketOverride(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("%v; fix: give an absolute path", err)
	}
	if msg := socketPathTooLong(abs); msg != "" {
		return "", fmt.Errorf("%s %s; fix: choose a shorter path", abs, msg)
	}
	return abs, nil
}

// maxSocketPath is the longest path a Unix socket may have: sun_path, less
// the terminating NUL.
const maxSocketPath = len(unix.RawSockaddrUnix{}.Path) - 1

// socketPathTooLong returns what is wrong with p when it is longer than
// maxSocketPath, or "" when it fits.
func socketPathTooLong(p string) string {
	if len(p) <= maxSocketPath {
		return ""
	}
	return fmt.Sprintf("is longer than a Unix socket path may be (%d bytes)", maxSocketPath)
}

// newLogger builds the daemon's logger: JSON under systemd or when asked,
// text otherwise.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	switch level {
	case "", "info":
		lv = slog.LevelInfo
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return nil, fmt.Errorf("unknown log level %q; fix: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "", "auto":
		if underSystemd() {
			return slog.New(slog.NewJSONHandler(w, opts)), nil
		}
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("unknown log format %q; fix: use auto, json or text", format)
}

// daemonRun is one run of the daemon.
type daemonRun struct {
	cfg     *config
	path    string
	socket  string // -socket: overrides the config's socket path
	log     *slog.Logger
	factory poolFactory             // nil: newSandboxPool
	ready   func(*server, net.Addr) // tests: called once serving
}

func (d *daemonRun) run(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	start := time.Now()
	s, err := newServer(ctx, d.cfg, d.log, d.factory)
	if err != nil {
		return fmt.Errorf("starting the pools: %w", err)
	}
	ln, cleanup, err := listen(d.cfg, d.log)
	if err != nil {
		s.drain(time.Second)
		return err
	}
	defer cleanup()
	api := newAPIServer(s, d.log)
	served := make(chan error, 1)
	go func() { served <- api.Serve(ln) }()

	var msrv *http.Server
	if addr := d.cfg.MetricsListen; addr != "" {
		mln, err := net.Listen("tcp", addr)
		if err != nil {
			api.Close()
			s.drain(time.Second)
			return fmt.Errorf("metrics listener: %w; fix: free %s or change metrics.listen", err, addr)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", s.metrics.handler())
		msrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = msrv.Serve(mln) }()
		d.log.Info("metrics listening", "addr", mln.Addr().String())
	}

	if err := notify("READY=1"); err != nil {
		d.log.Warn("sd_notify READY failed", "err", err)
	}
	d.log.Info("sandboxd ready", "socket", ln.Addr().String(), "callables", len(d.cfg.Callables), "startup", time.Since(start).Round(time.Millisecond), "pid", os.Getpid())
	if d.ready != nil {
		d.ready(s, ln.Addr())
	}

	for {
		select {
		case err := <-served:
			s.drain(d.cfg.DrainTimeout)
			api.Close()
			return fmt.Errorf("serving: %w", err)
		case <-hup:
			d.reload(ctx, s)
			continue
		case <-ctx.Done():
		}
		break
	}
	d.log.Info("draining: calls in progress finish, new ones are refused", "timeout", s.config().DrainTimeout)
	_ = notify("STOPPING=1")
	s.drain(s.config().DrainTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = api.Shutdown(sctx)
	if msrv != nil {
		_ = msrv.Shutdown(sctx)
	}
	d.log.Info("sandboxd stopped")
	return nil
}

// reload loads the config again and swaps in new pools; on any error the
// old config stays.
func (d *daemonRun) reload(ctx context.Context, s *server) {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	_ = notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000))
	defer func() { _ = notify("READY=1") }()
	d.log.Info("reloading the config", "config", d.path)
	cfg, err := loadConfig(d.path)
	if err == nil && d.socket != "" {
		cfg.SocketPath = d.socket
	}
	if err != nil {
		s.metrics.reloads.WithLabelValues("error").Inc()
		for _, line := range errorLines(err) {
			d.log.Error("reload refused: keeping the old config", "problem", line)
		}
		return
	}
	old := s.config()
	if old != nil && (cfg.SocketPath != old.SocketPath || cfg.MetricsListen != old.MetricsListen || cfg.SocketMode != old.SocketMode) {
		d.log.Warn("socket and metrics settings change only at restart")
	}
	if err := s.reload(ctx, cfg); err != nil {
		d.log.Error("reload refused: keeping the old config", "err", err)
		return
	}
	d.log.Info("config reloaded", "callables", len(cfg.Callables))
}

// listen returns the API listener: the socket systemd passed, else the
// config's socket path (its directory created, a stale socket replaced,
// mode and group set). cleanup removes a socket file the daemon made.
func listen(cfg *config, log *slog.Logger) (net.Listener, func(), error) {
	ln, err := activatedListener()
	if err != nil {
		return nil, nil, err
	}
	if ln != nil {
		log.Info("using the socket passed by systemd", "addr", ln.Addr().String())
		return ln, func() {}, nil
	}
	path := cfg.SocketPath
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, fmt.Errorf("socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, nil, fmt.Errorf("%s exists and is not a socket; fix: remove it or change socket.path", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, nil, fmt.Errorf("another daemon listens on %s; fix: stop it or change socket.path", path)
		}
		_ = os.Remove(path)
	}
	// Create the socket with no access for others, then open it up: no
	// window in which it has the process umask's mode.
	old := unix.Umask(0o177)
	l, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	if cfg.SocketGID >= 0 {
		if err := os.Chown(path, -1, cfg.SocketGID); err != nil {
			l.Close()
			return nil, nil, fmt.Errorf("socket group: %w", err)
		}
	}
	if err := os.Chmod(path, cfg.SocketMode); err != nil {
		l.Close()
		return nil, nil, fmt.Errorf("socket mode: %w", err)
	}
	return l, func() { _ = os.Remove(path) }, nil
}

// problemLines turns a joined error into one whose lines each carry the
// verb's prefix, as main prints it: "sandboxd VERB: problem; fix: ...".
func problemLines(verb string, err error) error {
	return errors.New(strings.Join(errorLines(err), "\nsandboxd "+verb+": "))
}
