package bond

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
)

// A Handle is a live object kept in the interpreter: the result of Keep,
// CallKeep or New, or of a handle's own ...Keep methods. Pass it as an
// argument (at any depth) to any request of the same bond and the
// interpreter receives the object itself.
//
// The object stays alive until Release, until the Handle becomes
// unreachable in Go (a runtime cleanup asks the interpreter to drop it
// with the next request), or until the bond ends. A handle only ever
// names an object of its own bond: sending it to another bond, or using
// it after Release, fails with ErrForeignHandle or ErrReleased.
type Handle struct {
	b        *Bond
	key      int64
	released atomic.Bool
	cleanup  runtime.Cleanup
}

// newHandle binds a key the driver sent to this bond.
func (b *Bond) newHandle(key int64) *Handle {
	h := &Handle{b: b, key: key}
	h.cleanup = runtime.AddCleanup(h, b.queueRelease, key)
	return h
}

// Bond returns the bond the object lives in.
func (h *Handle) Bond() *Bond { return h.b }

func (h *Handle) String() string {
	return h.b.lang + " handle #" + strconv.FormatInt(h.key, 10)
}

// queueRelease notes a key to drop; the next request carries it.
func (b *Bond) queueRelease(key int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Err() == nil {
		b.releases = append(b.releases, key)
	}
}

// attachReleases adds the queued keys to a request line; it returns them
// so that a request that was not sent can put them back.
func (b *Bond) attachReleases(o *outgoing) []int64 {
	b.mu.Lock()
	keys := b.releases
	b.releases = nil
	b.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	tail := o.line[len(o.line)-2:] // "}\n"
	line := append(o.line[:len(o.line)-2:len(o.line)-2], `,"release":[`...)
	for i, k := range keys {
		if i > 0 {
			line = append(line, ',')
		}
		line = strconv.AppendInt(line, k, 10)
	}
	o.line = append(append(line, ']'), tail...)
	return keys
}

func (b *Bond) requeueReleases(keys []int64) {
	if len(keys) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.releases = append(keys, b.releases...)
}

// Release drops the object in the interpreter. Releasing twice fails with
// ErrReleased; releasing the handle of a bond that has ended does nothing.
func (h *Handle) Release(ctx context.Context) error {
	if h.released.Swap(true) {
		return fmt.Errorf("release %v: %w", h, ErrReleased)
	}
	h.cleanup.Stop()
	if h.b.Err() != nil {
		return nil
	}
	_, err := h.b.do(ctx, "release", func(id int64) (*outgoing, error) {
		return h.b.newReq("release", id).val("handles", []any{h.key}).done()
	})
	if err != nil && h.b.Err() != nil {
		return nil // the bond ended meanwhile, and the object with it
	}
	return err
}

// drop releases the handle with the next request, without waiting.
func (h *Handle) drop() {
	if !h.released.Swap(true) {
		h.cleanup.Stop()
		h.b.queueRelease(h.key)
	}
}

// check refuses a released handle before anything is sent.
func (h *Handle) check(what string) error {
	if h.released.Load() {
		return fmt.Errorf("%s on %v: %w", what, h, ErrReleased)
	}
	return nil
}

// asHandle checks that a kept result is a handle.
func (b *Bond) asHandle(what string, m *message, err error) (*Handle, error) {
	if err != nil {
		return nil, err
	}
	h, ok := m.value.(*Handle)
	if !ok {
		b.fail(protocolErrorf("%s: a kept result is not a handle", what), true)
		return nil, b.brokenErr()
	}
	return h, nil
}

// Keep evaluates an expression and keeps its value in the interpreter.
func (b *Bond) Keep(ctx context.Context, code string) (*Handle, error) {
	m, err := b.do(ctx, "eval", func(id int64) (*outgoing, error) {
		return b.newReq("eval", id).str("code", code).keep(true).done()
	})
	return b.asHandle("eval", m, err)
}

// CallKeep calls a remote function, like Call, and keeps its result.
func (b *Bond) CallKeep(ctx context.Context, name string, args ...any) (*Handle, error) {
	m, err := b.do(ctx, "call "+truncate(name, 60), func(id int64) (*outgoing, error) {
		return b.newReq("call", id).str("name", name).args("args", args).keep(true).done()
	})
	return b.asHandle("call", m, err)
}

// New creates an instance of a remote class and keeps it: Python and
// JavaScript call or construct class, PHP uses new, Perl calls
// class->new(args).
func (b *Bond) New(ctx context.Context, class string, args ...any) (*Handle, error) {
	m, err := b.do(ctx, "new "+truncate(class, 60), func(id int64) (*outgoing, error) {
		return b.newReq("new", id).str("name", class).args("args", args).keep(true).done()
	})
	return b.asHandle("new", m, err)
}

