package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The API server. Each connection is read by a light HTTP/1.1 loop that
// answers the requests of the hot path, POST /v1/call/{callable} with a
// Content-Length body, itself: one goroutine per connection, no
// per-request goroutine, context, header map or deadline, the peer's
// credentials read once per connection (SO_PEERCRED). At the first request
// of any other shape (another endpoint or method, chunked bodies, Expect,
// Upgrade for attach, HTTP/1.0, a header it does not vouch for, a head
// longer than its buffer) the loop hands the connection, with the bytes it
// read ahead, to a net/http server with the same handler, which serves
// that connection from then on. Both paths give the same answers (the
// call itself runs in server.admit and server.invoke), so a client cannot
// tell which one served it.
//
// net/http watches every request's connection with a read in the
// background, to cancel the request's context when the client goes away.
// The loop does the same only for calls that run longer than watchAfter:
// a short call is answered before a client could be noticed leaving.

// Connection timeouts (the same for the net/http server).
const (
	idleTimeout       = 2 * time.Minute  // waiting for the next request
	readHeaderTimeout = 10 * time.Second // reading a request's head
	maxDiscardBody    = 256 << 10        // unread body skipped to keep a connection (as net/http)
	maxInlineAnswer   = 16 << 10         // answers up to this size go out in one write with their head
)

// watchAfter is how long a call runs before its connection is watched for
// the client going away.
var watchAfter = 2 * time.Millisecond

// aLongTimeAgo is a deadline in the past: it interrupts a pending read.
var aLongTimeAgo = time.Unix(1, 0)

// apiServer serves the API on listeners.
type apiServer struct {
	s       *server
	log     *slog.Logger
	http    *http.Server // serves the connections handed over
	handoff *connQueue
	onConn  func() // called for each accepted connection (bench-daemon counts them)

	shutting atomic.Bool
	mu       sync.Mutex
	lns      map[net.Listener]struct{}
	conns    map[*apiConn]struct{}
}

func newAPIServer(s *server, log *slog.Logger) *apiServer {
	a := &apiServer{s: s, log: log, http: s.httpServer(), handoff: newConnQueue(),
		lns: map[net.Listener]struct{}{}, conns: map[*apiConn]struct{}{}}
	a.http.ReadHeaderTimeout = readHeaderTimeout
	a.http.IdleTimeout = idleTimeout
	a.http.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	go func() { _ = a.http.Serve(a.handoff) }()
	return a
}

// Serve accepts connections on ln until ln fails or the server shuts down
// (then it returns http.ErrServerClosed).
func (a *apiServer) Serve(ln net.Listener) error {
	a.mu.Lock()
	if a.shutting.Load() {
		a.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	a.lns[ln] = struct{}{}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.lns, ln)
		a.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if a.shutting.Load() {
				return http.ErrServerClosed
			}
			if temporaryAccept(err) {
				// As net/http: out of descriptors and the like pass.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				a.log.Warn("accept failed; retrying", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if a.onConn != nil {
			a.onConn()
		}
		a.start(c)
	}
}

// temporaryAccept reports whether an accept error passes.
func temporaryAccept(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOBUFS) ||
		errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ECONNABORTED) || (errors.As(err, &ne) && ne.Timeout())
}

// start serves a new connection.
func (a *apiServer) start(nc net.Conn) {
	c := &apiConn{a: a, c: nc, who: peerOf(nc), done: make(chan struct{}, 1)}
	c.ctx, c.cancel = context.WithCancel(a.s.hardStop) // cancelled when a drain times out
	c.cr.c = nc
	c.br = bufio.NewReaderSize(&c.cr, 4096)
	a.mu.Lock()
	if a.shutting.Load() {
		a.mu.Unlock()
		c.cancel()
		nc.Close()
		return
	}
	a.conns[c] = struct{}{}
	a.mu.Unlock()
	go c.serve()
}

