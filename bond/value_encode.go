package bond

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"math/big"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bytes is a []byte that travels in the protocol's tagged bytes form
// ({"$bytes": base64}) also inside structs encoded with encoding/json.
// Plain []byte values are tagged anyway; use Bytes as a struct field type.
type Bytes []byte

// MarshalJSON writes the tagged form.
func (b Bytes) MarshalJSON() ([]byte, error) {
	out := append([]byte(`{"$bytes":"`), base64.StdEncoding.EncodeToString(b)...)
	return append(out, `"}`...), nil
}

// UnmarshalJSON reads the tagged form, or a base64 string (how
// encoding/json writes a []byte, as Decode does).
func (b *Bytes) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		var raw []byte
		if err := json.Unmarshal(data, &raw); err != nil {
			return err
		}
		*b = raw
		return nil
	}
	var tag struct {
		B []byte `json:"$bytes"`
	}
	if err := json.Unmarshal(data, &tag); err != nil {
		return err
	}
	*b = tag.B
	return nil
}

// A Ref is a quoted remote expression. Passed as a direct argument of Call,
// it is evaluated in the interpreter and the result passed as the argument:
// the value never crosses the bond (a file handle, a large object).
type Ref struct{ Code string }

// NewRef returns a Ref for a remote expression.
func NewRef(code string) Ref { return Ref{Code: code} }

const maxDepth = 10000

type encoder struct {
	buf []byte
	// b, when set, is the bond the value goes to: its handles may be
	// sent, and its side channel takes large bytes (blobs) and files.
	b     *Bond
	blobs [][]byte
	files []*os.File
}

// encodeArgs encodes call arguments; Refs are allowed only here.
func (e *encoder) encodeArgs(args []any) error {
	e.buf = append(e.buf, '[')
	for i, a := range args {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if r, ok := a.(Ref); ok {
			e.buf = append(e.buf, `{"$ref":`...)
			if err := e.str(r.Code); err != nil {
				return err
			}
			e.buf = append(e.buf, '}')
			continue
		}
		if err := e.value(a, 0); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, ']')
	return nil
}

func (e *encoder) value(v any, depth int) error {
	if depth > maxDepth {
		return localSerialization("", "value nested deeper than %d levels", maxDepth)
	}
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case bool:
		e.buf = strconv.AppendBool(e.buf, x)
	case string:
		return e.str(x)
	case int:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case int64:
		e.buf = strconv.AppendInt(e.buf, x, 10)
	case int32:
		e.buf = strconv.AppendInt(e.buf, int64(x), 10)
	case uint64:
		e.buf = strconv.AppendUint(e.buf, x, 10)
	case float64:
		return e.float(x, 64)
	case float32:
		return e.float(float64(x), 32)
	case *big.Int:
		if x == nil {
			e.buf = append(e.buf, "null"...)
		} else {
			e.buf = x.Append(e.buf, 10)
		}
	case []byte:
		e.bytes(x)
	case Bytes:
		e.bytes(x)
	case *Handle:
		return e.handle(x)
	case *os.File:
		return e.file(x)
	case Ref:
		return localSerialization("bond.Ref", "a Ref is allowed only as a direct argument of Call")
	case []any:
		e.buf = append(e.buf, '[')
		for i, el := range x {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.value(el, depth+1); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
	case map[string]any:
		members := make([]member, 0, len(x))
		for k, el := range x {
			members = append(members, member{k, el})
		}
		return e.object(members, depth)
	case json.RawMessage:
		return e.raw(x)
	case json.Marshaler:
		return e.marshaler(x)
	default:
		return e.reflectValue(reflect.ValueOf(v), depth)
	}
	return nil
}

func (e *encoder) str(s string) error {
	if !utf8.ValidString(s) {
		return localSerialization("string", "string is not valid UTF-8: %q", truncate(s, 40))
	}
	e.buf = appendJSONString(e.buf, s)
	return nil
}

