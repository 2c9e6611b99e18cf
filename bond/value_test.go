package bond

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// valueEqual compares values of the bond's value model: *big.Int by value,
// []byte by content, floats bit for bit (so -0 differs from 0).
func valueEqual(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y) && (x == nil) == (y == nil)
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for i := range x {
			if !valueEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !valueEqual(v, w) {
				return false
			}
		}
		return true
	}
	return a == b
}

// encodeOne encodes v as a value (not an argument).
func encodeOne(v any) (string, error) {
	e := encoder{}
	err := e.value(v, 0)
	return string(e.buf), err
}

// decodeWire decodes text as the value member of a return message, the way
// the engine decodes results (tags apply).
func decodeWire(text string) (any, error) {
	m, err := parseMessage([]byte(`{"op":"return","id":1,"value":` + text + `}`))
	if err != nil {
		return nil, err
	}
	return m.value, nil
}

func mustBig(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return n
}

type textMarshaler struct{}

func (textMarshaler) MarshalText() ([]byte, error) { return []byte("as text"), nil }

type failingMarshaler struct{}

func (failingMarshaler) MarshalJSON() ([]byte, error) { return nil, errors.New("cannot marshal") }

type badJSONMarshaler struct{}

func (badJSONMarshaler) MarshalJSON() ([]byte, error) { return []byte(`{"a":NaN}`), nil }

type dollarMarshaler struct{}

func (dollarMarshaler) MarshalJSON() ([]byte, error) {
	return []byte(`{"k":{"$x":1},"b":{"$bytes":"AAE="},"n":{"$bytes":1}}`), nil
}

type myString string

// blob gets Bytes' MarshalJSON by embedding.
type blob struct{ Bytes }

