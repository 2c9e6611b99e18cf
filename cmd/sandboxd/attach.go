package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/creack/pty"
	"golang.org/x/term"

	"github.com/sandbond/sandbond/bond"
)

// The attach wire. The client sends
//
//	POST /v1/attach/{callable} HTTP/1.1
//	Connection: Upgrade
//	Upgrade: sandboxd-attach
//	Sandboxd-Term-Size: COLSxROWS
//	Sandboxd-Attach-Worker: live | fresh
//
// and, when attach is enabled in the config and the caller is root or the
// daemon's own user (SO_PEERCRED), the daemon takes a worker for the
// session: by default a live warm worker of the callable's pool, taken out
// of rotation (sandbox.Pool.Borrow) for as long as the session lasts and
// given back at its end, so that what the session defines or patches stays
// in that worker's interpreter for the calls it serves afterwards (the
// hot-patching use case; a worker whose interpreter died during the
// session is replaced instead); with "fresh", a dedicated worker started
// for the session with the callable's profile and setup code, and closed
// at its end. Then it answers "101 Switching Protocols" and from then on
// the connection carries raw terminal bytes both ways: the daemon runs
// the bond's Interact on the slave side of a new pty and relays the master
// to the connection. The client puts its terminal in raw mode, so Ctrl+C
// travels as the byte 0x03 and Interact turns it into an interrupt of the
// running code (a remote Ctrl+C). Ctrl+D at the prompt ends the session;
// closing the connection does too. Any other answer is an ordinary error
// body: 404 when attach is off, for a missing callable and for a caller
// who may not attach (the same answer), 503 with Retry-After when no
// worker of the pool became free within its queue timeout.
const (
	attachProtocol     = "sandboxd-attach"
	headerTermSize     = "Sandboxd-Term-Size"
	headerAttachWorker = "Sandboxd-Attach-Worker"
)

// workerLender is a pool that lends its workers (sandbox.Pool does,
// through pool_adapter.go): attach takes live workers from it.
type workerLender interface {
	Borrow(ctx context.Context) (b *bond.Bond, giveBack func(), err error)
}

func (s *server) handleAttach(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("callable")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Kind: kindBadRequest, Message: "use POST with Upgrade: " + attachProtocol})
		return
	}
	who := peerFrom(r.Context())
	cfg := s.config()
	if cfg == nil || !cfg.AttachEnabled {
		writeError(w, &apiError{Status: http.StatusNotFound, Kind: kindNotFound, Message: "attach is not enabled on this daemon (the config's attach.enabled)"})
		return
	}
	k := cfg.lookup(name)
	if k == nil || !who.privileged(s.uid) {
		if k != nil {
			s.log.Warn("attach refused", "callable", name, "uid", who.UID, "pid", who.PID)
		}
		writeError(w, notFound(name))
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), attachProtocol) {
		writeError(w, &apiError{Status: http.StatusBadRequest, Kind: kindBadRequest, Message: "attach needs Upgrade: " + attachProtocol + " (use sandboxd attach)"})
		return
	}
	mode := strings.ToLower(r.Header.Get(headerAttachWorker))
	switch mode {
	case "":
		mode = "live"
	case "live", "fresh":
	default:
		writeError(w, &apiError{Status: http.StatusBadRequest, Kind: kindBadRequest, Message: headerAttachWorker + " must be live or fresh"})
		return
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		writeError(w, classify(errDraining))
		return
	}
	s.attaches.Add(1)
	s.mu.Unlock()
	defer s.attaches.Done()

	log := s.log.With("callable", k.Name, "uid", who.UID, "pid", who.PID, "worker", mode)
	var b *bond.Bond
	if mode == "live" {
		var giveBack func()
		var err error
		b, giveBack, err = s.borrow(r.Context(), k.Name)
		if err != nil {
			writeError(w, classify(err))
			return
		}
		defer giveBack()
	} else {
		launcher, release, err := newLauncher(k.Profile, log)
		if err != nil {
			writeError(w, classify(err))
			return
		}
		defer release()
		b, err = openWorker(r.Context(), k.Profile, launcher, k.Setup, log, io.Discard, io.Discard)
		if err != nil {
			writeError(w, classify(err))
			return
		}
		defer b.Close()
	}
	master, slave, err := pty.Open()
	if err != nil {
		writeError(w, classify(fmt.Errorf("pty: %w", err)))
		return
	}
	defer master.Close()
	cols, rows := parseTermSize(r.Header.Get(headerTermSize))
	_ = pty.Setsize(master, &pty.Winsize{Cols: cols, Rows: rows})
	hj, ok := w.(http.Hijacker)
	if !ok {
		slave.Close()
		writeError(w, classify(errors.New("connection cannot be upgraded")))
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		slave.Close()
		return
	}
	defer conn.Close()
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + attachProtocol + "\r\n\r\n")
	if brw.Flush() != nil {
		slave.Close()
		return
	}
	log.Info("attach session started", "worker_pid", b.Pid())
	start := time.Now()

	ctx, cancel := context.WithCancel(s.hardStop)
	defer cancel()
	var relays sync.WaitGroup
	relays.Add(2)
	go func() { // client -> pty
		defer relays.Done()
		_, _ = io.Copy(master, brw.Reader)
		cancel() // the client went away
	}()
	go func() { // pty -> client
		defer relays.Done()
		_, _ = io.Copy(conn, master)
	}()
	err = b.Interact(ctx, slave, slave)
	slave.Close()
	time.Sleep(50 * time.Millisecond) // let the last output through the pty
	master.Close()
	conn.Close()
	relays.Wait()
	log.Info("attach session ended", "duration", time.Since(start).Round(time.Millisecond), "err", err, "worker_alive", b.Err() == nil)
}

