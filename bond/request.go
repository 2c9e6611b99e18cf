package bond

import (
	"fmt"
	"strconv"
)

// reqBuilder writes one request line member by member; the first error
// sticks and the line is then dropped.
type reqBuilder struct {
	e   encoder
	err error
}

func (b *Bond) newReq(op string, id int64) *reqBuilder {
	r := &reqBuilder{e: encoder{b: b, buf: make([]byte, 0, 96)}}
	r.e.buf = fmt.Appendf(r.e.buf, `{"op":%q,"id":%d`, op, id)
	return r
}

func (r *reqBuilder) key(k string) bool {
	if r.err != nil {
		return false
	}
	r.e.buf = append(append(append(r.e.buf, `,"`...), k...), `":`...)
	return true
}

func (r *reqBuilder) str(k, s string) *reqBuilder {
	if r.key(k) {
		r.err = r.e.str(s)
	}
	return r
}

func (r *reqBuilder) int(k string, n int64) *reqBuilder {
	if r.key(k) {
		r.e.buf = strconv.AppendInt(r.e.buf, n, 10)
	}
	return r
}

// args writes an argument list; Refs are allowed in it.
func (r *reqBuilder) args(k string, args []any) *reqBuilder {
	if r.key(k) {
		r.err = r.e.encodeArgs(args)
	}
	return r
}

func (r *reqBuilder) val(k string, v any) *reqBuilder {
	if r.key(k) {
		r.err = r.e.value(v, 0)
	}
	return r
}

// keep asks the driver to keep the result as a handle.
func (r *reqBuilder) keep(on bool) *reqBuilder {
	if on && r.key("keep") {
		r.e.buf = append(r.e.buf, "true"...)
	}
	return r
}

func (r *reqBuilder) done() (*outgoing, error) {
	if r.err == nil {
		r.e.buf = append(r.e.buf, "}\n"...)
	}
	return r.e.out(r.err)
}

// lineOnly wraps a line that has nothing on the side channel.
func lineOnly(line []byte, err error) (*outgoing, error) {
	if err != nil {
		return nil, err
	}
	return &outgoing{line: line}, nil
}
