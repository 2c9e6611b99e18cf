package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/sandbond/sandbond/bond"
)

// The API's wire format (see api.go for the endpoints).
//
// Request body of POST /v1/call/{callable}:
//
//	{"args": [ARG, ...]}
//
// Arguments and results are JSON by the bond's type table: integers of any
// size stay exact, bytes travel as {"$bytes": "BASE64"}, and an object
// with a single key starting with "$" has that key escaped with one more
// "$" (as in the bond protocol).
//
// Success: 200 {"result": VALUE}. Failure: an HTTP error status and
//
//	{"error": {"kind": KIND, "message": "...", "type": "...", "language": "...",
//	           "traceback": "...", "limit": "...", "syscall": "..."}}
//
// with the optional fields present when they apply.

// callRequest is the body of a call.
type callRequest struct {
	Args []json.RawMessage `json:"args"`
}

// callResponse is the body of a successful call.
type callResponse struct {
	Result json.RawMessage `json:"result"`
}

// errorBody is the body of a failed request.
type errorBody struct {
	Error apiError `json:"error"`
}

// apiError is a typed error as the API reports it.
type apiError struct {
	Status    int    `json:"-"`
	Kind      string `json:"kind"`
	Message   string `json:"message"`
	Type      string `json:"type,omitempty"`
	Language  string `json:"language,omitempty"`
	Traceback string `json:"traceback,omitempty"`
	Limit     string `json:"limit,omitempty"`
	Syscall   string `json:"syscall,omitempty"`
}

// Error formats the error as "KIND: [TYPE: ]MESSAGE", as sandboxd call prints it.
func (e *apiError) Error() string {
	s := e.Kind + ": " + e.Message
	if e.Type != "" && e.Kind == kindRemote {
		s = fmt.Sprintf("%s: %s: %s", e.Kind, e.Type, e.Message)
	}
	return s
}

// decodeCallRequest decodes a call body strictly: one object, only
// "args", an array, nothing after it. The arguments are decoded in one
// pass by the bond's type table (bond.UnmarshalValue: exact integers,
// valid Unicode, tagged bytes, "$$" escapes, no duplicate keys), so that
// the bond encodes them once for the interpreter instead of re-parsing
// JSON. The decoded values do not refer to data.
func decodeCallRequest(data []byte) ([]any, error) {
	if args, ok := decodeArgsFast(data); ok {
		return args, nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New(`empty body; send {"args": [...]}`)
	}
	v, err := bond.UnmarshalValue(data)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), bond.ErrProtocol.Error()+": ")
		if strings.Contains(msg, "unexpected data after the JSON value") {
			return nil, errors.New("unexpected data after the JSON object")
		}
		return nil, fmt.Errorf(`body is not {"args": [...]}: %s`, msg)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New(`body is not {"args": [...]}: not a JSON object`)
	}
	for k := range obj {
		if k != "args" {
			return nil, fmt.Errorf(`body is not {"args": [...]}: unknown field %q`, k)
		}
	}
	switch a := obj["args"].(type) {
	case nil:
		return nil, nil
	case []any:
		return a, nil
	}
	return nil, errors.New(`body is not {"args": [...]}: "args" must be an array`)
}

// decodeArgsFast decodes the common body {"args":ARRAY} (whitespace
// allowed around ARRAY and after the object) without building the
// enclosing object. Anything else, including every malformed body, is
// left to the general path, which explains the problem.
func decodeArgsFast(data []byte) ([]any, bool) {
	const prefix = `{"args":`
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return nil, false
	}
	rest := bytes.TrimRight(data[len(prefix):], " \t\r\n")
	if len(rest) == 0 || rest[len(rest)-1] != '}' {
		return nil, false
	}
	inner := bytes.TrimSpace(rest[:len(rest)-1])
	if len(inner) == 0 || inner[0] != '[' {
		return nil, false
	}
	v, err := bond.UnmarshalValue(inner)
	if err != nil {
		return nil, false // e.g. [1],"args":[2]: the general path says why
	}
	a, ok := v.([]any)
	return a, ok
}

// Request bodies and answers are built in pooled buffers (the decoded
// arguments copy what they keep).
const maxPooledBody = 64 << 10

var (
	bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
	outBufs  = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}
)

// putBuf returns a buffer to its pool, as grown to b, unless it grew too
// large to keep.
func putBuf(pool *sync.Pool, bp *[]byte, b []byte) {
	if cap(b) <= maxPooledBody {
		*bp = b[:0]
		pool.Put(bp)
	}
}

// readBody appends all of r to buf.
func readBody(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