// Shutdown stops accepting, closes idle connections, lets the requests in
// progress finish (their connections close after the answer), and returns
// when every connection is gone, or when ctx ends (then it closes them).
func (a *apiServer) Shutdown(ctx context.Context) error {
	a.shutting.Store(true)
	a.closeListeners()
	a.handoff.Close()
	herr := make(chan error, 1)
	go func() { herr <- a.http.Shutdown(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !a.closeIdle() {
		select {
		case <-ctx.Done():
			a.closeAll()
			<-herr
			return ctx.Err()
		case <-tick.C:
		}
	}
	return <-herr
}

// Close closes the listeners and every connection at once.
func (a *apiServer) Close() error {
	a.shutting.Store(true)
	a.closeListeners()
	a.handoff.Close()
	a.closeAll()
	return a.http.Close()
}

func (a *apiServer) closeListeners() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for ln := range a.lns {
		ln.Close()
	}
}

// closeIdle closes the connections that wait for a request and reports
// whether none is left.
func (a *apiServer) closeIdle() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.conns {
		if c.state.Load() == connIdle {
			c.c.Close()
		}
	}
	return len(a.conns) == 0
}

func (a *apiServer) closeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.conns {
		c.c.Close()
	}
}

// Connection states.
const (
	connIdle   = iota // waiting for a request
	connActive        // reading or answering one
)

// Watch states of a call.
const (
	watchOff      = iota // no call, or the call ended
	watchArmed           // a call runs; its timer will start the watch
	watchWatching        // the timer started a read of the connection
)

// apiConn is one connection of the light loop.
type apiConn struct {
	a        *apiServer
	c        net.Conn
	who      peer
	ctx      context.Context // the calls' context: cancelled when the client goes away
	cancel   context.CancelFunc
	cr       connReader
	br       *bufio.Reader
	state    atomic.Int32
	deadline time.Time // the read deadline set, zero when none
	served   bool      // a call was answered on this connection

	wmu    sync.Mutex
	wstate int
	timer  *time.Timer
	done   chan struct{} // the watch read ended
}

// connReader reads the connection, first the byte a watch read ahead.
type connReader struct {
	c       net.Conn
	hasByte bool
	b       [1]byte
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.hasByte && len(p) > 0 {
		p[0], r.hasByte = r.b[0], false
		return 1, nil
	}
	return r.c.Read(p)
}

func (c *apiConn) serve() {
	handed := false
	defer func() {
		c.cancel()
		if c.timer != nil {
			c.timer.Stop()
		}
		if !handed {
			c.c.Close()
		}
		c.a.mu.Lock()
		delete(c.a.conns, c)
		c.a.mu.Unlock()
	}()
	for {
		c.state.Store(connIdle)
		if c.a.shutting.Load() {
			return
		}
		c.armIdle()
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		c.state.Store(connActive)
		h, ok, err := c.readHead()
		if err != nil {
			return
		}
		if !ok {
			handed = c.handOff()
			return
		}
		if !c.serveCall(h) {
			return
		}
	}
}

// armIdle bounds the wait for the next request: an idle connection is
// closed after idleTimeout to 1.5 times that (the deadline moves only
// when less than idleTimeout is left: a deadline per request would cost a
// timer update per call).
func (c *apiConn) armIdle() {
	now := time.Now()
	if c.deadline.IsZero() || c.deadline.Sub(now) < idleTimeout {
		c.setDeadline(now.Add(idleTimeout + idleTimeout/2))
	}
}

func (c *apiConn) setDeadline(t time.Time) {
	c.deadline = t
	_ = c.c.SetReadDeadline(t)
}

// callHead is what the loop needs of a call's head.
type callHead struct {
	size  int    // bytes of the head, empty line included
	name  []byte // the callable (in the read buffer: valid until the body is read)
	body  int64  // Content-Length
	close bool   // Connection: close
}