func TestEncodeValue(t *testing.T) {
	one := 1
	pone := &one
	var nilPtr *int
	type inner struct {
		B Bytes  `json:"b"`
		R []byte `json:"r"`
	}
	type rec struct {
		Name    string   `json:"name"`
		Skip    string   `json:"-"`
		Empty   string   `json:"empty,omitempty"`
		Inner   inner    `json:"inner"`
		Big     *big.Int `json:"big"`
		private int
	}
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"nil", nil, `null`},
		{"bool", true, `true`},
		{"string", "héllo", `"héllo"`},
		{"escapes", "\"\\\n\r\t\x00\x1f\x7f/<>&", `"\"\\\n\r\t\u0000\u001f` + "\x7f" + `/<>&"`},
		{"line separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"int", -1, `-1`},
		{"int8", int8(-128), `-128`},
		{"int16", int16(32767), `32767`},
		{"int32", int32(-5), `-5`},
		{"int64", int64(math.MinInt64), `-9223372036854775808`},
		{"uint", uint(7), `7`},
		{"uint8", uint8(255), `255`},
		{"uint16", uint16(65535), `65535`},
		{"uint32", uint32(math.MaxUint32), `4294967295`},
		{"uint64", uint64(math.MaxUint64), `18446744073709551615`},
		{"uintptr", uintptr(9), `9`},
		{"big.Int", mustBig("-123456789012345678901234567890"), `-123456789012345678901234567890`},
		{"nil big.Int", (*big.Int)(nil), `null`},
		{"float64", 1.5, `1.5`},
		{"integral float64", 2.0, `2.0`},
		{"negative zero", math.Copysign(0, -1), `-0.0`},
		{"large float", 1e21, `1e+21`},
		{"small float", 5e-324, `5e-324`},
		{"max float", math.MaxFloat64, `1.7976931348623157e+308`},
		{"float32", float32(0.1), `0.1`},
		{"integral float32", float32(3), `3.0`},
		{"[]byte", []byte{0, 1, 2, 255}, `{"$bytes":"AAEC/w=="}`},
		{"empty []byte", []byte{}, `{"$bytes":""}`},
		{"Bytes", Bytes("hi"), `{"$bytes":"aGk="}`},
		{"[3]byte", [3]byte{1, 2, 3}, `{"$bytes":"AQID"}`},
		{"[]any", []any{1, "a", nil}, `[1,"a",null]`},
		{"[]int", []int{1, 2}, `[1,2]`},
		{"nil []int", []int(nil), `null`},
		{"[2]string", [2]string{"a", "b"}, `["a","b"]`},
		{"[][]byte", [][]byte{{1}}, `[{"$bytes":"AQ=="}]`},
		{"map[string]any", map[string]any{"a": 1}, `{"a":1}`},
		{"map[string]int", map[string]int{"b": 2}, `{"b":2}`},
		{"nil map[string]int", map[string]int(nil), `null`},
		{"named key type", map[myString]myString{"k": "v"}, `{"k":"v"}`},
		{"escaped $ key", map[string]any{"$x": 1}, `{"$$x":1}`},
		{"escaped $$ key", map[string]int{"$$y": 2}, `{"$$$y":2}`},
		{"escaped lone $", map[string]any{"$": 1}, `{"$$":1}`},
		{"escaped $bytes", map[string]any{"$bytes": "AAE="}, `{"$$bytes":"AAE="}`},
		{"escaped $ref", map[string]any{"$ref": "x"}, `{"$$ref":"x"}`},
		{"inner $ not escaped", map[string]any{"x$": 1}, `{"x$":1}`},
		{"nested escape", []any{map[string]any{"$a": map[string]any{"$b": 1}}}, `[{"$$a":{"$$b":1}}]`},
		{"pointer", pone, `1`},
		{"pointer to pointer", &pone, `1`},
		{"nil pointer", nilPtr, `null`},
		{"struct", rec{Name: "n", Skip: "s", Inner: inner{B: Bytes{1}, R: []byte{2}}, Big: big.NewInt(5), private: 3},
			``}, // fields go through a map: order not kept; checked by decoding below
		{"pointer to struct", &struct {
			B Bytes `json:"b"`
		}{Bytes{}}, `{"b":{"$bytes":""}}`},
		{"struct with $ field", struct {
			X int `json:"$x"`
		}{1}, `{"$$x":1}`},
		{"json.RawMessage", json.RawMessage(` {"$x" : [1, 2.50]} `), `{"$$x":[1,2.5]}`},
		{"json.RawMessage bytes tag", json.RawMessage(`{"$bytes":"AAE="}`), `{"$bytes":"AAE="}`},
		{"json.RawMessage in a list", []any{json.RawMessage(`{"$bytes":"AAE="}`)}, `[{"$bytes":"AAE="}]`},
		{"embedded Bytes", blob{Bytes{1}}, `{"$bytes":"AQ=="}`},
		{"embedded Bytes in a struct", struct{ B blob }{blob{Bytes{1}}}, `{"B":{"$bytes":"AQ=="}}`},
		{"json.Marshaler", dollarMarshaler{}, ``}, // checked below: map order
		{"encoding.TextMarshaler", textMarshaler{}, `"as text"`},
		{"time.Duration", time.Second, `1000000000`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := encodeOne(tc.v)
			if err != nil {
				t.Fatalf("encode %#v: %v", tc.v, err)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("encode %#v = %s; want %s", tc.v, got, tc.want)
			}
			if _, err := decodeWire(got); err != nil {
				t.Errorf("the encoding %s does not decode: %v", got, err)
			}
		})
	}
	// Multi-key maps: compare decoded.
	for _, tc := range []struct {
		v    any
		want map[string]any
	}{
		{dollarMarshaler{}, map[string]any{"k": map[string]any{"$x": int64(1)}, "b": []byte{0, 1}, "n": map[string]any{"$bytes": int64(1)}}},
		{rec{Name: "n", Skip: "s", Inner: inner{B: Bytes{1}, R: []byte{2}}, Big: big.NewInt(5), private: 3},
			map[string]any{"name": "n", "inner": map[string]any{"b": []byte{1}, "r": "Ag=="}, "big": int64(5)}},
	} {
		got, err := encodeOne(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		v, err := decodeWire(got)
		if err != nil || !valueEqual(v, tc.want) {
			t.Errorf("%T: %s decodes to %#v, %v; want %#v", tc.v, got, v, err, tc.want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	deep := func(n int) any {
		var v any = 1
		for range n {
			v = []any{v}
		}
		return v
	}
	if _, err := encodeOne(deep(maxDepth)); err != nil {
		t.Errorf("a value %d deep: %v", maxDepth, err)
	}
	for _, tc := range []struct {
		name string
		v    any
		msg  string
	}{
		{"NaN", math.NaN(), "NaN cannot travel"},
		{"+Inf", math.Inf(1), "+Inf cannot travel"},
		{"-Inf float32", float32(math.Inf(-1)), "-Inf cannot travel"},
		{"NaN in a slice", []float64{1, math.NaN()}, "NaN"},
		{"invalid UTF-8", "\xff", "not valid UTF-8"},
		{"invalid UTF-8 in a named string", myString("a\xc0"), "not valid UTF-8"},
		{"invalid UTF-8 key", map[string]int{"\xff": 1}, "not valid UTF-8"},
		{"int keys", map[int]string{1: "a"}, "map keys must be strings, not int"},
		{"struct keys", map[struct{}]int{}, "map keys must be strings"},
		{"chan", make(chan int), "cannot send a value of type chan int"},
		{"func", func() {}, "cannot send a value of type func()"},
		{"complex", complex64(1), "cannot send a value of type complex64"},
		{"unsafe pointer in a slice", []any{struct{ C chan int }{}}, "unsupported type"},
		{"Ref", NewRef("x"), "only as a direct argument"},
		{"nested Ref", []any{NewRef("x")}, "only as a direct argument"},
		{"[]Ref", []Ref{NewRef("x")}, "only as a direct argument"},
		{"*Ref", &Ref{"x"}, "only as a direct argument"},
		{"too deep", deep(maxDepth + 1), "nested deeper than"},
		{"cycle", cyclic(), "nested deeper than"},
		{"failing json.Marshaler", failingMarshaler{}, "cannot marshal"},
		{"json.Marshaler writing NaN", badJSONMarshaler{}, "MarshalJSON"},
		{"invalid json.RawMessage", json.RawMessage(`{"a":`), "invalid JSON"},
		{"struct with a NaN", struct{ F float64 }{math.NaN()}, "unsupported value: NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := encodeOne(tc.v)
			var se *SerializationError
			if !errors.As(err, &se) || se.Side != Local || !errors.Is(err, ErrSerialization) {
				t.Fatalf("encode %T = %v; want a local SerializationError", tc.v, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			if errors.Is(err, ErrProtocol) {
				t.Errorf("a local encoding error matches ErrProtocol: %v", err)
			}
		})
	}
	var se *SerializationError
	if _, err := encodeOne(failingMarshaler{}); !errors.As(err, &se) || se.Err == nil || se.Type != "bond.failingMarshaler" {
		t.Errorf("a failing marshaler's error is not kept: %#v", err)
	}
}

func TestEncodeArgs(t *testing.T) {
	e := encoder{}
	if err := e.encodeArgs([]any{NewRef("f.read()"), 1, Ref{Code: "\u2028"}}); err != nil {
		t.Fatal(err)
	}
	if want := `[{"$ref":"f.read()"},1,{"$ref":"\u2028"}]`; string(e.buf) != want {
		t.Errorf("encodeArgs = %s; want %s", e.buf, want)
	}
	e = encoder{}
	if err := e.encodeArgs([]any{NewRef("\xff")}); !errors.Is(err, ErrSerialization) {
		t.Errorf("a Ref with invalid UTF-8 = %v", err)
	}
	e = encoder{}
	if err := e.encodeArgs(nil); err != nil || string(e.buf) != "[]" {
		t.Errorf("no arguments = %s, %v", e.buf, err)
	}
}

func TestDecodeValues(t *testing.T) {
	digits := strings.Repeat("9", 100000)
	for _, tc := range []struct {
		text string
		want any
	}{
		{`null`, nil},
		{` true `, true},
		{"\t\r\nfalse", false},
		{`0`, int64(0)},
		{`-0`, int64(0)},
		{`123`, int64(123)},
		{`9223372036854775807`, int64(math.MaxInt64)},
		{`9223372036854775808`, mustBig("9223372036854775808")},
		{`-9223372036854775809`, mustBig("-9223372036854775809")},
		{`18446744073709551616`, mustBig("18446744073709551616")},
		{digits, mustBig(digits)},
		{`0.5`, 0.5},
		{`-0.0`, math.Copysign(0, -1)},
		{`1e3`, 1000.0},
		{`1E+3`, 1000.0},
		{`1e-3`, 0.001},
		{`1.0`, 1.0},
		{`1e-400`, 0.0},
		{`""`, ""},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
		{`"\u00e9\u00E9é"`, "ééé"},
		{`"\u0000"`, "\x00"},
		{`"\ud83d\ude00\uD83D\uDE00😀"`, "😀😀😀"},
		{`"\u2028"`, "\u2028"},
		{"\"\x7f\"", "\x7f"},
		{`"a\nb` + strings.Repeat("x", 100) + `"`, "a\nb" + strings.Repeat("x", 100)},
		{`[]`, []any{}},
		{` [ 1 , [ ] ] `, []any{int64(1), []any{}}},
		{`{}`, map[string]any{}},
		{`{"":1}`, map[string]any{"": int64(1)}},
		{`{"a":1,"b":[true]}`, map[string]any{"a": int64(1), "b": []any{true}}},
		{`{"$bytes":"AAEC/w=="}`, []byte{0, 1, 2, 255}},
		{`{"$bytes":""}`, []byte{}},
		{`{"$$x":1}`, map[string]any{"$x": int64(1)}},
		{`{"$$$x":1}`, map[string]any{"$$x": int64(1)}},
		{`{"$$":1}`, map[string]any{"$": int64(1)}},
		{`{"$$bytes":"AAE="}`, map[string]any{"$bytes": "AAE="}},
		{`{"$$ref":"x"}`, map[string]any{"$ref": "x"}},
		{`{"$a":1,"$b":2}`, map[string]any{"$a": int64(1), "$b": int64(2)}},
		{`{"x$":1}`, map[string]any{"x$": int64(1)}},
		{`[{"$bytes":"AA=="},{"a":{"$bytes":"AQ=="}}]`, []any{[]byte{0}, map[string]any{"a": []byte{1}}}},
	} {
		got, err := decodeWire(tc.text)
		if err != nil {
			t.Errorf("decode %.60s: %v", tc.text, err)
			continue
		}
		if !valueEqual(got, tc.want) {
			t.Errorf("decode %.60s = %#v; want %#v", tc.text, got, tc.want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	if _, err := decodeWire(deep(maxDepth - 1)); err != nil {
		t.Errorf("nesting at the limit: %v", err)
	}
	for _, text := range []string{
		``, ` `, `nul`, `True`, `undefined`, `NaN`, `-NaN`, `Infinity`, `-Infinity`,
		`01`, `-01`, `00`, `1.`, `.5`, `+1`, `-`, `1e`, `1e+`, `1.5e`, `0x10`, `1_000`, `--1`, `1.2.3`,
		`1e999`, `-1e999`, strings.Repeat("9", 100001),
		`"`, `"abc`, `"\"`, `"\x"`, `"\'"`, `"\u12"`, `"\u12G4"`, `"\U0041"`,
		`"\ud83d"`, `"\ud83dx"`, `"\ud83d\u0041"`, `"\ude00"`, `"\ude00\ud83d"`, `"\ud83d\ud83d"`, `"\ud83d\`,
		"\"\xff\"", "\"\xc0\x80\"", "\"\xed\xa0\x80\"", "\"\xe2\x82\"", "\"a\\n\xff\"", "\"\x00\"", "\"\t\"", "\"\n\"",
		`[`, `[1`, `[1,]`, `[,1]`, `[1 2]`, `]`,
		`{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{1:2}`, `{a:1}`, `{'a':1}`, `{"a":1 "b":2}`, `{"a":1,"a":1}`, `{"a":{"b":1,"b":2}}`,
		"{\"\xff\":1}", `{"$bytes":1}`, `{"$bytes":"!!"}`, `{"$bytes":"AA"}`, `{"$bytes":"A==="}`, `{"$bytes":null}`,
		`{"$ref":"x"}`, `{"$":1}`, `{"$x":1}`, `{"$set":[1]}`, `[{"$bytes":"AA","x":1}, {"$foo":1}]`,
		`1 2`, `[] x`, `// comment`, deep(maxDepth),
	} {
		v, err := decodeWire(text)
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("decode %.60q = %#v, %v; want ErrProtocol", text, v, err)
		}
	}
}

// TestDecodeHostJSON checks the host-mode parser used for JSON from
// encoding/json: only $bytes with a string is a tag, other $ keys are data.
func TestDecodeHostJSON(t *testing.T) {
	for _, tc := range []struct {
		text string
		want any
	}{
		{`[{"$bytes":"AQ=="}]`, []any{[]byte{1}}},
		{`{"$bytes":"AQ=="}`, []byte{1}}, // a value even at the top
		{`{"$x":1}`, map[string]any{"$x": int64(1)}},
		{`[{"$bytes":1}]`, []any{map[string]any{"$bytes": int64(1)}}},
		{`[{"$ref":"x"}]`, []any{map[string]any{"$ref": "x"}}},
		{`[{"$$x":1}]`, []any{map[string]any{"$$x": int64(1)}}},
	} {
		v, err := (&parser{data: []byte(tc.text), host: true}).document()
		if err != nil || !valueEqual(v, tc.want) {
			t.Errorf("host decode %s = %#v, %v; want %#v", tc.text, v, err, tc.want)
		}
	}
}

// randomValue builds a random value of the bond's value model.
func randomValue(r *rand.Rand, depth int) any {
	n := 12
	if depth > 4 {
		n = 8 // scalars only
	}
	switch r.IntN(n) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return r.Int64() - r.Int64()
	case 3:
		x := new(big.Int).Lsh(big.NewInt(r.Int64N(1000)+1), uint(64+r.IntN(200)))
		if r.IntN(2) == 0 {
			x.Neg(x)
		}
		return x
	case 4:
		for {
			f := math.Float64frombits(r.Uint64())
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f
			}
		}
	case 5:
		return float64(r.IntN(100)) / 4
	case 6:
		return randomString(r)
	case 7:
		b := make([]byte, r.IntN(20))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	case 8, 9:
		a := make([]any, r.IntN(5))
		for i := range a {
			a[i] = randomValue(r, depth+1)
		}
		return a
	default:
		m := map[string]any{}
		for range r.IntN(4) {
			m[randomString(r)] = randomValue(r, depth+1)
		}
		return m
	}
}

func randomString(r *rand.Rand) string {
	alphabet := []rune{'a', 'z', '$', '$', '"', '\\', '\n', '\x00', '\x1f', 'é', '\u2028', '😀', '\uFFFD', '/', '{'}
	s := make([]rune, r.IntN(8))
	for i := range s {
		s[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(s)
}

// TestRoundTrip: any value of the model encodes, decodes to an equal value,
// and encodes again to the same bytes when maps are small enough to have
// one order.
func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		v := randomValue(r, 0)
		line, err := returnLine(7, v)
		if err != nil {
			t.Fatalf("value %d (%#v): encode: %v", i, v, err)
		}
		if !json.Valid(line) {
			t.Fatalf("value %d: %s is not valid JSON", i, line)
		}
		m, err := parseMessage(bytes.TrimSuffix(line, []byte("\n")))
		if err != nil {
			t.Fatalf("value %d: %s: decode: %v", i, line, err)
		}
		if m.op != "return" || m.id != 7 || !valueEqual(m.value, v) {
			t.Fatalf("value %d: %#v came back as %#v", i, v, m.value)
		}
		if again, err := returnLine(7, m.value); err != nil || len(again) != len(line) {
			t.Fatalf("value %d: re-encoding differs in length: %s vs %s (%v)", i, line, again, err)
		}
	}
}

// TestRoundTripGoTypes: Go values of other types arrive as the model's.
func TestRoundTripGoTypes(t *testing.T) {
	for _, tc := range []struct {
		v, want any
	}{
		{int8(-3), int64(-3)},
		{uint64(math.MaxUint64), mustBig("18446744073709551615")},
		{float32(0.5), 0.5},
		{[]string{"a"}, []any{"a"}},
		{map[string]int{"$x": 1}, map[string]any{"$x": int64(1)}},
		{Bytes{1}, []byte{1}},
		{[2]byte{1, 2}, []byte{1, 2}},
		{struct {
			A []int `json:"a"`
		}{[]int{1}}, map[string]any{"a": []any{int64(1)}}},
	} {
		line, err := returnLine(1, tc.v)
		if err != nil {
			t.Fatalf("%#v: %v", tc.v, err)
		}
		m, err := parseMessage(bytes.TrimSuffix(line, []byte("\n")))
		if err != nil || !valueEqual(m.value, tc.want) {
			t.Errorf("%#v arrived as %#v, %v; want %#v", tc.v, m.value, err, tc.want)
		}
	}
}

func TestBytesJSON(t *testing.T) {
	data, err := json.Marshal(struct{ B Bytes }{Bytes{0xff, 0}})
	if err != nil || string(data) != `{"B":{"$bytes":"/wA="}}` {
		t.Fatalf("Marshal = %s, %v", data, err)
	}
	var back struct{ B Bytes }
	if err := json.Unmarshal(data, &back); err != nil || !bytes.Equal(back.B, []byte{0xff, 0}) {
		t.Fatalf("Unmarshal of the tagged form = %v, %v", back.B, err)
	}
	// Decode goes through encoding/json, which writes a []byte as base64.
	if err := json.Unmarshal([]byte(`{"B":"/wA="}`), &back); err != nil || !bytes.Equal(back.B, []byte{0xff, 0}) {
		t.Fatalf("Unmarshal of a base64 string = %v, %v", back.B, err)
	}
	if err := json.Unmarshal([]byte(`{"B":"!!"}`), &back); err == nil {
		t.Fatalf("Unmarshal of bad base64 succeeded")
	}
	if err := json.Unmarshal([]byte(`{"B":{"$bytes":7}}`), &back); err == nil {
		t.Fatalf("Unmarshal of a bad tag succeeded")
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		s := randomString(r)
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != s {
			t.Fatalf("appendJSONString(%q) = %s, which decodes to %q, %v", s, got, back, err)
		}
	}
}

func TestMarshalUnmarshalValue(t *testing.T) {
	in := map[string]any{"n": func() *big.Int { n, _ := new(big.Int).SetString("18446744073709551617", 10); return n }(), "b": []byte{0, 255}, "$x": "plain key"}
	data, err := MarshalValue(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := UnmarshalValue(data)
	if err != nil {
		t.Fatalf("UnmarshalValue(%s): %v", data, err)
	}
	m := out.(map[string]any)
	if m["n"].(*big.Int).String() != "18446744073709551617" || string(m["b"].([]byte)) != "\x00\xff" || m["$x"] != "plain key" {
		t.Fatalf("round trip changed the value: %#v", out)
	}
	if _, err := MarshalValue(math.NaN()); !errors.Is(err, ErrSerialization) {
		t.Fatalf("MarshalValue(NaN) = %v, want a SerializationError", err)
	}
	if _, err := UnmarshalValue([]byte(`{"a":1,"a":2}`)); !errors.Is(err, ErrProtocol) {
		t.Fatalf("duplicate keys accepted: %v", err)
	}
}

func TestMarshalValueSortsKeys(t *testing.T) {
	for i := 0; i < 20; i++ { // map order is random: one lucky run proves nothing
		got, err := MarshalValue(map[string]any{"b": 1, "a": map[string]int{"z": 1, "y": 2}, "c": nil})
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"a":{"y":2,"z":1},"b":1,"c":null}`; string(got) != want {
			t.Fatalf("MarshalValue = %s, want %s", got, want)
		}
	}
}