func (e *encoder) float(f float64, bits int) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return localSerialization("float", "%v cannot travel: JSON has no NaN or infinity", f)
	}
	start := len(e.buf)
	e.buf = strconv.AppendFloat(e.buf, f, 'g', -1, bits)
	for _, c := range e.buf[start:] {
		if c == '.' || c == 'e' || c == 'E' {
			return nil
		}
	}
	e.buf = append(e.buf, ".0"...)
	return nil
}

func (e *encoder) bytes(b []byte) {
	if len(b) >= blobMin && e.b != nil && e.b.hasBlobs() {
		e.buf = append(e.buf, `{"$blob":`...)
		e.buf = strconv.AppendInt(e.buf, int64(len(b)), 10)
		e.buf = append(e.buf, '}')
		e.blobs = append(e.blobs, b)
		return
	}
	e.buf = append(e.buf, `{"$bytes":"`...)
	e.buf = base64.StdEncoding.AppendEncode(e.buf, b)
	e.buf = append(e.buf, `"}`...)
}

// member is one key and value of a map being encoded.
type member struct {
	key string
	val any
}

// object writes a map's members sorted by key, so that a value always
// encodes the same way (transcripts, tests, the daemon's answers), and
// escapes a lone "$" key with one more "$".
func (e *encoder) object(members []member, depth int) error {
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	e.buf = append(e.buf, '{')
	for i, m := range members {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		k := m.key
		if len(members) == 1 && len(k) > 0 && k[0] == '$' {
			k = "$" + k
		}
		if err := e.str(k); err != nil {
			return err
		}
		e.buf = append(e.buf, ':')
		if err := e.value(m.val, depth+1); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

// raw re-encodes JSON made by encoding/json, so that it follows the
// protocol's rules (tags, map escapes, strict strings).
func (e *encoder) raw(r []byte) error {
	v, err := (&parser{data: r, host: true}).document()
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), ErrProtocol.Error()+": ")
		return localSerialization("json", "invalid JSON from the Go side: %s", msg)
	}
	return e.value(v, 0)
}

func (e *encoder) marshaler(m json.Marshaler) error {
	r, err := json.Marshal(m)
	if err != nil {
		return &SerializationError{Side: Local, Type: typeName(m), Message: err.Error(), Err: err}
	}
	return e.raw(r)
}

func (e *encoder) reflectValue(rv reflect.Value, depth int) error {
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		return e.value(rv.Elem().Interface(), depth+1)
	case reflect.Bool:
		e.buf = strconv.AppendBool(e.buf, rv.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.buf = strconv.AppendInt(e.buf, rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.buf = strconv.AppendUint(e.buf, rv.Uint(), 10)
	case reflect.Float32:
		return e.float(rv.Float(), 32)
	case reflect.Float64:
		return e.float(rv.Float(), 64)
	case reflect.String:
		return e.str(rv.String())
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			e.bytes(b)
			return nil
		}
		e.buf = append(e.buf, '[')
		for i := 0; i < rv.Len(); i++ {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.value(rv.Index(i).Interface(), depth+1); err != nil {
				return err
			}
		}
		e.buf = append(e.buf, ']')
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return localSerialization(rv.Type().String(), "map keys must be strings, not %s", rv.Type().Key())
		}
		if rv.IsNil() {
			e.buf = append(e.buf, "null"...)
			return nil
		}
		members := make([]member, 0, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			members = append(members, member{it.Key().String(), it.Value().Interface()})
		}
		return e.object(members, depth)
	case reflect.Struct:
		r, err := json.Marshal(rv.Interface())
		if err != nil {
			return &SerializationError{Side: Local, Type: rv.Type().String(), Message: err.Error(), Err: err}
		}
		return e.raw(r)
	default:
		return localSerialization(rv.Type().String(), "cannot send a value of type %s", rv.Type())
	}
	return nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s (valid UTF-8) as a JSON string. Non-ASCII
// characters are written raw; U+2028/2029 are escaped for JavaScript.
func appendJSONString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func typeName(v any) string { return reflect.TypeOf(v).String() }
