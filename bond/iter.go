package bond

import (
	"context"
	"iter"
)

// DefaultChunk is how many items an iterator fetches per request when the
// caller does not say.
const DefaultChunk = 256

const maxChunk = 65536

// Items iterates over the object (a list, a generator, any iterable) in
// the interpreter, fetching chunk items per request as the loop consumes
// them: a generator runs only as far as the loop goes. Breaking out of the
// loop drops the remote iterator. An error ends the sequence with one
// (nil, err) pair.
func (h *Handle) Items(ctx context.Context, chunk int) iter.Seq2[any, error] {
	return func(yield func(any, error) bool) {
		h.items(ctx, chunk, false, func(v any) bool { return yield(v, nil) }, func(err error) { yield(nil, err) })
	}
}

// Handles iterates like Items and keeps every item as a handle.
func (h *Handle) Handles(ctx context.Context, chunk int) iter.Seq2[*Handle, error] {
	return func(yield func(*Handle, error) bool) {
		h.items(ctx, chunk, true, func(v any) bool {
			x, ok := v.(*Handle)
			if !ok {
				h.b.fail(protocolErrorf("next: a kept item is not a handle"), true)
				yield(nil, h.b.brokenErr())
				return false
			}
			return yield(x, nil)
		}, func(err error) { yield(nil, err) })
	}
}

func (h *Handle) items(ctx context.Context, chunk int, keep bool, each func(any) bool, fail func(error)) {
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	chunk = min(chunk, maxChunk)
	m, err := h.handleReq(ctx, "iter", "", nil)
	it, err := h.b.asHandle("iter", m, err)
	if err != nil {
		fail(err)
		return
	}
	defer it.drop()
	for {
		m, err := it.handleReq(ctx, "next", "", func(r *reqBuilder) *reqBuilder {
			return r.int("count", int64(chunk)).keep(keep)
		})
		if err != nil {
			fail(err)
			return
		}
		items, ok := m.value.([]any)
		if !ok || len(items) > chunk {
			h.b.fail(protocolErrorf("next: the reply is not an array of at most %d items", chunk), true)
			fail(h.b.brokenErr())
			return
		}
		for i, v := range items {
			if !each(v) {
				dropAll(items[i+1:])
				return
			}
		}
		if len(items) < chunk {
			return
		}
	}
}

// dropAll releases kept items the loop will never see.
func dropAll(items []any) {
	for _, v := range items {
		if x, ok := v.(*Handle); ok {
			x.drop()
		}
	}
}

// Iter evaluates an expression that yields an iterable (a generator, a
// list, a query cursor) and iterates over it like Handle.Items.
func (b *Bond) Iter(ctx context.Context, code string, chunk int) iter.Seq2[any, error] {
	return func(yield func(any, error) bool) {
		h, err := b.Keep(ctx, code)
		if err != nil {
			yield(nil, err)
			return
		}
		defer h.drop()
		for v, err := range h.Items(ctx, chunk) {
			if !yield(v, err) {
				return
			}
		}
	}
}
