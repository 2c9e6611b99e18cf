package bond

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
)

// Eval evaluates one expression in the interpreter's global scope and
// returns its value.
func (b *Bond) Eval(ctx context.Context, code string) (any, error) {
	m, err := b.do(ctx, "eval", func(id int64) (*outgoing, error) { return lineOnly(textLine("eval", id, "code", code)) })
	if err != nil {
		return nil, err
	}
	return m.value, nil
}

// EvalBlock runs statements in the interpreter's global scope: definitions
// and state stay for later calls.
func (b *Bond) EvalBlock(ctx context.Context, code string) error {
	_, err := b.do(ctx, "exec", func(id int64) (*outgoing, error) { return lineOnly(textLine("exec", id, "code", code)) })
	return err
}

// Call calls a remote function: name is a function name or any expression
// that yields something callable. Arguments are Go values (see the package
// documentation); a Ref argument is evaluated remotely.
func (b *Bond) Call(ctx context.Context, name string, args ...any) (any, error) {
	m, err := b.call(ctx, name, args)
	if err != nil {
		return nil, err
	}
	return m.value, nil
}

func (b *Bond) call(ctx context.Context, name string, args []any) (*message, error) {
	return b.do(ctx, "call "+truncate(name, 60), func(id int64) (*outgoing, error) {
		return b.newReq("call", id).str("name", name).args("args", args).done()
	})
}

// Callable returns a Go function that calls the remote name.
func (b *Bond) Callable(name string) func(ctx context.Context, args ...any) (any, error) {
	return func(ctx context.Context, args ...any) (any, error) { return b.Call(ctx, name, args...) }
}

// Export makes fn callable from the interpreter as a global function
// called name. Exporting a name again replaces the function.
func (b *Bond) Export(ctx context.Context, name string, fn Func) error {
	if fn == nil {
		return fmt.Errorf("export %s: nil function", name)
	}
	b.mu.Lock()
	b.exports[name] = fn
	b.mu.Unlock()
	_, err := b.do(ctx, "export "+name, func(id int64) (*outgoing, error) { return lineOnly(textLine("export", id, "name", name)) })
	return err
}

// Proxy makes the function name of this bond callable in other as the
// global function otherName (name when empty): calls from the other
// interpreter travel through Go into this one, and may nest.
func (b *Bond) Proxy(ctx context.Context, name string, other *Bond, otherName string) error {
	if otherName == "" {
		otherName = name
	}
	return other.Export(ctx, otherName, func(ctx context.Context, args []any) (any, error) {
		return b.Call(ctx, name, args...)
	})
}

// do runs a request and turns an error reply into a Go error.
func (b *Bond) do(ctx context.Context, what string, line func(id int64) (*outgoing, error)) (*message, error) {
	return b.request(ctx, what, line)
}

// EvalAs evaluates an expression and decodes its value into T.
func EvalAs[T any](ctx context.Context, b *Bond, code string) (T, error) {
	m, err := b.do(ctx, "eval", func(id int64) (*outgoing, error) { return lineOnly(textLine("eval", id, "code", code)) })
	if err != nil {
		var zero T
		return zero, err
	}
	return decodeMessage[T](b, m)
}

// CallAs calls a remote function and decodes its result into T.
func CallAs[T any](ctx context.Context, b *Bond, name string, args ...any) (T, error) {
	m, err := b.call(ctx, name, args)
	if err != nil {
		var zero T
		return zero, err
	}
	return decodeMessage[T](b, m)
}

// CallableAs returns a typed Go function that calls the remote name.
func CallableAs[T any](b *Bond, name string) func(ctx context.Context, args ...any) (T, error) {
	return func(ctx context.Context, args ...any) (T, error) { return CallAs[T](ctx, b, name, args...) }
}

func decodeMessage[T any](b *Bond, m *message) (T, error) {
	var out T
	if _, isAny := any(&out).(*any); isAny {
		return any(m.value).(T), nil
	}
	if x, ok := m.value.(T); ok { // []any, map[string]any, ...: no detour through float64
		return x, nil
	}
	var err error
	if bytes.IndexByte(m.valueRaw, '{') < 0 {
		err = json.Unmarshal(m.valueRaw, &out) // no maps, hence no tags
	} else {
		out, err = Decode[T](m.value)
	}
	if err != nil {
		return out, &SerializationError{Side: Local, Language: b.lang, Type: reflect.TypeFor[T]().String(),
			Message: "cannot decode the result: " + err.Error(), Err: err}
	}
	return out, nil
}

// Decode converts a value from the bond's value model into T, following
// encoding/json's rules ([]byte fields take the bytes; *big.Int and
// integer fields take integers).
func Decode[T any](v any) (T, error) {
	var out T
	if x, ok := v.(T); ok {
		return x, nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return out, err
	}
	err = json.Unmarshal(data, &out)
	return out, err
}
