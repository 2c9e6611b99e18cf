package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// checker walks the JSON tokens of a profile alongside the Profile type,
// reporting with their paths: unknown fields (with a suggestion), duplicate
// keys, nulls, values of the wrong type, bad durations and integers out of
// range, and then anything after the object. encoding/json alone would
// match names case-insensitively, keep the last of duplicate keys, accept
// null and name neither list indexes nor fields in Unmarshaler errors.
type checker struct {
	data  []byte
	dec   *json.Decoder
	lines bool // data is the user's file: report line numbers
	probs problems
	root  reflect.Type
	kind  string // "profile", or what StrictCheck was told

	sawVersion bool
	version    json.Token

	// Position cache for at: offsets only grow during a walk.
	lineOff, line, lineStart int64
}

var (
	durationType = reflect.TypeFor[Duration]()
	profileType  = reflect.TypeFor[Profile]()
)

func newChecker(data []byte, name string, lines bool) *checker {
	return newKindChecker(data, name, "profile", profileType, lines)
}

func newKindChecker(data []byte, name, kind string, root reflect.Type, lines bool) *checker {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	probKind := kind
	if kind == "profile" {
		probKind = "" // FieldError.Kind is empty for profiles
	}
	return &checker{data: data, dec: dec, lines: lines, probs: problems{profile: name, kind: probKind}, root: root, kind: kind}
}

// StrictCheck checks a JSON document against the Go struct type root with
// the rules profiles are read by: unknown or misspelt fields (names are
// case-sensitive; a suggestion is given), duplicate keys, nulls, values of
// the wrong type, bad durations, integers out of range, and anything after
// the object. name and kind ("config") label the document in messages;
// lines says that data is the user's own JSON text, so that positions are
// worth reporting. It returns nil or the joined [*FieldError]s, each with
// Kind set to kind. It does not decode: run it before json.Unmarshal.
func StrictCheck(data []byte, name, kind string, root reflect.Type, lines bool) error {
	return newKindChecker(data, name, kind, root, lines).run()
}

// errStop ends a walk at a syntax error, already recorded.
var errStop = errors.New("stop")

// run checks the whole input. It returns the problems found, a version
// problem alone (other fields may mean something else in another version).
func (c *checker) run() error {
	tok, err := c.dec.Token()
	if err == io.EOF {
		if c.kind != "profile" {
			return c.fatal(ErrSyntax, "the file holds no "+c.kind, "write a "+c.kind+" object: {...}")
		}
		return c.fatal(ErrSyntax, errEmpty.Error(), emptyFix)
	}
	if err != nil {
		c.syntax(err)
		return c.probs.err()
	}
	if tok != json.Delim('{') {
		c.skip(tok)
		fix := `write it as {"version": 1, "name": ...}`
		if c.kind != "profile" {
			fix = "write it as an object: {...}"
		}
		return c.fatal(ErrSyntax, "a "+c.kind+" must be an object of fields (got "+describeToken(tok)+")", fix)
	}
	if err := c.object(c.root, ""); err != nil {
		return c.probs.err()
	}
	off := c.dec.InputOffset()
	off += int64(len(c.data[off:]) - len(bytes.TrimLeft(c.data[off:], " \t\r\n")))
	if _, err := c.dec.Token(); err != io.EOF {
		return c.fatal(ErrSyntax, "unexpected data after the "+c.kind+" object"+c.at(off), "remove everything after the closing brace; a file holds one "+c.kind)
	}
	if c.root != profileType {
		return c.probs.err()
	}
	if verr := c.versionError(); verr != nil {
		return verr
	}
	return c.probs.err()
}

// fatal replaces all problems with one.
func (c *checker) fatal(cause error, problem, fix string) error {
	return &FieldError{Profile: c.probs.profile, Kind: c.probs.kind, Problem: problem, Fix: fix, Err: cause}
}

