package bond

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// Protocol version spoken by this package.
const protocolVersion = 1

const maxID = 1<<53 - 1

// message is one decoded, validated message from the interpreter.
type message struct {
	op       string
	id       int64
	name     string
	args     []any
	value    any
	valueRaw []byte
	err      *wireError
	fd       int64
	data     string
	version  int64
	language string
	info     string
	side     []string // ready: the side channel's parts the driver uses
	blobs    [][]byte // blobs announced by the line, to read after it
}

// wireError is the error member of an error message.
type wireError struct {
	Kind      string `json:"kind,omitempty"`
	Type      string `json:"type"`
	Message   string `json:"message"`
	Traceback string `json:"traceback,omitempty"`
	Token     string `json:"token,omitempty"`
}

// members per op, from the interpreter: required, then optional.
var driverOps = map[string][]string{
	"ready":  {"version", "language", "info"},
	"return": {"id", "value"},
	"error":  {"id", "error"},
	"call":   {"id", "name", "args"},
	"output": {"fd", "data"},
}

// lineReader reads newline-terminated lines of bounded length.
type lineReader struct {
	r   *bufio.Reader
	max int
	buf []byte
	// partial: the last call stopped at a read deadline inside a line,
	// whose beginning is in buf.
	partial bool
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next line without its newline. The slice is valid until
// the next call. A final line without a newline is an error: the peer died
// mid-message.
func (l *lineReader) next() ([]byte, error) {
	if !l.partial {
		l.buf = l.buf[:0]
	}
	l.partial = false
	for {
		chunk, err := l.r.ReadSlice('\n')
		if len(l.buf)+len(chunk) > l.max+1 {
			return nil, protocolErrorf("message longer than the limit of %d bytes", l.max)
		}
		if err == nil {
			if len(l.buf) == 0 {
				return chunk[:len(chunk)-1], nil
			}
			l.buf = append(l.buf, chunk[:len(chunk)-1]...)
			return l.buf, nil
		}
		l.buf = append(l.buf, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			l.partial = true // resumable: the next call goes on with this line
			return nil, err
		}
		if errors.Is(err, io.EOF) && len(l.buf) > 0 {
			return nil, protocolErrorf("stream ended inside a message (%d bytes)", len(l.buf))
		}
		return nil, err
	}
}

// parseMessage decodes and validates one line from the interpreter.
func parseMessage(line []byte) (*message, error) {
	return parseWith(&parser{data: line})
}

// parseMessage parses a line from b's interpreter: $handle and $blob
// tags are values there.
func (b *Bond) parseMessage(line []byte) (*message, error) {
	return parseWith(&parser{data: line, bond: b})
}

func parseWith(p *parser) (*message, error) {
	line := p.data
	v, err := p.document()
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, protocolErrorf("message is not a JSON object")
	}
	op, ok := obj["op"].(string)
	if !ok {
		return nil, protocolErrorf("message has no string member \"op\"")
	}
	members, ok := driverOps[op]
	if !ok {
		return nil, protocolErrorf("unknown op %q", truncate(op, 40))
	}
	m := &message{op: op, blobs: p.blobs}
	if op == "ready" {
		if m.side, err = getSide(obj); err != nil {
			return nil, err
		}
		delete(obj, "side") // optional
	}
	if err := checkMembers(op, obj, members); err != nil {
		return nil, err
	}
	switch op {
	case "ready":
		err = m.readReady(obj)
	case "return":
		m.value = obj["value"]
		span := p.spans["value"]
		m.valueRaw = line[span[0]:span[1]]
		m.id, err = getID(obj)
	case "error":
		if m.id, err = getID(obj); err == nil {
			m.err, err = getError(obj["error"])
		}
	case "call":
		err = m.readCall(obj)
	case "output":
		err = m.readOutput(obj)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

func checkMembers(op string, obj map[string]any, members []string) error {
	if len(obj) != len(members)+1 {
		var unknown []string
		for k := range obj {
			if k != "op" && !slices.Contains(members, k) {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return protocolErrorf("%s message has unknown member %q", op, truncate(unknown[0], 40))
		}
	}
	for _, k := range members {
		if _, ok := obj[k]; !ok {
			return protocolErrorf("%s message lacks member %q", op, k)
		}
	}
	return nil
}

func getInt(obj map[string]any, key string, lo, hi int64) (int64, error) {
	n, ok := obj[key].(int64)
	if !ok || n < lo || n > hi {
		if _, big := obj[key].(*big.Int); !ok && !big {
			return 0, protocolErrorf("member %q must be an integer", key)
		}
		return 0, protocolErrorf("member %q out of range [%d, %d]", key, lo, hi)
	}
	return n, nil
}

func getID(obj map[string]any) (int64, error) { return getInt(obj, "id", 1, maxID) }

func getString(obj map[string]any, key string) (string, error) {
	s, ok := obj[key].(string)
	if !ok {
		return "", protocolErrorf("member %q must be a string", key)
	}
	return s, nil
}

func (m *message) readReady(obj map[string]any) (err error) {
	if m.version, err = getInt(obj, "version", 0, maxID); err != nil {
		return err
	}
	if m.language, err = getString(obj, "language"); err != nil {
		return err
	}
	m.info, err = getString(obj, "info")
	return err
}

// getSide reads ready's optional side member: an array of known names.
func getSide(obj map[string]any) ([]string, error) {
	v, ok := obj["side"]
	if !ok {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok || len(list) > 2 {
		return nil, protocolErrorf("member \"side\" must be an array of at most 2 names")
	}
	var side []string
	for _, x := range list {
		s, ok := x.(string)
		if !ok || (s != "blob" && s != "fd") || slices.Contains(side, s) {
			return nil, protocolErrorf("member \"side\" has an unknown or repeated entry")
		}
		side = append(side, s)
	}
	return side, nil
}

func (m *message) readCall(obj map[string]any) (err error) {
	if m.id, err = getID(obj); err != nil {
		return err
	}
	if m.name, err = getString(obj, "name"); err != nil {
		return err
	}
	args, ok := obj["args"].([]any)
	if !ok {
		return protocolErrorf("member \"args\" must be an array")
	}
	m.args = args
	return nil
}

func (m *message) readOutput(obj map[string]any) (err error) {
	if m.fd, err = getInt(obj, "fd", 1, 2); err != nil {
		return err
	}
	m.data, err = getString(obj, "data")
	return err
}

func getError(v any) (*wireError, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, protocolErrorf("member \"error\" must be an object")
	}
	e := &wireError{}
	fields := map[string]*string{"kind": &e.Kind, "type": &e.Type, "message": &e.Message,
		"traceback": &e.Traceback, "token": &e.Token}
	for k, x := range obj {
		dst, ok := fields[k]
		if !ok {
			return nil, protocolErrorf("error object has unknown member %q", truncate(k, 40))
		}
		s, ok := x.(string)
		if !ok {
			return nil, protocolErrorf("error member %q must be a string", k)
		}
		*dst = s
	}
	for _, k := range []string{"kind", "type", "message"} {
		if _, ok := obj[k]; !ok {
			return nil, protocolErrorf("error object lacks member %q", k)
		}
	}
	if e.Kind != "exception" && e.Kind != "serialization" {
		return nil, protocolErrorf("error kind %q is neither exception nor serialization", truncate(e.Kind, 40))
	}
	return e, nil
}

// Host-side message builders. Each returns one line, newline included.

func requestLine(op string, id int64, key, text string) []byte {
	buf := make([]byte, 0, 48+len(text))
	buf = fmt.Appendf(buf, `{"op":%q,"id":%d,%q:`, op, id, key)
	buf = appendJSONString(buf, text)
	return append(buf, "}\n"...)
}

// textLine is requestLine for the caller's code or name, refused (before
// anything is sent) unless it is valid UTF-8.
func textLine(op string, id int64, key, text string) ([]byte, error) {
	if !utf8.ValidString(text) {
		return nil, localSerialization("string", "%s is not valid UTF-8: %q", key, truncate(text, 40))
	}
	return requestLine(op, id, key, text), nil
}

func (b *Bond) returnLine(id int64, v any) (*outgoing, error) {
	e := encoder{b: b, buf: make([]byte, 0, 64)}
	e.buf = fmt.Appendf(e.buf, `{"op":"return","id":%d,"value":`, id)
	err := e.value(v, 0)
	e.buf = append(e.buf, "}\n"...)
	return e.out(err)
}

func errorLine(id int64, typ, msg, token string) []byte {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	buf := fmt.Appendf(nil, `{"op":"error","id":%d,"error":{"type":`, id)
	buf = appendJSONString(buf, strings.ToValidUTF8(typ, "\uFFFD"))
	buf = append(buf, `,"message":`...)
	buf = appendJSONString(buf, msg)
	buf = append(buf, `,"token":`...)
	buf = appendJSONString(buf, token)
	return append(buf, "}}\n"...)
}
