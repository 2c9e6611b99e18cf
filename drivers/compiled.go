package drivers

import (
	"context"
	"sync"
)

// A CompileFunc builds a preamble that the interpreter at the resolved path
// interp loads faster than stage 2's source (see [Driver.PreambleFor]). It
// runs on the host.
type CompileFunc func(ctx context.Context, interp string, code []byte) ([]byte, error)

// compiledPreambles holds the preambles built by Compile functions, one per
// driver, resolved interpreter and stage 2; a nil preamble means that none
// could be built and the source is used.
var compiledPreambles sync.Map // compiledKey -> *compiledEntry

type compiledKey struct{ name, interp, code string }

type compiledEntry struct {
	done     chan struct{} // closed once preamble is set
	preamble []byte
}

// PreambleFor returns what the host writes first on the protocol channel
// of an interpreter started from the resolved path interp ("" when the
// interpreter is not known, as with a command that a shell or a remote
// host runs): the driver's compiled preamble for that interpreter when it
// has one, else [Driver.Preamble].
//
// The compiled preamble is built once per interpreter, stage 2 and program
// by the driver's Compile function, which runs the interpreter on the
// host; callers that need it meanwhile wait for it, or use Preamble when
// ctx ends first. When it cannot be built, Preamble is used from then on.
// A compiled preamble must still work when another interpreter runs it
// (a container launcher may swap the interpreter): the driver checks
// that it matches and otherwise runs the source, which the preamble
// carries too. The result is shared: callers must not modify it.
func (d *Driver) PreambleFor(ctx context.Context, interp string) []byte {
	if d.Compile == nil || interp == "" {
		return d.Preamble()
	}
	key := compiledKey{d.Name, interp, string(d.Code)}
	v, ok := compiledPreambles.Load(key)
	if !ok {
		e := &compiledEntry{done: make(chan struct{})}
		if v, ok = compiledPreambles.LoadOrStore(key, e); !ok {
			p, err := d.Compile(ctx, interp, d.Code)
			switch {
			case err == nil:
				e.preamble = p
			case ctx.Err() != nil:
				compiledPreambles.Delete(key) // cut short: a later start tries again
			}
			close(e.done)
			v = e
		}
	}
	e := v.(*compiledEntry)
	select {
	case <-e.done:
		if e.preamble != nil {
			return e.preamble
		}
	case <-ctx.Done():
	}
	return d.Preamble()
}