// versionError checks the top-level version seen by the walk.
func (c *checker) versionError() error {
	const fix = `set "version": 1`
	switch {
	case !c.sawVersion:
		return &FieldError{Profile: c.probs.profile, Field: "version", Problem: "missing", Fix: fix, Err: ErrVersion}
	case c.version == json.Number(strconv.Itoa(Version)):
		return nil
	}
	problem := fmt.Sprintf("this build reads version %d (got %s)", Version, describeToken(c.version))
	return &FieldError{Profile: c.probs.profile, Field: "version", Problem: problem, Fix: fix + " and write the profile for that version, or use a sandbond release that reads the newer one", Err: ErrVersion}
}

// token reads the next token inside the profile, recording a syntax
// error (the end of the input is one).
func (c *checker) token() (json.Token, error) {
	tok, err := c.dec.Token()
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		c.syntax(err)
		return nil, errStop
	}
	return tok, nil
}

// syntax records a JSON syntax error with its position.
func (c *checker) syntax(err error) {
	var se *json.SyntaxError
	off := c.dec.InputOffset()
	msg := err.Error()
	if errors.As(err, &se) {
		off = se.Offset
		msg = se.Error()
	}
	if err == io.ErrUnexpectedEOF {
		msg = "the file ends in the middle of the " + c.kind
	}
	msg = strings.TrimPrefix(msg, "json: ")
	c.probs = problems{profile: c.probs.profile, kind: c.probs.kind}
	c.probs.addErr(ErrSyntax, "", "invalid JSON"+c.at(off)+": "+msg, "fix the JSON syntax at that place (a missing comma, quote or brace?)")
}

// at formats the position of byte offset off, for JSON input.
func (c *checker) at(off int64) string {
	if !c.lines || off < 0 || off > int64(len(c.data)) {
		return ""
	}
	if off < c.lineOff || c.line == 0 {
		c.lineOff, c.line, c.lineStart = 0, 1, 0
	}
	for i, b := range c.data[c.lineOff:off] {
		if b == '\n' {
			c.line++
			c.lineStart = c.lineOff + int64(i) + 1
		}
	}
	c.lineOff = off
	return fmt.Sprintf(" at line %d, column %d", c.line, off-c.lineStart+1)
}

// object checks the members of an object whose '{' was read, as type t
// (a struct or a map with string keys) at path.
func (c *checker) object(t reflect.Type, path string) error {
	seen := map[string]bool{}
	for c.dec.More() {
		tok, err := c.token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		off := c.dec.InputOffset()
		sub := join(path, pathKey(key))
		if seen[key] {
			c.probs.add(sub, "appears twice"+c.at(off), "keep one of them")
		}
		seen[key] = true
		var ft reflect.Type
		if t.Kind() == reflect.Map {
			ft = t.Elem()
		} else if f, ok := fieldByTag(t, key); ok {
			ft = f.Type
		} else {
			fix := "remove it"
			if c.probs.full() {
				// Only counted: spare the suggestion.
			} else if s := suggest(key, fieldNames(t)); s != "" {
				fix = fmt.Sprintf("did you mean %q?", s)
			} else if e := elsewhere(key, path); e != "" && c.root == profileType {
				fix = fmt.Sprintf("it belongs elsewhere: move it to %s", e)
			} else if path == "" {
				fix += "; the fields of a " + c.kind + " are " + strings.Join(fieldNames(t), ", ")
			} else {
				fix += "; the fields of " + path + " are " + strings.Join(fieldNames(t), ", ")
			}
			c.probs.addErr(ErrUnknownField, sub, "unknown field"+c.at(off), fix)
			tok, err := c.token()
			if err != nil {
				return errStop
			}
			if err := c.skip(tok); err != nil {
				return err
			}
			continue
		}
		if path == "" && key == "version" && c.root == profileType {
			c.sawVersion = true
			tok, err := c.token()
			if err != nil {
				return errStop
			}
			c.version = tok
			if err := c.skip(tok); err != nil {
				return err
			}
			continue
		}
		if err := c.value(ft, sub, off); err != nil {
			return err
		}
	}
	_, err := c.token() // '}'
	return err
}

