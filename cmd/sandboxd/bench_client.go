package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// rawClient is bench-daemon's light HTTP/1.1 client: one kept-alive
// connection, each request written and its answer read by the calling
// goroutine (net/http's Transport hands every request to two goroutines
// of its own, which on 2 cores costs the daemon CPU the load generator
// should not take from it), with its buffers reused and the answer's head
// read for what it needs only (status, Content-Length, Connection). It is
// not safe for concurrent use.
type rawClient struct {
	socket string
	conn   net.Conn
	br     *bufio.Reader
	head   []byte // request line and headers, up to Content-Length's value
	name   string
	req    []byte // the request being written
	body   []byte // the last answer's body
}

func newRawClient(socket string) *rawClient { return &rawClient{socket: socket} }

// call posts body to the callable and returns the answer's body, valid
// until the next call; a status other than 200 is an error. A broken
// connection is redialled by the next call.
func (c *rawClient) call(ctx context.Context, name string, body []byte) ([]byte, error) {
	if c.conn == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", c.socket)
		if err != nil {
			return nil, dialError(c.socket, err)
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, 4096)
	}
	if c.head == nil || c.name != name {
		c.name = name
		c.head = []byte("POST /v1/call/" + url.PathEscape(name) + " HTTP/1.1\r\nHost: sandboxd\r\nContent-Type: application/json\r\nContent-Length: ")
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.conn.SetDeadline(dl)
	}
	req := append(c.req[:0], c.head...)
	req = strconv.AppendInt(req, int64(len(body)), 10)
	req = append(append(req, "\r\n\r\n"...), body...)
	c.req = req
	if _, err := c.conn.Write(req); err != nil {
		c.close()
		return nil, err
	}
	status, data, keep, err := c.readAnswer()
	if err != nil || !keep {
		c.close()
	}
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Kind != "" {
			eb.Error.Status = status
			return data, &eb.Error
		}
		return data, fmt.Errorf("the daemon answered %d %s", status, http.StatusText(status))
	}
	return data, nil
}

// readAnswer reads an answer with a Content-Length body (the daemon's
// answers all have one) into c.body.
func (c *rawClient) readAnswer() (status int, body []byte, keep bool, err error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, false, fmt.Errorf("not an HTTP answer: %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, false, fmt.Errorf("bad status line %q", line)
	}
	keep, length := true, -1
	for {
		line, err = c.br.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, _ := bytes.Cut(line, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case asciiEqualFold(k, "Content-Length"):
			if length, err = strconv.Atoi(string(v)); err != nil || length < 0 {
				return 0, nil, false, fmt.Errorf("bad Content-Length %q", v)
			}
		case asciiEqualFold(k, "Connection"):
			keep = !asciiEqualFold(v, "close")
		case asciiEqualFold(k, "Transfer-Encoding"):
			return 0, nil, false, errors.New("a chunked answer: the daemon sends Content-Length")
		}
	}
	if status < 200 {
		return c.readAnswer() // 100 Continue
	}
	if length < 0 {
		return 0, nil, false, errors.New("an answer without Content-Length")
	}
	if cap(c.body) < length {
		c.body = make([]byte, length)
	}
	c.body = c.body[:length]
	if _, err := io.ReadFull(c.br, c.body); err != nil {
		return 0, nil, false, err
	}
	return status, c.body, keep, nil
}

func (c *rawClient) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn, c.br = nil, nil
	}
}

// processCPU is the CPU time (user and system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
