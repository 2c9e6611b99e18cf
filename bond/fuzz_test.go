package bond

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// transcriptLines returns the lines the fake sends in the golden
// transcripts (testdata/transcripts), the fuzzers' seeds.
func transcriptLines(f *testing.F) [][]byte {
	files, err := filepath.Glob("testdata/transcripts/*.txt")
	if err != nil || len(files) == 0 {
		f.Fatalf("no transcripts to seed from: %v", err)
	}
	var lines [][]byte
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			switch {
			case strings.HasPrefix(line, "< "):
				lines = append(lines, []byte(line[2:]))
			case strings.HasPrefix(line, "! hexline "):
				if b, err := hex.DecodeString(line[len("! hexline "):]); err == nil {
					lines = append(lines, b)
				}
			}
		}
	}
	return lines
}

// FuzzParseMessage: parseMessage never panics, rejects only with
// ErrProtocol, and what it accepts satisfies the protocol's invariants.
func FuzzParseMessage(f *testing.F) {
	for _, line := range transcriptLines(f) {
		f.Add(line)
	}
	for _, s := range []string{
		`{"op":"output","fd":2,"data":"x"}`,
		`{"op":"call","id":9007199254740991,"name":"f","args":[{"$$x":[{"$bytes":"AA=="}]}]}`,
		`{"op":"error","id":1,"error":{"kind":"serialization","type":"set","message":"m","token":"g1"}}`,
		`{"op":"return","id":1,"value":"\ud83d\ude00"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := parseMessage(line)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("rejected with %v, which is not ErrProtocol", err)
			}
			return
		}
		if !utf8.Valid(line) {
			t.Fatalf("accepted invalid UTF-8: %q", line)
		}
		if _, ok := driverOps[m.op]; !ok {
			t.Fatalf("accepted op %q", m.op)
		}
		switch m.op {
		case "return", "error", "call":
			if m.id < 1 || m.id > maxID {
				t.Fatalf("accepted id %d", m.id)
			}
		case "output":
			if m.fd != 1 && m.fd != 2 {
				t.Fatalf("accepted fd %d", m.fd)
			}
		case "ready":
			if m.version < 0 {
				t.Fatalf("accepted version %d", m.version)
			}
		}
		switch m.op {
		case "return":
			// The raw span decodes to the same value, and the value
			// survives a trip through the encoder.
			v, err := decodeWire(string(m.valueRaw))
			if err != nil || !valueEqual(v, m.value) {
				t.Fatalf("valueRaw %q decodes to %#v, %v; value is %#v", m.valueRaw, v, err, m.value)
			}
			roundTrip(t, m.value)
		case "call":
			if m.args == nil {
				t.Fatalf("call without args accepted")
			}
			roundTrip(t, m.args)
		case "error":
			if m.err == nil || (m.err.Kind != "exception" && m.err.Kind != "serialization") {
				t.Fatalf("accepted error %+v", m.err)
			}
		}
	})
}

func roundTrip(t *testing.T, v any) {
	t.Helper()
	line, err := returnLine(1, v)
	if err != nil {
		t.Fatalf("a decoded value does not encode: %#v: %v", v, err)
	}
	m, err := parseMessage(bytes.TrimSuffix(line, []byte("\n")))
	if err != nil || !valueEqual(m.value, v) {
		t.Fatalf("%#v encoded as %s came back as %#v, %v", v, line, m.value, err)
	}
}

// FuzzValueRoundTrip: a value the decoder accepts encodes, and decodes
// again to an equal value.
func FuzzValueRoundTrip(f *testing.F) {
	for _, line := range transcriptLines(f) {
		if m, err := parseMessage(line); err == nil && m.op == "return" {
			f.Add(string(m.valueRaw))
		}
	}
	for _, s := range []string{`[1,-0.0,1e-400,"\u2028"]`, `{"$$":{"$$$":{"$bytes":""}}}`, `18446744073709551616`, `[[[[]]]]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		v, err := decodeValue([]byte("[" + text + "]")) // inside a list: tags apply
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("rejected with %v, which is not ErrProtocol", err)
			}
			return
		}
		e := encoder{}
		if err := e.value(v, 0); err != nil {
			t.Fatalf("%q decoded to %#v, which does not encode: %v", text, v, err)
		}
		back, err := decodeValue(e.buf)
		if err != nil || !valueEqual(back, v) {
			t.Fatalf("%q: %#v encoded as %s decodes to %#v, %v", text, v, e.buf, back, err)
		}
	})
}

// FuzzParseSideMessage: a bond with a side channel parses $handle and
// $blob tags from the interpreter; whatever the line, it never panics,
// rejects only with ErrProtocol, and never allocates more blob bytes than
// the limit.
func FuzzParseSideMessage(f *testing.F) {
	for _, s := range []string{
		`{"op":"return","id":1,"value":{"$handle":3}}`,
		`{"op":"return","id":1,"value":[{"$blob":10},{"$blob":0},{"$handle":9007199254740991}]}`,
		`{"op":"call","id":2,"name":"f","args":[{"$blob":1024},{"$$blob":1}]}`,
		`{"op":"return","id":1,"value":{"$blob":-1}}`,
		`{"op":"return","id":1,"value":{"$handle":0}}`,
		`{"op":"ready","version":1,"language":"x","info":"y","side":["blob","fd"]}`,
	} {
		f.Add([]byte(s))
	}
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, line []byte) {
		b := &Bond{lang: "fuzz", side: &side{blob: true}, opts: Options{MaxBlobBytes: limit}}
		m, err := b.parseMessage(line)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("rejected with %v, which is not ErrProtocol", err)
			}
			return
		}
		total := 0
		for _, blob := range m.blobs {
			total += len(blob)
		}
		if total > limit {
			t.Fatalf("accepted %d blob bytes, over the limit of %d", total, limit)
		}
	})
}