// value checks the next value as type t at path; off is where its key ended.
func (c *checker) value(t reflect.Type, path string, off int64) error {
	for t.Kind() == reflect.Pointer { // optional fields: null is still refused
		t = t.Elem()
	}
	tok, err := c.token()
	if err != nil {
		return err
	}
	want := describeType(t)
	mismatch := func() error {
		c.probs.add(path, "must be "+want+" (got "+describeToken(tok)+")"+c.at(off), fixFor(t, path))
		return c.skip(tok)
	}
	switch v := tok.(type) {
	case nil:
		c.probs.add(path, "is null"+c.at(off), "give it a value, or remove it for the default")
		return nil
	case json.Delim:
		switch {
		case v == '{' && (t.Kind() == reflect.Struct || t.Kind() == reflect.Map):
			return c.object(t, path)
		case v == '[' && t.Kind() == reflect.Slice:
			for i := 0; c.dec.More(); i++ {
				if err := c.value(t.Elem(), fmt.Sprintf("%s[%d]", path, i), c.dec.InputOffset()); err != nil {
					return err
				}
			}
			_, err := c.token() // ']'
			return err
		}
		return mismatch()
	case string:
		if t == durationType {
			if _, err := ParseDuration(v); err != nil {
				c.probs.add(path, fmt.Sprintf("%q is not a duration", truncate(v, 40))+c.at(off), fixFor(t, path))
			}
			return nil
		}
		if t.Kind() != reflect.String {
			return mismatch()
		}
	case bool:
		if t.Kind() != reflect.Bool {
			return mismatch()
		}
	case json.Number:
		switch t.Kind() {
		case reflect.Int, reflect.Int64:
			if t == durationType {
				return mismatch()
			}
			if _, err := strconv.ParseInt(string(v), 10, t.Bits()); err != nil {
				c.probs.add(path, "must be "+want+" (got "+truncate(string(v), 40)+")"+c.at(off), fixFor(t, path))
			}
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if _, err := strconv.ParseUint(string(v), 10, t.Bits()); err != nil {
				c.probs.add(path, "must be "+want+" (got "+truncate(string(v), 40)+")"+c.at(off), fixFor(t, path))
			}
		default:
			return mismatch()
		}
	}
	return nil
}

// skip consumes the rest of a value whose first token was read.
func (c *checker) skip(tok json.Token) error {
	if tok != json.Delim('{') && tok != json.Delim('[') {
		return nil
	}
	for depth := 1; depth > 0; {
		tok, err := c.token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// join appends key to a dotted path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldByTag finds the field of struct t whose json name is exactly key.
func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if jsonName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// fieldNames lists the json names of struct t in order.
func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if n := jsonName(t.Field(i)); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// jsonName is the name of f in files, or "" when it is not in files.
func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return f.Name
	}
	return name
}

// describeType says what a value of type t looks like in a file.
func describeType(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration string such as "5s"`
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		return "a whole number"
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		return fmt.Sprintf("a whole number from 0 to %d", uint64(1)<<t.Bits()-1)
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map:
		return "an object of names to strings"
	}
	return "an object"
}

// describeToken says what a JSON token is, for messages.
func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		if v == '[' {
			return "a list"
		}
		return "an object"
	case string:
		return "the string " + quote(v)
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return "the number " + truncate(string(v), 40)
	}
	return fmt.Sprint(tok)
}

// fixFor suggests how to write a value of type t at path.
func fixFor(t reflect.Type, path string) string {
	switch {
	case t == durationType:
		return `write it as a string with a unit, e.g. "5s", "250ms" or "10m"`
	case t.Kind() == reflect.Int64 && strings.HasSuffix(path, "_bytes"):
		return "write the size in bytes as a plain number, e.g. 268435456 for 256 MiB"
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64 || (t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64):
		return "write a whole number without quotes, e.g. 64"
	case t.Kind() == reflect.Bool:
		return "write true or false without quotes"
	case t.Kind() == reflect.String:
		return "put the value in quotes"
	case t.Kind() == reflect.Slice:
		return "write a list, e.g. [\"a\", \"b\"]"
	}
	return "write an object: {...}"
}
