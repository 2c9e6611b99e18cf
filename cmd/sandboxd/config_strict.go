package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/sandbond/sandbond/policy"
)

// strictCheck walks the JSON tokens of data alongside type t and reports,
// with their dotted paths, unknown fields (with a suggestion), duplicate
// keys, nulls and values of the wrong type: encoding/json alone matches
// names case-insensitively, keeps the last of duplicate keys and accepts
// null. lines says whether data is the user's own text (so that line
// numbers mean something).
func strictCheck(data []byte, t reflect.Type, lines bool) []error {
	c := &strictChecker{data: data, lines: lines, dec: json.NewDecoder(bytes.NewReader(data))}
	c.dec.UseNumber()
	tok, err := c.dec.Token()
	if err == io.EOF {
		return []error{&configError{Problem: "the file is empty", Fix: `write a config: {"version": 1, "callables": [...]}`}}
	}
	if err != nil {
		return []error{c.syntax(err)}
	}
	if tok != json.Delim('{') {
		return []error{&configError{Problem: "a config must be an object of fields", Fix: `write it as {"version": 1, "callables": [...]}`}}
	}
	if err := c.object(t, ""); err != nil {
		return append(c.errs, err)
	}
	if _, err := c.dec.Token(); err != io.EOF {
		c.errs = append(c.errs, &configError{Problem: "unexpected data after the config object", Fix: "remove everything after the closing brace"})
	}
	return c.errs
}

type strictChecker struct {
	data  []byte
	lines bool
	dec   *json.Decoder
	errs  []error
}

var durationType = reflect.TypeFor[policy.Duration]()

func (c *strictChecker) at() string {
	if !c.lines {
		return ""
	}
	off := min(int(c.dec.InputOffset()), len(c.data))
	return fmt.Sprintf(" (line %d)", bytes.Count(c.data[:off], []byte("\n"))+1)
}

func (c *strictChecker) syntax(err error) error {
	var se *json.SyntaxError
	line := ""
	if errors.As(err, &se) && c.lines {
		off := min(int(se.Offset), len(c.data))
		line = fmt.Sprintf(" at line %d", bytes.Count(c.data[:off], []byte("\n"))+1)
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &configError{Problem: "the file ends in the middle of the config", Fix: "close every brace and bracket"}
	}
	return &configError{Problem: "not valid JSON" + line + ": " + strings.TrimPrefix(err.Error(), "json: "), Fix: "fix the syntax at the place named"}
}

func (c *strictChecker) token() (json.Token, error) {
	tok, err := c.dec.Token()
	if err != nil {
		return nil, c.syntax(err)
	}
	return tok, nil
}

// object checks the fields of an object of struct type t, after its '{'.
func (c *strictChecker) object(t reflect.Type, path string) error {
	seen := map[string]bool{}
	for {
		tok, err := c.token()
		if err != nil {
			return err
		}
		if tok == json.Delim('}') {
			return nil
		}
		key := tok.(string)
		p := joinPath(path, key)
		if seen[key] {
			c.errs = append(c.errs, &configError{Field: p, Problem: "appears twice" + c.at(), Fix: "keep one of them"})
		}
		seen[key] = true
		var ft reflect.Type
		if t.Kind() == reflect.Map {
			ft = t.Elem()
		} else if f, ok := fieldByJSONName(t, key); ok {
			ft = f.Type
		} else {
			fix := "remove it; the fields here are " + strings.Join(jsonFieldNames(t), ", ")
			if s := suggestName(key, jsonFieldNames(t)); s != "" {
				fix = fmt.Sprintf("did you mean %q?", s)
			}
			c.errs = append(c.errs, &configError{Field: p, Problem: "unknown field" + c.at(), Fix: fix})
		}
		if err := c.value(ft, p); err != nil {
			return err
		}
	}
}

// value checks one value of type t (nil: anything, skipped).
func (c *strictChecker) value(t reflect.Type, path string) error {
	tok, err := c.token()
	if err != nil {
		return err
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return c.skip(tok)
	}
	bad := func() error {
		c.errs = append(c.errs, &configError{Field: path, Problem: fmt.Sprintf("must be %s (got %s)%s", describeType(t), describeToken(tok), c.at()), Fix: fixForType(t)})
		return c.skip(tok)
	}
	switch v := tok.(type) {
	case nil:
		c.errs = append(c.errs, &configError{Field: path, Problem: "is null" + c.at(), Fix: "remove the field for its default, or give a value"})
		return nil
	case json.Delim:
		switch {
		case v == '{' && (t.Kind() == reflect.Struct && t != durationType || t.Kind() == reflect.Map):
			return c.object(t, path)
		case v == '[' && t.Kind() == reflect.Slice:
			for i := 0; ; i++ {
				if !c.dec.More() {
					_, err := c.token()
					return err
				}
				if err := c.value(t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
		return bad()
	case string:
		if t.Kind() != reflect.String && t != durationType {
			return bad()
		}
		if t == durationType {
			if _, err := policy.ParseDuration(v); err != nil {
				c.errs = append(c.errs, &configError{Field: path, Problem: fmt.Sprintf("bad duration %q%s", v, c.at()), Fix: `write a number with a unit, e.g. "5s" or "250ms"`})
			}
		}
	case bool:
		if t.Kind() != reflect.Bool {
			return bad()
		}
	case json.Number:
		if t == durationType {
			return bad()
		}
		switch t.Kind() {
		case reflect.Int, reflect.Int64, reflect.Uint32:
			if _, err := v.Int64(); err != nil || strings.ContainsAny(string(v), ".eE") {
				return bad()
			}
			if t.Kind() == reflect.Uint32 && (strings.HasPrefix(string(v), "-") || len(v) > 10) {
				return bad()
			}
		default:
			return bad()
		}
	}
	return nil
}

// skip consumes the rest of a value that started with tok.
func (c *strictChecker) skip(tok json.Token) error {
	if d, ok := tok.(json.Delim); !ok || d == '}' || d == ']' {
		return nil
	}
	for depth := 1; depth > 0; {
		t, err := c.token()
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func fieldByJSONName(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		if f := t.Field(i); jsonName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func jsonFieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if n := jsonName(t.Field(i)); n != "" {
			names = append(names, n)
		}
	}
	return names
}

func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func describeType(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration string such as "5s"`
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Uint32:
		return "a whole number from 0 to 4294967295"
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		return "a whole number"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map:
		return "an object of names to strings"
	}
	return "an object"
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "a list"
		}
		return "an object"
	case string:
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("the string %q", v)
	case json.Number:
		return "the number " + string(v)
	}
	return fmt.Sprint(tok)
}

func fixForType(t reflect.Type) string {
	switch {
	case t == durationType:
		return `write it as a string with a unit, e.g. "5s"`
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64 || t.Kind() == reflect.Uint32:
		return "write a whole number without quotes"
	case t.Kind() == reflect.Bool:
		return "write true or false without quotes"
	case t.Kind() == reflect.String:
		return "put the value in quotes"
	case t.Kind() == reflect.Slice:
		return "write a list: [...]"
	}
	return "write an object: {...}"
}

// suggestName returns the known name closest to key (same letters in
// another case or separator, or an edit distance of at most a third of its
// length), or "".
func suggestName(key string, known []string) string {
	squash := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	}
	best, bestDist := "", len(key)+1
	for _, k := range known {
		if squash(k) == squash(key) {
			return k
		}
		if d := editDistance(strings.ToLower(key), k); d <= max(1, len(k)/3) && d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
