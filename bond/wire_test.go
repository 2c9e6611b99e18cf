package bond

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll reads lines until an error, copying each.
func readAll(l *lineReader) ([]string, error) {
	var lines []string
	for {
		line, err := l.next()
		if err != nil {
			return lines, err
		}
		lines = append(lines, string(line))
	}
}

func TestLineReader(t *testing.T) {
	big := strings.Repeat("x", 200<<10) // longer than the 64 KiB buffer
	for _, tc := range []struct {
		name  string
		input string
		max   int
		want  []string
		err   error // io.EOF or ErrProtocol
	}{
		{"empty stream", "", 10, nil, io.EOF},
		{"one line", "abc\n", 10, []string{"abc"}, io.EOF},
		{"empty lines", "\n\n", 10, []string{"", ""}, io.EOF},
		{"several lines in a chunk", "a\nbb\nccc\n", 10, []string{"a", "bb", "ccc"}, io.EOF},
		{"carriage return kept", "a\r\n", 10, []string{"a\r"}, io.EOF},
		{"exactly the limit", "0123456789\n", 10, []string{"0123456789"}, io.EOF},
		{"one over the limit", "0123456789A\n", 10, nil, ErrProtocol},
		{"over the limit after good lines", "ok\n0123456789A\n", 10, []string{"ok"}, ErrProtocol},
		{"over the limit without newline", "0123456789AB", 10, nil, ErrProtocol},
		{"partial last line", "a\nbc", 10, []string{"a"}, ErrProtocol},
		{"longer than the buffer", big + "\nend\n", len(big), []string{big, "end"}, io.EOF},
		{"longer than the buffer and the limit", big + "\n", len(big) - 1, nil, ErrProtocol},
		{"long partial line", big, len(big) + 10, nil, ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range map[string]io.Reader{
				"whole":    strings.NewReader(tc.input),
				"bytewise": iotest.OneByteReader(strings.NewReader(tc.input)),
				"halves":   iotest.HalfReader(strings.NewReader(tc.input)),
			} {
				got, err := readAll(newLineReader(r, tc.max))
				if !errors.Is(err, tc.err) {
					t.Fatalf("error = %v; want %v", err, tc.err)
				}
				if len(got) != len(tc.want) {
					t.Fatalf("got %d lines; want %d", len(got), len(tc.want))
				}
				for i := range got {
					if got[i] != tc.want[i] {
						t.Fatalf("line %d = %.40q (%d bytes); want %.40q (%d bytes)", i, got[i], len(got[i]), tc.want[i], len(tc.want[i]))
					}
				}
			}
		})
	}
}

func TestLineReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	l := newLineReader(io.MultiReader(strings.NewReader("a\n"), iotest.ErrReader(boom)), 10)
	if line, err := l.next(); err != nil || string(line) != "a" {
		t.Fatalf("first line = %q, %v", line, err)
	}
	if _, err := l.next(); !errors.Is(err, boom) {
		t.Fatalf("error = %v; want the reader's", err)
	}
}

func TestParseMessage(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		m, err := parseMessage([]byte(`{"op":"ready","version":1,"language":"python","info":"CPython 3.11.7"}`))
		if err != nil || m.op != "ready" || m.version != 1 || m.language != "python" || m.info != "CPython 3.11.7" {
			t.Fatalf("ready = %+v, %v", m, err)
		}
	})
	t.Run("return", func(t *testing.T) {
		line := []byte(`{ "value" : [1, {"$bytes":"AA=="}] , "op":"return","id":9007199254740991}`)
		m, err := parseMessage(line)
		if err != nil || m.op != "return" || m.id != maxID || !valueEqual(m.value, []any{int64(1), []byte{0}}) {
			t.Fatalf("return = %+v, %v", m, err)
		}
		if string(m.valueRaw) != `[1, {"$bytes":"AA=="}]` {
			t.Errorf("valueRaw = %q", m.valueRaw)
		}
	})
	t.Run("error", func(t *testing.T) {
		m, err := parseMessage([]byte(`{"op":"error","id":3,"error":{"kind":"exception","type":"E","message":"m","traceback":"tb","token":"g1"}}`))
		want := wireError{Kind: "exception", Type: "E", Message: "m", Traceback: "tb", Token: "g1"}
		if err != nil || m.id != 3 || *m.err != want {
			t.Fatalf("error = %+v, %v", m, err)
		}
		m, err = parseMessage([]byte(`{"op":"error","id":3,"error":{"kind":"serialization","type":"","message":""}}`))
		if err != nil || m.err.Kind != "serialization" {
			t.Fatalf("minimal error = %+v, %v", m, err)
		}
	})
	t.Run("call", func(t *testing.T) {
		m, err := parseMessage([]byte(`{"op":"call","id":1,"name":"f","args":[1,"a",{"$$k":null}]}`))
		if err != nil || m.name != "f" || m.id != 1 || !valueEqual(m.args, []any{int64(1), "a", map[string]any{"$k": nil}}) {
			t.Fatalf("call = %+v, %v", m, err)
		}
	})
	t.Run("output", func(t *testing.T) {
		for _, fd := range []int64{1, 2} {
			m, err := parseMessage([]byte(`{"op":"output","fd":` + string(rune('0'+fd)) + `,"data":"x\n"}`))
			if err != nil || m.fd != fd || m.data != "x\n" {
				t.Fatalf("output = %+v, %v", m, err)
			}
		}
	})
	for _, line := range []string{
		``, `null`, `[]`, `"op"`, `{}`, `{"op":null}`, `{"op":"Return","id":1,"value":1}`,
		`{"op":"eval","id":1,"code":"x"}`, `{"op":"exec","id":1,"code":"x"}`, `{"op":"export","id":1,"name":"x"}`,
		`{"op":"ready","version":1,"language":"python"}`,
		`{"op":"ready","version":-1,"language":"python","info":""}`,
		`{"op":"ready","version":"1","language":"python","info":""}`,
		`{"op":"ready","version":1,"language":7,"info":""}`,
		`{"op":"ready","version":1,"language":"python","info":null}`,
		`{"op":"return","value":1}`, `{"op":"return","id":1}`, `{"op":"return","id":-1,"value":1}`,
		`{"op":"return","id":9007199254740992,"value":1}`, `{"op":"return","id":99999999999999999999999,"value":1}`,
		`{"op":"return","id":1e0,"value":1}`, `{"op":"return","id":null,"value":1}`,
		`{"op":"return","id":1,"value":1,"op2":1}`,
		`{"op":"error","id":1}`, `{"op":"error","id":1,"error":{}}`, `{"op":"error","id":1,"error":[]}`,
		`{"op":"error","id":1,"error":{"kind":"exception","type":1,"message":"m"}}`,
		`{"op":"error","id":1,"error":{"kind":"exception","type":"T"}}`,
		`{"op":"error","id":1,"error":{"kind":"Exception","type":"T","message":"m"}}`,
		`{"op":"error","id":1,"error":{"kind":"exception","type":"T","message":"m","token":7}}`,
		`{"op":"error","id":1,"error":{"kind":"exception","type":"T","message":"m","cause":"x"}}`,
		`{"op":"call","id":1,"name":"f"}`, `{"op":"call","id":1,"name":1,"args":[]}`, `{"op":"call","id":1,"name":"f","args":null}`,
		`{"op":"output","fd":0,"data":""}`, `{"op":"output","fd":1,"data":[]}`, `{"op":"output","fd":"1","data":""}`,
		`{"op":"output","fd":1}`,
	} {
		if m, err := parseMessage([]byte(line)); !errors.Is(err, ErrProtocol) {
			t.Errorf("parseMessage(%s) = %+v, %v; want ErrProtocol", line, m, err)
		}
	}
}

