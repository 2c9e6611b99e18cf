package drivers

import (
	"context"
	"sync"
	"time"
	"unsafe"
)

// A CompileFunc builds a preamble that the interpreter at the resolved path
// interp loads faster than stage 2's source (see [Driver.PreambleFor]). It
// runs on the host.
type CompileFunc func(ctx context.Context, interp string, code []byte) ([]byte, error)

// compileTimeout bounds one run of a driver's Compile function.
const compileTimeout = 30 * time.Second

// compiledPreambles holds the preambles built by Compile functions, one per
// driver, resolved interpreter and stage 2; a nil preamble means that none
// could be built and the source is used.
var compiledPreambles sync.Map // compiledKey -> *compiledEntry

// compiledKey names stage 2 by the identity of its bytes (where they start
// and how many), not their contents, so that a start neither copies nor
// hashes them. The pointer keeps those bytes alive, so it is never reused
// for other code.
type compiledKey struct {
	name, interp string
	code         *byte
	codeLen      int
}

type compiledEntry struct {
	done     chan struct{} // closed once preamble is set
	preamble []byte
	source   func() []byte // the driver's Preamble, built on first use
}

// PreambleFor returns what the host writes first on the protocol channel
// of an interpreter started from the resolved path interp ("" when the
// interpreter is not known, as with a command that a shell or a remote
// host runs): the driver's compiled preamble for that interpreter when it
// has one, else [Driver.Preamble].
//
// The compiled preamble is built once per interpreter, stage 2 and program
// by the driver's Compile function, which runs the interpreter on the
// host, in the background and for at most 30 seconds, whatever becomes of
// ctx; callers that need it meanwhile wait for it, or use Preamble when
// ctx ends first. When it cannot be built, Preamble is used from then on.
// Stage 2 is known by its slice, not its contents: Code must not be
// modified once PreambleFor has used it (assign a new slice instead).
// A compiled preamble must still work when another interpreter runs it
// (a container launcher may swap the interpreter): the driver checks
// that it matches and otherwise runs the source, which the preamble
// carries too. The result is shared: callers must not modify it.
func (d *Driver) PreambleFor(ctx context.Context, interp string) []byte {
	if d.Compile == nil || interp == "" {
		return d.Preamble()
	}
	key := compiledKey{d.Name, interp, unsafe.SliceData(d.Code), len(d.Code)}
	v, ok := compiledPreambles.Load(key)
	if !ok {
		compile, code := d.Compile, d.Code
		e := &compiledEntry{done: make(chan struct{}), source: sync.OnceValue(func() []byte { return sourcePreamble(code) })}
		if v, ok = compiledPreambles.LoadOrStore(key, e); !ok {
			go func() {
				defer close(e.done)
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), compileTimeout)
				defer cancel()
				if p, err := compile(cctx, interp, code); err == nil {
					e.preamble = p
				}
			}()
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
	return e.source()
}
