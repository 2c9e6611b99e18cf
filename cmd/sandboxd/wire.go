package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

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

// decodeCallRequest reads a call body strictly: one object, only "args",
// an array, nothing after it. The arguments are decoded in one pass by the
// bond's type table (bond.UnmarshalValue: exact integers, valid Unicode,
// tagged bytes, "$$" escapes, no duplicate keys), so that the bond encodes
// them once for the interpreter instead of re-parsing JSON.
func decodeCallRequest(r io.Reader) ([]any, error) {
	bp := bodyBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledBody {
			bodyBufs.Put(bp)
		}
	}()
	data, err := readBody((*bp)[:0], r)
	*bp = data
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return nil, err
		}
		return nil, fmt.Errorf("reading the body: %w", err)
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

// Request bodies are read into pooled buffers (the decoded arguments copy
// what they keep).
const maxPooledBody = 64 << 10

var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

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

// encodeValue writes a value from a bond (see the bond package's type
// table) as JSON in the API's format.
func encodeValue(buf *bytes.Buffer, v any, depth int) error {
	if depth > 512 {
		return errors.New("value nested too deeply")
	}
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case int64:
		buf.WriteString(strconv.FormatInt(x, 10))
	case int:
		buf.WriteString(strconv.Itoa(x))
	case *big.Int:
		if x == nil {
			buf.WriteString("null")
		} else {
			buf.WriteString(x.String())
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%v cannot be written as JSON", x)
		}
		b := strconv.AppendFloat(nil, x, 'g', -1, 64)
		if !bytes.ContainsAny(b, ".eE") {
			b = append(b, ".0"...)
		}
		buf.Write(b)
	case string:
		return encodeString(buf, x)
	case []byte:
		buf.WriteString(`{"$bytes":"`)
		buf.WriteString(base64.StdEncoding.EncodeToString(x))
		buf.WriteString(`"}`)
	case []any:
		buf.WriteByte('[')
		for i, el := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encodeValue(buf, el, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			ek := k
			if len(x) == 1 && len(k) > 0 && k[0] == '$' {
				ek = "$" + k
			}
			if err := encodeString(buf, ek); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := encodeValue(buf, x[k], depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case json.RawMessage:
		buf.Write(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	return nil
}

func encodeString(buf *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return errors.New("string is not valid UTF-8")
	}
	buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var esc string
		switch {
		case c == '"':
			esc = `\"`
		case c == '\\':
			esc = `\\`
		case c == '\n':
			esc = `\n`
		case c == '\r':
			esc = `\r`
		case c == '\t':
			esc = `\t`
		case c < 0x20, c == '<', c == '>', c == '&': // as encoding/json escapes them
			esc = `\u00` + string(hexDigits[c>>4]) + string(hexDigits[c&0xf])
		case c == 0xe2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xa8 || s[i+2] == 0xa9): // U+2028, U+2029
			buf.WriteString(s[start:i])
			buf.WriteString(`\u202`)
			buf.WriteByte(hexDigits[s[i+2]&0xf])
			i += 2
			start = i + 1
			continue
		default:
			continue
		}
		buf.WriteString(s[start:i])
		buf.WriteString(esc)
		start = i + 1
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
	return nil
}

const hexDigits = "0123456789abcdef"