// borrow takes a live worker of the current pool of callable name out of
// rotation (see workerLender).
func (s *server) borrow(ctx context.Context, name string) (*bond.Bond, func(), error) {
	g, err := s.acquire()
	if err != nil {
		return nil, nil, err
	}
	// The generation's reference covers the lookup and the wait for a
	// worker; the pool's Close then waits for the worker itself.
	defer g.refs.Done()
	ent := g.entries[name]
	if ent == nil {
		return nil, nil, errDraining // removed by a reload meanwhile: retry
	}
	l, ok := ent.pool.p.(workerLender)
	if !ok {
		return nil, nil, fmt.Errorf("the pool of %q lends no workers; use a fresh worker (sandboxd attach -fresh)", name)
	}
	return l.Borrow(ctx)
}

// parseTermSize reads "COLSxROWS", defaulting to 80x24.
func parseTermSize(s string) (cols, rows uint16) {
	cols, rows = 80, 24
	c, r, ok := strings.Cut(s, "x")
	if !ok {
		return
	}
	if n, err := strconv.ParseUint(c, 10, 16); err == nil && n > 0 {
		cols = uint16(n)
	}
	if n, err := strconv.ParseUint(r, 10, 16); err == nil && n > 0 {
		rows = uint16(n)
	}
	return
}

func attachVerb() verb {
	return verb{name: "attach", summary: "open a REPL on a live worker of a callable (root or the daemon's user)", run: runAttach}
}

const attachHelp = `usage: sandboxd attach [-socket PATH] [-fresh] CALLABLE

Opens an interactive REPL on a live warm worker of CALLABLE's pool: the
hot-patching use case. The worker is taken out of rotation while you are
attached (it takes no calls; with every worker busy, attach waits up to the
pool's queue timeout) and goes back to the pool when you leave, with what
you defined or changed: the calls it serves afterwards see it. Each worker
has its own interpreter, so a patch reaches only the worker you attached
to; a worker whose interpreter died during the session is replaced, and
pools with pool.fresh_per_task never reuse it. With -fresh, the REPL runs
on a new worker started for the session with the callable's profile and
setup code, and closed at its end: the pool is untouched.

Each line runs as statements; "!EXPR" prints an expression's value as
JSON; a line ending in "\" continues. Ctrl+C interrupts the code running
remotely, Ctrl+D ends. Needs attach.enabled in the daemon's config, and
root or the daemon's own user.

flags:
`

func runAttach(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("attach", attachHelp, stderr)
	socket := fs.String("socket", defaultSocket(), "the daemon's socket `path` (default $SANDBOXD_SOCKET, else "+defaultSocketPath+")")
	fresh := fs.Bool("fresh", false, "attach to a new worker started for the session instead of a live worker of the pool")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "sandboxd attach: name one callable; fix: sandboxd attach CALLABLE")
		return errUsage
	}
	conn, err := net.Dial("unix", *socket)
	if err != nil {
		return dialError(*socket, err)
	}
	defer conn.Close()
	size := ""
	if term.IsTerminal(int(os.Stdin.Fd())) {
		if w, h, err := term.GetSize(int(os.Stdin.Fd())); err == nil {
			size = fmt.Sprintf("%dx%d", w, h)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, "http://sandboxd/v1/attach/"+fs.Arg(0), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", attachProtocol)
	if size != "" {
		req.Header.Set(headerTermSize, size)
	}
	if *fresh {
		req.Header.Set(headerAttachWorker, "fresh")
	}
	if err := req.Write(conn); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fmt.Errorf("reading the daemon's answer: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		return responseError(resp)
	}
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		state, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("raw mode: %w", err)
		}
		defer func() { _ = term.Restore(fd, state) }()
	}
	go func() {
		// At the end of a non-terminal input, say Ctrl+D so that the
		// session ends once what was sent has run.
		_, _ = io.Copy(conn, os.Stdin)
		_, _ = conn.Write([]byte{4})
	}()
	_, _ = io.Copy(stdout, br)
	return nil
}
