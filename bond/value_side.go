package bond

import (
	"fmt"
	"io"
	"os"
	"strconv"
)

// handle writes a handle of the bond the value goes to.
func (e *encoder) handle(h *Handle) error {
	if h == nil {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	switch {
	case e.b == nil || h.b != e.b:
		return &SerializationError{Side: Local, Type: "*bond.Handle", Err: ErrForeignHandle,
			Message: fmt.Sprintf("a handle of a %s bond cannot travel to another bond", h.b.lang)}
	case h.released.Load():
		return &SerializationError{Side: Local, Type: "*bond.Handle", Err: ErrReleased,
			Message: "the handle was released"}
	}
	e.buf = append(e.buf, `{"$handle":`...)
	e.buf = strconv.AppendInt(e.buf, h.key, 10)
	e.buf = append(e.buf, '}')
	return nil
}

// file passes an open file read-only: its descriptor when the driver takes
// descriptors, else its contents.
func (e *encoder) file(f *os.File) error {
	if f == nil {
		e.buf = append(e.buf, "null"...)
		return nil
	}
	if e.b == nil {
		return localSerialization("*os.File", "a file can only be passed as an argument of a bond call")
	}
	r, err := reopenReadOnly(f)
	if err != nil {
		return &SerializationError{Side: Local, Type: "*os.File", Err: err,
			Message: fmt.Sprintf("cannot reopen %s read-only: %v", f.Name(), err)}
	}
	if e.b.hasFDs() {
		e.buf = append(e.buf, `{"$fd":`...)
		e.buf = strconv.AppendInt(e.buf, int64(len(e.files)), 10)
		e.buf = append(e.buf, '}')
		e.files = append(e.files, r)
		return nil
	}
	data, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil {
		return &SerializationError{Side: Local, Type: "*os.File", Err: err,
			Message: fmt.Sprintf("cannot read %s: %v", f.Name(), err)}
	}
	e.buf = append(e.buf, `{"$file":`...)
	e.bytes(data)
	e.buf = append(e.buf, '}')
	return nil
}

// out hands the encoded line and what follows it to the writer; on an
// encoding error it releases the reopened files.
func (e *encoder) out(err error) (*outgoing, error) {
	o := &outgoing{line: e.buf, blobs: e.blobs, files: e.files}
	if err != nil {
		o.closeFiles()
		return nil, err
	}
	return o, nil
}