func TestParseMessageErrorsAreShort(t *testing.T) {
	huge := strings.Repeat("A", 10000)
	for _, line := range []string{
		`{"op":"` + huge + `"}`,
		`{"op":"return","id":1,"value":1,"` + huge + `":1}`,
		`{"op":"return","id":1,"value":{"$` + huge + `":1}}`,
		`{"op":"error","id":1,"error":{"kind":"` + huge + `","type":"T","message":"m"}}`,
	} {
		_, err := parseMessage([]byte(line))
		if !errors.Is(err, ErrProtocol) || len(err.Error()) > 200 {
			t.Errorf("error for a hostile %d-byte line is %d bytes: %.100s", len(line), len(err.Error()), err)
		}
	}
}

func TestHostLines(t *testing.T) {
	for _, tc := range []struct {
		got  []byte
		want string
	}{
		{requestLine("eval", 1, "code", "1+1"), `{"op":"eval","id":1,"code":"1+1"}`},
		{requestLine("exec", 2, "code", "x = \"a\"\n\ty"), `{"op":"exec","id":2,"code":"x = \"a\"\n\ty"}`},
		{requestLine("export", 9007199254740991, "name", "f"), `{"op":"export","id":9007199254740991,"name":"f"}`},
		{errorLine(4, "GoError", "bad \xff news", "g1"), `{"op":"error","id":4,"error":{"type":"GoError","message":"bad ` + "\uFFFD" + ` news","token":"g1"}}`},
		{errorLine(5, "T\xff", "", ""), `{"op":"error","id":5,"error":{"type":"T` + "\uFFFD" + `","message":"","token":""}}`},
	} {
		if string(tc.got) != tc.want+"\n" {
			t.Errorf("line = %q; want %q", tc.got, tc.want+"\n")
		}
		if !json.Valid(tc.got) {
			t.Errorf("%q is not valid JSON", tc.got)
		}
	}
	line, err := callLine(3, "os.path.join", []any{"a", NewRef("b"), []byte{1}})
	if want := `{"op":"call","id":3,"name":"os.path.join","args":["a",{"$ref":"b"},{"$bytes":"AQ=="}]}` + "\n"; err != nil || string(line) != want {
		t.Errorf("callLine = %q, %v; want %q", line, err, want)
	}
	line, err = returnLine(6, map[string]any{"$k": 1.0})
	if want := `{"op":"return","id":6,"value":{"$$k":1.0}}` + "\n"; err != nil || string(line) != want {
		t.Errorf("returnLine = %q, %v; want %q", line, err, want)
	}
	if _, err := returnLine(6, []any{make(chan int)}); !errors.Is(err, ErrSerialization) {
		t.Errorf("returnLine of a chan = %v", err)
	}
	if _, err := callLine(6, "f", []any{"\xff"}); !errors.Is(err, ErrSerialization) {
		t.Errorf("callLine with invalid UTF-8 = %v", err)
	}
}

// TestHostLinesNoRawNewline: no host line holds a newline but the last byte.
func TestHostLinesNoRawNewline(t *testing.T) {
	text := "a\nb\rc\u2028d\u2029\x00"
	for _, line := range [][]byte{
		requestLine("eval", 1, "code", text),
		errorLine(1, text, text, text),
		must1(callLine(1, text, []any{text, NewRef(text), map[string]any{text: text}})),
		must1(returnLine(1, []any{text})),
	} {
		if i := bytes.IndexByte(line, '\n'); i != len(line)-1 {
			t.Errorf("%q has a raw newline at %d", line, i)
		}
		if bytes.Contains(line, []byte("\u2028")) || bytes.Contains(line, []byte("\u2029")) {
			t.Errorf("%q has a raw U+2028/2029", line)
		}
	}
}

func must1(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