// readHead reads a request's head into the buffer and parses it. ok is
// false for a request the loop leaves to net/http; err ends the
// connection (it broke, closed or timed out).
func (c *apiConn) readHead() (h callHead, ok bool, err error) {
	// As net/http after a POST: skip the stray line ends some clients
	// send after a body.
	if p, _ := c.br.Peek(min(4, c.br.Buffered())); c.served && len(p) > 0 && (p[0] == '\r' || p[0] == '\n') {
		n := 0
		for n < len(p) && (p[n] == '\r' || p[n] == '\n') {
			n++
		}
		_, _ = c.br.Discard(n)
		if c.br.Buffered() == 0 {
			if _, err := c.br.Peek(1); err != nil {
				return h, false, err
			}
		}
	}
	armed := false
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		if end := headEnd(buf); end >= 0 {
			if armed {
				c.setDeadline(time.Time{}) // net/http reads bodies without a deadline
			}
			h, ok = parseCallHead(buf[:end])
			h.size = end
			return h, ok, nil
		}
		if len(buf) == c.br.Size() {
			return h, false, nil // a long head: net/http reads it
		}
		if !armed {
			armed = true
			c.setDeadline(time.Now().Add(readHeaderTimeout))
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			return h, false, err
		}
	}
}

// headEnd returns the length of the head at the start of buf (up to and
// including its empty line), or -1 when buf does not hold all of it.
func headEnd(buf []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(buf[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(buf) && buf[i] == '\n':
			return i + 1
		case i+1 < len(buf) && buf[i] == '\r' && buf[i+1] == '\n':
			return i + 2
		}
	}
}

// parseCallHead parses a call's head, and says false for any head that is
// not plainly one: the loop then hands the request to net/http, which
// answers it (or refuses it) by its own rules. It is stricter than net/http
// where they differ.
func parseCallHead(head []byte) (h callHead, ok bool) {
	line, rest, ok := cutCRLF(head)
	if !ok {
		return h, false
	}
	const prefix, proto = "POST /v1/call/", " HTTP/1.1"
	if !bytes.HasPrefix(line, []byte(prefix)) || !bytes.HasSuffix(line, []byte(proto)) {
		return h, false
	}
	name := line[len(prefix) : len(line)-len(proto)]
	if !plainName(name) {
		return h, false
	}
	var haveHost, haveLength bool
	for {
		line, rest, ok = cutCRLF(rest)
		if !ok {
			return h, false
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !token(line[:colon]) {
			return h, false
		}
		key, val := line[:colon], bytes.Trim(line[colon+1:], " \t")
		if !fieldValue(val) {
			return h, false
		}
		switch {
		case asciiEqualFold(key, "Content-Length"):
			if haveLength || len(val) == 0 || len(val) > 18 {
				return h, false
			}
			haveLength = true
			for _, b := range val {
				if b < '0' || b > '9' {
					return h, false
				}
				h.body = h.body*10 + int64(b-'0')
			}
		case asciiEqualFold(key, "Host"):
			if haveHost || !plainHost(val) {
				return h, false
			}
			haveHost = true
		case asciiEqualFold(key, "Connection"):
			for tok := range bytes.SplitSeq(val, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				switch {
				case asciiEqualFold(tok, "close"):
					h.close = true
				case asciiEqualFold(tok, "upgrade"):
					return h, false
				}
			}
		case asciiEqualFold(key, "Transfer-Encoding"), asciiEqualFold(key, "Expect"), asciiEqualFold(key, "Upgrade"),
			asciiEqualFold(key, "Trailer"):
			return h, false
		}
	}
	if !haveHost || len(rest) != 0 {
		return h, false
	}
	h.name = name
	return h, true
}

// cutCRLF cuts the first line (ending in CRLF; a bare LF says false).
func cutCRLF(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return nil, nil, false
	}
	return b[:i-1], b[i+1:], true
}