// handleReq runs an op on the handle's object.
func (h *Handle) handleReq(ctx context.Context, op, name string, build func(r *reqBuilder) *reqBuilder) (*message, error) {
	what := op
	if name != "" {
		what += " " + truncate(name, 60)
	}
	if err := h.check(what); err != nil {
		return nil, err
	}
	return h.b.do(ctx, what, func(id int64) (*outgoing, error) {
		r := h.b.newReq(op, id).int("handle", h.key)
		if build != nil {
			r = build(r)
		}
		return r.done()
	})
}

func valueOf(m *message, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return m.value, nil
}

// Call calls the object's method name.
func (h *Handle) Call(ctx context.Context, method string, args ...any) (any, error) {
	return valueOf(h.method(ctx, method, args, false))
}

// CallKeep calls the object's method name and keeps the result.
func (h *Handle) CallKeep(ctx context.Context, method string, args ...any) (*Handle, error) {
	m, err := h.method(ctx, method, args, true)
	return h.b.asHandle("method", m, err)
}

func (h *Handle) method(ctx context.Context, method string, args []any, keep bool) (*message, error) {
	return h.handleReq(ctx, "method", method, func(r *reqBuilder) *reqBuilder {
		return r.str("name", method).args("args", args).keep(keep)
	})
}

// Get reads an attribute or property.
func (h *Handle) Get(ctx context.Context, name string) (any, error) {
	return valueOf(h.get(ctx, name, false))
}

// GetKeep reads an attribute or property and keeps it.
func (h *Handle) GetKeep(ctx context.Context, name string) (*Handle, error) {
	m, err := h.get(ctx, name, true)
	return h.b.asHandle("get", m, err)
}

func (h *Handle) get(ctx context.Context, name string, keep bool) (*message, error) {
	return h.handleReq(ctx, "get", name, func(r *reqBuilder) *reqBuilder { return r.str("name", name).keep(keep) })
}

// Set sets an attribute or property.
func (h *Handle) Set(ctx context.Context, name string, v any) error {
	_, err := h.handleReq(ctx, "set", name, func(r *reqBuilder) *reqBuilder { return r.str("name", name).val("value", v) })
	return err
}

// Len returns the object's length (len, count, the size of an array or
// hash, .length or .size).
func (h *Handle) Len(ctx context.Context) (int64, error) {
	m, err := h.handleReq(ctx, "len", "", nil)
	if err != nil {
		return 0, err
	}
	n, ok := m.value.(int64)
	if !ok {
		return 0, &SerializationError{Side: Local, Language: h.b.lang, Type: "int64",
			Message: fmt.Sprintf("the length is not an integer: %T", m.value)}
	}
	return n, nil
}

// Operators for Handle.Op. The object is the left operand.
const (
	OpAdd      = "add"
	OpSub      = "sub"
	OpMul      = "mul"
	OpDiv      = "div"
	OpMod      = "mod"
	OpEq       = "eq"
	OpNe       = "ne"
	OpLt       = "lt"
	OpLe       = "le"
	OpGt       = "gt"
	OpGe       = "ge"
	OpContains = "contains" // the operand is in the object
	OpGetItem  = "getitem"  // object[operand]
	OpStr      = "str"      // the string form; no operand
)

// Op applies an operator to the object and an optional right operand,
// which may itself be a handle.
func (h *Handle) Op(ctx context.Context, op string, operand ...any) (any, error) {
	return valueOf(h.op(ctx, op, operand, false))
}

// OpKeep is Op keeping the result.
func (h *Handle) OpKeep(ctx context.Context, op string, operand ...any) (*Handle, error) {
	m, err := h.op(ctx, op, operand, true)
	return h.b.asHandle("op", m, err)
}

func (h *Handle) op(ctx context.Context, op string, operand []any, keep bool) (*message, error) {
	if len(operand) > 1 {
		return nil, fmt.Errorf("op %s on %v: at most one operand, got %d", op, h, len(operand))
	}
	return h.handleReq(ctx, "op", op, func(r *reqBuilder) *reqBuilder {
		return r.str("name", op).val("args", operand).keep(keep)
	})
}

// Value returns a plain copy of the object: itself when it is plain data,
// else its language's JSON form (toJSON, JsonSerializable, TO_JSON, ...).
func (h *Handle) Value(ctx context.Context) (any, error) {
	return valueOf(h.handleReq(ctx, "value", "", nil))
}
