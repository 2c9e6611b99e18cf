package main

import (
	"bufio"
	"context"
	"encoding/json"
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
// should not take from it). It is not safe for concurrent use.
type rawClient struct {
	socket string
	conn   net.Conn
	br     *bufio.Reader
	head   []byte // request line and headers, up to Content-Length's value
	name   string
}

func newRawClient(socket string) *rawClient { return &rawClient{socket: socket} }

// call posts body to the callable and returns the answer's body; a status
// other than 200 is an error. A broken connection is redialled by the next
// call.
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
	req := append(make([]byte, 0, len(c.head)+len(body)+16), c.head...)
	req = strconv.AppendInt(req, int64(len(body)), 10)
	req = append(append(req, "\r\n\r\n"...), body...)
	if _, err := c.conn.Write(req); err != nil {
		c.close()
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		c.close()
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Kind != "" {
			eb.Error.Status = resp.StatusCode
			return data, &eb.Error
		}
		return data, fmt.Errorf("the daemon answered %s", resp.Status)
	}
	return data, nil
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
