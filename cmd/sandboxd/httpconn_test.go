package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// rawExchange writes raw requests on one connection and reads as many
// answers.
func rawExchange(t *testing.T, socket string, n int, raw string) []*http.Response {
	t.Helper()
	conn, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	var out []*http.Response
	for i := 0; i < n; {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if resp.StatusCode < 200 { // 100 Continue
			continue
		}
		i++
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		out = append(out, resp)
	}
	return out
}

func bodyOf(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

func post(name, body, extra string) string {
	return fmt.Sprintf("POST /v1/call/%s HTTP/1.1\r\nHost: sandboxd\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s", name, extra, len(body), body)
}

// headOf is the head of a raw request, its empty line included.
func headOf(raw string) string {
	head, _, _ := strings.Cut(raw, "\r\n\r\n")
	return head + "\r\n\r\n"
}

// TestParseCallHead: the plain heads of calls are the light loop's, with
// the name, body length and close flag net/http would read; the others go
// to net/http.
func TestParseCallHead(t *testing.T) {
	for _, c := range []struct {
		head  string
		ok    bool
		name  string
		body  int64
		close bool
	}{
		{headOf(post("echo", `{"args":[1]}`, "")), true, "echo", 12, false},
		{headOf(post("echo", "", "")), true, "echo", 0, false},
		{headOf(post("a.b-c_d", `{}`, "Connection: close\r\n")), true, "a.b-c_d", 2, true},
		{headOf(post("x", `{}`, "Connection: keep-alive\r\n")), true, "x", 2, false},
		{"POST /v1/call/decode HTTP/1.1\r\nhost: sandboxd\r\ncontent-length: 007 \r\n\r\n", true, "decode", 7, false},
		{"POST /v1/call/x HTTP/1.1\r\nHost: sandboxd\r\n\r\n", true, "x", 0, false},
		{"POST /v1/call/x HTTP/1.1\r\nHost: sandboxd\r\nTransfer-Encoding: chunked\r\n\r\n", false, "", 0, false},
		{"POST /v1/call/x HTTP/1.1\r\nHost sandboxd\r\nContent-Length: 2\r\n\r\n", false, "", 0, false},
		{"POST /v1/call/x HTTP/1.1\nHost: sandboxd\nContent-Length: 2\n\n", false, "", 0, false},
		{"POST /v1/call/x HTTP/1.1\r\nContent-Length: 2\r\n\r\n", false, "", 0, false},
		{"POST /v1/call/x HTTP/1.1\r\nHost: sandboxd\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false, "", 0, false},
		{"POST /v1/call/%2e%2e HTTP/1.1\r\nHost: sandboxd\r\nContent-Length: 2\r\n\r\n", false, "", 0, false},
		{"GET /v1/call/x HTTP/1.1\r\nHost: sandboxd\r\n\r\n", false, "", 0, false},
	} {
		h, ok := parseCallHead([]byte(c.head))
		if ok != c.ok {
			t.Errorf("%q: ok %v, want %v", c.head, ok, c.ok)
			continue
		}
		if ok && (string(h.name) != c.name || h.body != c.body || h.close != c.close) {
			t.Errorf("%q: name %q body %d close %v, want %q %d %v", c.head, h.name, h.body, h.close, c.name, c.body, c.close)
		}
	}
}

// TestLightLoopMatchesNetHTTP sends the same calls down the light loop and
// down net/http (a chunked body makes the loop hand the connection over)
// and compares the answers: status, headers but Date, body.
func TestLightLoopMatchesNetHTTP(t *testing.T) {
	d := startDaemon(t, fakeConfig, fakeFactory)
	for _, c := range []struct{ name, body string }{
		{"echo", `{"args":["hi",{"$bytes":"aGk="},123456789012345678901234567890]}`},
		{"echo", `{"args": [1] }`},
		{"count", `{}`},
		{"raise", `{"args":[]}`},
		{"overload", `{"args":[]}`},
		{"memory", `{"args":[]}`},
		{"seccomp", `{"args":[]}`},
		{"timeout", `{"args":[]}`},
		{"die", `{"args":[]}`},
		{"echo", `{"args":[1,}`},
		{"echo", `{"args":[1],"args":[2]}`},
		{"echo", `{"args":[]} {}`},
		{"echo", `{"args":{"a":1}}`},
		{"echo", ``},
		{"nope", `{"args":[]}`},
	} {
		plain := post(c.name, c.body, "")
		light := rawExchange(t, d.socket, 1, plain)[0]
		chunked := fmt.Sprintf("POST /v1/call/%s HTTP/1.1\r\nHost: sandboxd\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", c.name, len(c.body), c.body)
		if c.body == "" {
			chunked = fmt.Sprintf("POST /v1/call/%s HTTP/1.1\r\nHost: sandboxd\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", c.name)
		}
		// The plain request is one the light loop answers, the chunked one
		// one it hands to net/http.
		if _, ok := parseCallHead([]byte(headOf(plain))); !ok {
			t.Errorf("%s %s: the light loop leaves the plain request to net/http", c.name, c.body)
		}
		if _, ok := parseCallHead([]byte(headOf(chunked))); ok {
			t.Errorf("%s %s: the light loop takes the chunked request", c.name, c.body)
		}
		std := rawExchange(t, d.socket, 1, chunked)[0]
		lb, sb := bodyOf(light), bodyOf(std)
		if light.StatusCode != std.StatusCode || lb != sb {
			t.Errorf("%s %s: light loop %d %q, net/http %d %q", c.name, c.body, light.StatusCode, lb, std.StatusCode, sb)
		}
		light.Header.Del("Date")
		std.Header.Del("Date")
		if fmt.Sprint(light.Header) != fmt.Sprint(std.Header) {
			t.Errorf("%s %s: headers %v, net/http %v", c.name, c.body, light.Header, std.Header)
		}
		if light.Status != std.Status {
			t.Errorf("status line %q, net/http %q", light.Status, std.Status)
		}
	}
}

// TestLightLoopConnection covers the connection's life: keep-alive,
// pipelining, a hand-over after calls, Connection: close, a body too
// large, a malformed head.
func TestLightLoopConnection(t *testing.T) {
	d := startDaemon(t, fakeConfig, fakeFactory)
	t.Run("pipelined and handed over", func(t *testing.T) {
		raw := post("echo", `{"args":[1]}`, "") + post("echo", `{"args":[2]}`, "") + "\r\n" + // a stray CRLF after a POST body
			"GET /healthz HTTP/1.1\r\nHost: sandboxd\r\n\r\n" + post("echo", `{"args":[3]}`, "")
		rs := rawExchange(t, d.socket, 4, raw)
		for i, want := range []string{`{"result":1}`, `{"result":2}`, `{"status":"ok"}`, `{"result":3}`} {
			if got := strings.TrimSpace(bodyOf(rs[i])); got != want || rs[i].StatusCode != 200 {
				t.Errorf("answer %d: %d %s, want %s", i, rs[i].StatusCode, got, want)
			}
		}
	})
	t.Run("expect continue", func(t *testing.T) {
		raw := post("echo", `{"args":[5]}`, "Expect: 100-continue\r\n")
		rs := rawExchange(t, d.socket, 1, raw)
		if got := strings.TrimSpace(bodyOf(rs[0])); got != `{"result":5}` {
			t.Errorf("expect: %d %s", rs[0].StatusCode, got)
		}
	})
	t.Run("connection close", func(t *testing.T) {
		conn, err := net.Dial("unix", d.socket)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(conn, post("echo", `{"args":[1]}`, "Connection: close\r\n"))
		all, err := io.ReadAll(conn) // ends: the daemon closed
		if err != nil || !strings.Contains(string(all), "Connection: close") || !strings.HasSuffix(string(all), `{"result":1}`+"\n") {
			t.Errorf("close: %v %q", err, all)
		}
	})
	t.Run("too large", func(t *testing.T) {
		conn, err := net.Dial("unix", d.socket)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(conn, "POST /v1/call/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"args\":[\"")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		if b := bodyOf(resp); resp.StatusCode != 413 || !resp.Close || !strings.Contains(b, "max_request_bytes") {
			t.Errorf("too large: %d close=%v %s", resp.StatusCode, resp.Close, b)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		for _, raw := range []string{
			"POST /v1/call/echo HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\nContent-Length: 2\r\n\r\n{}",
			"POST /v1/call/echo HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", // no Host
			"POST /v1/call/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
		} {
			rs := rawExchange(t, d.socket, 1, raw)
			if rs[0].StatusCode != 400 {
				t.Errorf("%q: %d %s", raw, rs[0].StatusCode, bodyOf(rs[0]))
			}
		}
		// Bare line feeds: net/http's leniency, through the hand-over.
		rs := rawExchange(t, d.socket, 1, "POST /v1/call/echo HTTP/1.1\nHost: x\nContent-Length: 12\n\n{\"args\":[9]}")
		if got := strings.TrimSpace(bodyOf(rs[0])); got != `{"result":9}` {
			t.Errorf("bare LF: %d %s", rs[0].StatusCode, got)
		}
		// A long head (past the loop's buffer) is read by net/http.
		rs = rawExchange(t, d.socket, 1, post("echo", `{"args":[8]}`, "X-Pad: "+strings.Repeat("p", 6000)+"\r\n"))
		if got := strings.TrimSpace(bodyOf(rs[0])); got != `{"result":8}` {
			t.Errorf("long head: %d %s", rs[0].StatusCode, got)
		}
	})
}

// TestLightLoopClientGone: a client that goes away during a long call
// cancels it (the fake sleep would take 300 ms), as net/http does.
func TestLightLoopClientGone(t *testing.T) {
	d := startDaemon(t, fakeConfig, fakeFactory)
	conn := sleepingCall(t, d.socket)
	start := time.Now()
	conn.Close()
	for !strings.Contains(metricsText(d), `sandboxd_calls_total{callable="sleep",outcome="canceled"} 1`) {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("the call was not cancelled:\n%s", metricsText(d))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// (A call that was not cancelled would end "ok", with "slept".)
	// A call that outlasts the watch and whose client stays is answered,
	// and the connection serves the next call.
	rs := rawExchange(t, d.socket, 2, post("sleep", `{"args":[]}`, "")+post("echo", `{"args":[1]}`, ""))
	if a, b := strings.TrimSpace(bodyOf(rs[0])), strings.TrimSpace(bodyOf(rs[1])); a != `{"result":"slept"}` || b != `{"result":1}` {
		t.Errorf("after a watched call: %s %s", a, b)
	}
	conn, err := net.Dial("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(conn)
	for i := range 3 {
		_, _ = io.WriteString(conn, post("sleep", `{"args":[]}`, ""))
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("watched call %d on one connection: %v", i, err)
		}
		if b := strings.TrimSpace(bodyOf(resp)); b != `{"result":"slept"}` {
			t.Errorf("watched call %d: %s", i, b)
		}
	}
}

// TestLightLoopShutdown: a call in progress is answered, then every
// connection is closed.
func TestLightLoopShutdown(t *testing.T) {
	d := startDaemon(t, fakeConfig, fakeFactory)
	idle, err := net.Dial("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	rs := rawExchange(t, d.socket, 1, post("echo", `{"args":[1]}`, ""))
	if rs[0].StatusCode != 200 {
		t.Fatal(rs[0].Status)
	}
	busy := sleepingCall(t, d.socket)
	d.cancel() // SIGTERM: drain, then shut the API server down
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := strings.TrimSpace(bodyOf(resp)); resp.StatusCode != 200 || b != `{"result":"slept"}` {
		t.Errorf("call in progress at shutdown: %d %s", resp.StatusCode, b)
	}
	for _, c := range []net.Conn{idle, busy} {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("connection still open after shutdown (%d)", n)
		}
	}
}

// sleepingCall sends a call to the "sleep" callable on a connection of its
// own and gives it time to start.
func sleepingCall(t *testing.T, socket string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	_, _ = io.WriteString(c, post("sleep", `{"args":[]}`, ""))
	time.Sleep(50 * time.Millisecond)
	return c
}

func metricsText(d *testDaemon) string {
	rec := httptest.NewRecorder()
	d.srv.metrics.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// TestAPIServerShutdown: Shutdown while a call runs lets it finish, its
// answer says Connection: close, and Shutdown returns once the connection
// is gone; idle connections are closed at once; later dials fail.
func TestAPIServerShutdown(t *testing.T) {
	dir := publicTempDir(t)
	cfg := &config{SocketPath: dir + "/s.sock", SocketMode: 0o600, SocketGID: -1, MaxRequestBytes: defaultMaxRequestBytes,
		DrainTimeout: 5 * time.Second, Callables: []*callable{{Name: "sleep", Function: "sleep"}}}
	s, err := newServer(t.Context(), cfg, discardLogger(), fakeFactory)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", cfg.SocketPath)
	if err != nil {
		t.Fatal(err)
	}
	api := newAPIServer(s, discardLogger())
	served := make(chan error, 1)
	go func() { served <- api.Serve(ln) }()
	idle, err := net.Dial("unix", cfg.SocketPath)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy := sleepingCall(t, cfg.SocketPath)
	shut := make(chan error, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	go func() { shut <- api.Shutdown(ctx) }()
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b := strings.TrimSpace(bodyOf(resp)); resp.StatusCode != 200 || b != `{"result":"slept"}` || !resp.Close {
		t.Errorf("call in progress at shutdown: %d %s close=%v", resp.StatusCode, b, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-served:
		if err != http.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Serve did not return after Shutdown")
	}
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil {
		t.Error("idle connection open after Shutdown")
	}
	if c, err := net.Dial("unix", cfg.SocketPath); err == nil {
		c.Close()
		t.Error("dial after Shutdown")
	}
	s.drain(time.Second)
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
