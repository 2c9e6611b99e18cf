package bond

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// parser decodes one JSON text from the interpreter into the bond's value
// model (see the package documentation), strictly: it rejects invalid
// UTF-8, lone surrogates, duplicate keys, unknown tags, non-finite floats
// and nesting deeper than maxDepth. Errors wrap ErrProtocol.
type parser struct {
	data  []byte
	pos   int
	depth int
	// spans records, for the members of the top-level object, where each
	// member's value starts and ends in data.
	spans map[string][2]int
	// host marks JSON produced on the Go side (json.Marshaler): only
	// $bytes is a tag there; other "$" keys are plain data.
	host bool
	// bond, when set, accepts $handle (bound to it) and, if its side
	// channel carries blobs, $blob: blobs collects those to read.
	bond      *Bond
	blobs     [][]byte
	blobTotal int64
}

// decodeValue decodes a complete JSON text.
//
//lint:ignore U1000 the decoder's entry point for tests and fuzzing
func decodeValue(data []byte) (any, error) {
	p := &parser{data: data}
	return p.document()
}

func (p *parser) document() (any, error) {
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, p.errorf("unexpected data after the JSON value")
	}
	return v, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrProtocol, p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() (any, error) {
	p.space()
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case p.literal("true"):
		return true, nil
	case p.literal("false"):
		return false, nil
	case p.literal("null"):
		return nil, nil
	default:
		return nil, p.errorf("unexpected character %q", c)
	}
}

func (p *parser) literal(word string) bool {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return true
	}
	return false
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf("nesting deeper than %d", maxDepth)
	}
	return nil
}

func (p *parser) object() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	top := p.depth == 1
	p.pos++ // '{'
	m := map[string]any{}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		p.depth--
		return m, nil
	}
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("expected a string key")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("expected ':'")
		}
		p.pos++
		p.space()
		start := p.pos
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, p.errorf("duplicate key %q", truncate(k, 40))
		}
		m[k] = v
		if top {
			if p.spans == nil {
				p.spans = map[string][2]int{}
			}
			p.spans[k] = [2]int{start, p.pos}
		}
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unterminated object")
		}
		if p.data[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.data[p.pos] != '}' {
			return nil, p.errorf("expected ',' or '}'")
		}
		p.pos++
		break
	}
	p.depth--
	if len(m) == 1 && (!top || p.host) { // JSON from the Go side is a value even at the top
		for k, v := range m {
			if len(k) > 0 && k[0] == '$' {
				return p.tag(k, v)
			}
		}
	}
	return m, nil
}

// tag interprets a single-member object whose key starts with "$".
func (p *parser) tag(k string, v any) (any, error) {
	switch {
	case k == "$bytes" && (!p.host || isString(v)):
		s, ok := v.(string)
		if !ok {
			return nil, p.errorf("$bytes needs a base64 string")
		}
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, p.errorf("$bytes: %v", err)
		}
		return b, nil
	case k == "$blob" && p.bond != nil && p.bond.hasBlobs():
		return p.blob(v)
	case k == "$handle" && p.bond != nil:
		n, ok := v.(int64)
		if !ok || n < 1 || n > maxID {
			return nil, p.errorf("$handle needs an integer key from 1 to 2^53-1")
		}
		return p.bond.newHandle(n), nil
	case len(k) > 1 && k[1] == '$' && !p.host:
		return map[string]any{k[1:]: v}, nil
	case p.host:
		return map[string]any{k: v}, nil
	default:
		return nil, p.errorf("unknown tag %q", truncate(k, 40))
	}
}

// blob allocates the bytes a $blob tag announces; they are read from the
// blob pipe once the line is parsed.
func (p *parser) blob(v any) (any, error) {
	n, ok := v.(int64)
	if !ok || n < 0 {
		return nil, p.errorf("$blob needs a non-negative integer size")
	}
	if limit := p.bond.opts.MaxBlobBytes; n > limit-p.blobTotal {
		return nil, p.errorf("blobs of more than %d bytes in one message", limit)
	}
	p.blobTotal += n
	b := make([]byte, n)
	p.blobs = append(p.blobs, b)
	return b, nil
}

func (p *parser) array() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	p.pos++ // '['
	a := []any{}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		p.depth--
		return a, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unterminated array")
		}
		if p.data[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.data[p.pos] != ']' {
			return nil, p.errorf("expected ',' or ']'")
		}
		p.pos++
		break
	}
	p.depth--
	return a, nil
}

func (p *parser) str() (string, error) {
	p.pos++ // '"'
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := p.data[start:p.pos]
			if !utf8.Valid(s) {
				return "", p.errorf("string is not valid UTF-8")
			}
			p.pos++
			return string(s), nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.errorf("control character in string")
		}
		p.pos++
	}
	buf := append([]byte(nil), p.data[start:p.pos]...)
	for {
		if p.pos >= len(p.data) {
			return "", p.errorf("unterminated string")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			if !utf8.Valid(buf) {
				return "", p.errorf("string is not valid UTF-8")
			}
			return string(buf), nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.data) {
			return "", p.errorf("unterminated escape")
		}
		e := p.data[p.pos+1]
		p.pos += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, err := p.unicodeEscape()
			if err != nil {
				return "", err
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.errorf("bad escape \\%c", e)
		}
	}
}

// unicodeEscape reads the XXXX of \uXXXX (already past "\u"), pairing
// surrogates; a lone surrogate is an error.
func (p *parser) unicodeEscape() (rune, error) {
	r, ok := p.hex4()
	if !ok {
		return 0, p.errorf("bad \\u escape")
	}
	if !utf16.IsSurrogate(r) {
		return r, nil
	}
	if r >= 0xDC00 || p.pos+1 >= len(p.data) || p.data[p.pos] != '\\' || p.data[p.pos+1] != 'u' {
		return 0, p.errorf("lone surrogate \\u%04x", r)
	}
	p.pos += 2
	r2, ok := p.hex4()
	if !ok {
		return 0, p.errorf("bad \\u escape")
	}
	if r2 < 0xDC00 || r2 > 0xDFFF {
		return 0, p.errorf("lone surrogate \\u%04x", r)
	}
	return utf16.DecodeRune(r, r2), nil
}

func (p *parser) hex4() (rune, bool) {
	if len(p.data)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

func (p *parser) digits() int {
	n := 0
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
		n++
	}
	return n
}

func (p *parser) number() (any, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	intStart := p.pos
	n := p.digits()
	if n == 0 || (n > 1 && p.data[intStart] == '0') {
		return nil, p.errorf("malformed number")
	}
	isFloat := false
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if p.digits() == 0 {
			return nil, p.errorf("malformed number")
		}
		isFloat = true
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if p.digits() == 0 {
			return nil, p.errorf("malformed number")
		}
		isFloat = true
	}
	text := string(p.data[start:p.pos])
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsInf(f, 0) {
			return nil, p.errorf("float %s out of range", truncate(text, 40))
		}
		return f, nil
	}
	if i, err := strconv.ParseInt(text, 10, 64); err == nil {
		return i, nil
	}
	if len(text) > 100000 {
		return nil, p.errorf("integer with more than 100000 digits")
	}
	b, ok := new(big.Int).SetString(text, 10)
	if !ok {
		return nil, p.errorf("malformed integer")
	}
	return b, nil
}

func isString(v any) bool { _, ok := v.(string); return ok }