// plainName reports whether a callable name in a path needs no decoding
// or cleaning: letters, digits, '_', '-', '.', and not "." or "..".
func plainName(b []byte) bool {
	if len(b) == 0 || len(b) > 256 || string(b) == "." || string(b) == ".." {
		return false
	}
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// plainHost reports whether a Host value is plainly valid (a subset of
// what net/http accepts).
func plainHost(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == ':' || c == '_' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// token reports whether b is an RFC 9110 token (a header name).
func token(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return len(b) > 0
}

// fieldValue reports whether b is a valid header value: no control byte
// but tab.
func fieldValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// asciiEqualFold compares b with an ASCII string, ignoring case.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// serveCall answers one call and reports whether the connection goes on.
func (c *apiConn) serveCall(h callHead) bool {
	start := time.Now()
	s := c.a.s
	c.served = true
	keep, unread := !h.close, false
	op := outBufs.Get().(*[]byte)
	var out []byte
	g, ent, e := s.admit(c.who, h.name) // before the buffer moves
	_, _ = c.br.Discard(h.size)
	if e != nil {
		out = appendError((*op)[:0], e)
		if !c.skipBody(h.body) {
			keep, unread = false, true
		}
	} else {
		body, bp, peeked, readErr := c.readBody(h.body, g.cfg.MaxRequestBytes)
		if readErr != nil {
			keep, unread = false, errors.As(readErr, new(*http.MaxBytesError))
		}
		c.watchStart(peeked && c.br.Buffered() > len(body) || !peeked && c.br.Buffered() > 0)
		out, e = s.invoke(c.ctx, c.who, g, ent, body, readErr, start, (*op)[:0])
		c.watchStop()
		g.refs.Done()
		if peeked {
			_, _ = c.br.Discard(len(body))
		} else if bp != nil {
			putBuf(&bodyBufs, bp, body)
		}
	}
	if c.a.shutting.Load() || c.ctx.Err() != nil {
		keep = false
	}
	err := c.writeAnswer(e, out, keep)
	putBuf(&outBufs, op, out)
	if err == nil && unread {
		// As net/http: the client may still be sending the body it
		// was refused; closing at once could reset the connection
		// before it reads the answer.
		if cw, ok := c.c.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		time.Sleep(500 * time.Millisecond)
	}
	return err == nil && keep
}

// readBody reads a body of n bytes: in place in the read buffer when it
// fits (peeked; the caller discards it after use), else into a pooled
// buffer (bp, returned by the caller). A body longer than limit is not
// read: its error is an *http.MaxBytesError, and the connection ends.
func (c *apiConn) readBody(n, limit int64) (body []byte, bp *[]byte, peeked bool, err error) {
	if n > limit {
		return nil, nil, false, &http.MaxBytesError{Limit: limit}
	}
	if n > int64(c.br.Buffered()) && !c.deadline.IsZero() {
		c.setDeadline(time.Time{}) // net/http reads bodies without a deadline
	}
	if n <= int64(c.br.Size()) {
		body, err = c.br.Peek(int(n))
		if err != nil {
			return nil, nil, false, fmt.Errorf("reading the body: %w", unexpectedEOF(err))
		}
		return body, nil, true, nil
	}
	bp = bodyBufs.Get().(*[]byte)
	body = *bp
	if int64(cap(body)) < n {
		body = make([]byte, n)
	}
	body = body[:n]
	if _, err = io.ReadFull(c.br, body); err != nil {
		return nil, bp, false, fmt.Errorf("reading the body: %w", unexpectedEOF(err))
	}
	return body, bp, false, nil
}

// unexpectedEOF says that a body ended early as net/http does.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// skipBody skips an unread body to keep the connection, when it is not
// too long (as net/http does after a handler).
func (c *apiConn) skipBody(n int64) bool {
	if n > maxDiscardBody {
		return false
	}
	if n > int64(c.br.Buffered()) && !c.deadline.IsZero() {
		c.setDeadline(time.Time{})
	}
	_, err := c.br.Discard(int(n))
	return err == nil
}

// watchStart arms the watch of a call's connection; not when the client
// already sent more (a pipelined request: as net/http, no watch then).
func (c *apiConn) watchStart(pipelined bool) {
	if pipelined {
		return
	}
	c.wmu.Lock()
	c.wstate = watchArmed
	c.wmu.Unlock()
	if c.timer == nil {
		c.timer = time.AfterFunc(watchAfter, c.watch)
	} else {
		c.timer.Reset(watchAfter)
	}
}

// watch runs when a call outlasts watchAfter: it reads the connection, and
// cancels the call when the client went away. A byte read is kept for
// the next request (the client pipelined).
func (c *apiConn) watch() {
	c.wmu.Lock()
	if c.wstate != watchArmed {
		c.wmu.Unlock()
		return
	}
	c.wstate = watchWatching
	_ = c.c.SetReadDeadline(time.Time{}) // only watchStop's deadline ends this read
	c.wmu.Unlock()
	n, err := c.c.Read(c.cr.b[:])
	if n == 1 {
		c.cr.hasByte = true
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.cancel() // the client went away: the call is cancelled
	}
	c.done <- struct{}{}
}

// watchStop ends the watch of a call, waiting for its read to stop.
func (c *apiConn) watchStop() {
	if c.timer == nil {
		return
	}
	c.timer.Stop()
	c.wmu.Lock()
	st := c.wstate
	c.wstate = watchOff
	if st == watchWatching {
		_ = c.c.SetReadDeadline(aLongTimeAgo)
	}
	c.wmu.Unlock()
	if st == watchWatching {
		<-c.done
		c.setDeadline(time.Time{})
	}
}

// writeAnswer writes an answer: the head net/http would write (status,
// Content-Type, Retry-After for overload, Date, Content-Length) and body.
func (c *apiConn) writeAnswer(e *apiError, body []byte, keep bool) error {
	status := http.StatusOK
	if e != nil {
		status = e.Status
	}
	hp := headBufs.Get().(*[]byte)
	b := append((*hp)[:0], "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if t := http.StatusText(status); t != "" {
		b = append(b, t...)
	} else {
		b = strconv.AppendInt(append(b, "status code "...), int64(status), 10)
	}
	b = append(b, "\r\nContent-Type: application/json\r\n"...)
	if e.retryAfter() {
		b = append(b, "Retry-After: "+retryAfterSeconds+"\r\n"...)
	}
	if !keep {
		b = append(b, "Connection: close\r\n"...)
	}
	b = appendDate(append(b, "Date: "...))
	b = strconv.AppendInt(append(b, "\r\nContent-Length: "...), int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	var err error
	if len(body) <= maxInlineAnswer {
		b = append(b, body...)
		_, err = c.c.Write(b)
	} else {
		bufs := net.Buffers{b, body}
		_, err = bufs.WriteTo(c.c)
	}
	putBuf(&headBufs, hp, b)
	return err
}

var headBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// date is a formatted Date header value, remade once a second.
type date struct {
	sec int64
	b   []byte
}

var dateNow atomic.Pointer[date]

func appendDate(b []byte) []byte {
	now := time.Now()
	d := dateNow.Load()
	if d == nil || d.sec != now.Unix() {
		d = &date{now.Unix(), now.UTC().AppendFormat(nil, http.TimeFormat)}
		dateNow.Store(d)
	}
	return append(b, d.b...)
}

// handOff gives the connection to the net/http server, the bytes read so
// far first, and reports whether it took it.
func (c *apiConn) handOff() bool {
	c.setDeadline(time.Time{}) // net/http sets its own
	return c.a.handoff.push(&handedConn{Conn: c.c, r: c.br, who: c.who})
}

// handedConn is a connection the light loop handed to net/http: reads
// come from the loop's buffer first.
type handedConn struct {
	net.Conn
	r   io.Reader
	who peer
}

func (h *handedConn) Read(p []byte) (int, error) { return h.r.Read(p) }

// connQueue is the net/http server's listener: the connections handed
// over.
type connQueue struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue() *connQueue {
	return &connQueue{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}

// Accept returns the next connection handed over.
func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

// Close stops the queue.
func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

// Addr is a placeholder: the queue listens nowhere.
func (q *connQueue) Addr() net.Addr { return &net.UnixAddr{Name: "sandboxd-handoff", Net: "unix"} }
