package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

func callVerb() verb {
	return verb{name: "call", summary: "call a callable of a running daemon and print the result as JSON", run: runCall}
}

const callHelp = `usage: sandboxd call [-socket PATH] [-timeout D] CALLABLE [JSON-ARG...]
       sandboxd call [-socket PATH] -list

Calls CALLABLE on the daemon listening on the socket with the arguments,
each one JSON value (quote strings for the shell: '"text"'; bytes are
{"$bytes": "BASE64"}), and prints the result as JSON. On error it prints
the error's kind and message and exits 1. -list prints the callables this
user may call.

flags:
`

func runCall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("call", callHelp, stderr)
	socket := fs.String("socket", defaultSocket(), "the daemon's socket `path` (default $SANDBOXD_SOCKET, else "+defaultSocketPath+")")
	timeout := fs.Duration("timeout", 0, "give up after this `duration` (0: wait for the daemon's answer)")
	list := fs.Bool("list", false, "list the callables this user may call")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	c := newClient(*socket)
	if *list {
		if fs.NArg() > 0 {
			fmt.Fprintln(stderr, "sandboxd call: -list takes no arguments")
			return errUsage
		}
		out, err := c.get(ctx, "/v1/callables")
		if err != nil {
			return err
		}
		_, err = stdout.Write(out)
		return err
	}
	if fs.NArg() < 1 {
		fmt.Fprintln(stderr, "sandboxd call: name a callable; fix: sandboxd call CALLABLE [JSON-ARG...] (sandboxd call -list shows them)")
		return errUsage
	}
	callArgs := make([]json.RawMessage, 0, fs.NArg()-1)
	for i, a := range fs.Args()[1:] {
		if !json.Valid([]byte(a)) {
			fmt.Fprintf(stderr, "sandboxd call: argument %d (%.40q) is not JSON; fix: quote strings for the shell, e.g. '\"text\"'\n", i+1, a)
			return errUsage
		}
		callArgs = append(callArgs, json.RawMessage(a))
	}
	res, err := c.call(ctx, fs.Arg(0), callArgs)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", res)
	return err
}

// defaultSocket is $SANDBOXD_SOCKET, else the default socket path.
func defaultSocket() string {
	if s := os.Getenv("SANDBOXD_SOCKET"); s != "" {
		return s
	}
	return defaultSocketPath
}

// client is a Go client of the daemon's API.
type client struct {
	socket string
	http   *http.Client
}

// newClient returns a client that keeps its connections to the daemon
// alive and reuses them (the daemon serves any number of requests per
// connection).
func newClient(socket string) *client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true, // the daemon never compresses: no Accept-Encoding, no gzip reader
	}
	return &client{socket: socket, http: &http.Client{Transport: tr}}
}

// call calls a callable; the result is its JSON. An error answer is an
// *apiError.
func (c *client) call(ctx context.Context, name string, args []json.RawMessage) (json.RawMessage, error) {
	body := []byte(`{"args":[`)
	for i, a := range args {
		if !json.Valid(a) {
			return nil, fmt.Errorf("argument %d is not JSON", i+1)
		}
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, a...)
	}
	body = append(body, "]}"...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://sandboxd/v1/call/"+url.PathEscape(name), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header["Content-Type"] = []string{"application/json"}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// Read to the end, so that the connection is reused.
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	// The daemon writes {"result":VALUE} and a newline: take VALUE as
	// it is; anything else goes through the JSON decoder.
	if v, ok := bytes.CutPrefix(bytes.TrimRight(data, "\n"), []byte(`{"result":`)); ok && bytes.HasSuffix(v, []byte("}")) && json.Valid(v[:len(v)-1]) {
		return json.RawMessage(v[:len(v)-1]), nil
	}
	var out callResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	return out.Result, nil
}

// do sends req and returns a 200 response; any other status becomes the
// daemon's error, a failed dial an error that names the socket.
func (c *client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, dialError(c.socket, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, responseError(resp)
	}
	return resp, nil
}

// get fetches a GET endpoint's body.
func (c *client) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://sandboxd"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}

// responseError reads an error body into an *apiError.
func responseError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb errorBody
	if err := json.Unmarshal(data, &eb); err != nil || eb.Error.Kind == "" {
		return fmt.Errorf("the daemon answered %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	eb.Error.Status = resp.StatusCode
	return &eb.Error
}

// dialError explains a failure to reach the daemon.
func dialError(socket string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no daemon socket at %s; fix: start sandboxd serve, or give -socket PATH", socket)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("no permission to connect to %s; fix: run as a user in the socket's group (socket.group in the config)", socket)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer in time: %w", err)
	}
	var ne *net.OpError
	if errors.As(err, &ne) && ne.Op == "dial" {
		return fmt.Errorf("cannot connect to %s: %v; fix: start sandboxd serve, or give -socket PATH", socket, ne.Err)
	}
	return err
}
