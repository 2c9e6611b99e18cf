package drivers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"
)

// A CompileFunc builds a preamble that the interpreter at the resolved path
// interp loads faster than stage 2's source (see [Driver.PreambleFor]). It
// runs on the host.
type CompileFunc func(ctx context.Context, interp string, code []byte) ([]byte, error)

// A LocalStart is a faster way to start stage 2 in an interpreter that the
// host runs itself, as a plain child process (see [Driver.LocalStartFor]):
// Args go after the driver's default arguments, before the user's, and
// Preamble is written instead of [Driver.PreambleFor]'s. A LocalStart may
// name files on the host, so no launcher that runs the interpreter
// elsewhere (a container, another host) may use it.
type LocalStart struct {
	Args     []string
	Preamble []byte
}

// A LocalFunc prepares a [LocalStart] for the interpreter at the resolved
// path interp. It runs on the host.
type LocalFunc func(ctx context.Context, interp string, code []byte) (*LocalStart, error)

// buildTimeout bounds one run of a driver's Compile or Local function.
const buildTimeout = 30 * time.Second

// built holds what Compile and Local functions built, one entry per kind,
// driver, resolved interpreter and stage 2; an entry without a value means
// that none could be built (and the source is used).
var built sync.Map // buildKey -> *buildEntry

// buildKey names stage 2 by the identity of its bytes (where they start
// and how many), not their contents, so that a start neither copies nor
// hashes them. The pointer keeps those bytes alive, so it is never reused
// for other code.
type buildKey struct {
	kind, name, interp string
	code               *byte
	codeLen            int
}

type buildEntry struct {
	done   chan struct{} // closed once val and err are set
	val    any           // []byte (Compile) or *LocalStart (Local); nil when the build failed
	err    error
	source func() []byte // the driver's Preamble, built on first use
}

// entry returns the build of kind for interp, starting it in the
// background the first time: it runs for at most buildTimeout, whatever
// becomes of ctx.
func (d *Driver) entry(ctx context.Context, kind, interp string, build func(ctx context.Context) (any, error)) *buildEntry {
	key := buildKey{kind, d.Name, interp, unsafe.SliceData(d.Code), len(d.Code)}
	if v, ok := built.Load(key); ok {
		return v.(*buildEntry)
	}
	code := d.Code
	e := &buildEntry{done: make(chan struct{}), source: sync.OnceValue(func() []byte { return sourcePreamble(code) })}
	v, loaded := built.LoadOrStore(key, e)
	if !loaded {
		go func() {
			defer close(e.done)
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), buildTimeout)
			defer cancel()
			if v, err := build(bctx); err == nil {
				e.val = v
			} else {
				e.err = err
			}
		}()
	}
	return v.(*buildEntry)
}

func (d *Driver) compileEntry(ctx context.Context, interp string) *buildEntry {
	compile := d.Compile
	code := d.Code
	return d.entry(ctx, "compile", interp, func(ctx context.Context) (any, error) {
		return compile(ctx, interp, code)
	})
}

func (d *Driver) localEntry(ctx context.Context, interp string) *buildEntry {
	local := d.Local
	code := d.Code
	return d.entry(ctx, "local", interp, func(ctx context.Context) (any, error) {
		return local(ctx, interp, code)
	})
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
	e := d.compileEntry(ctx, interp)
	select {
	case <-e.done:
		if e.val != nil {
			return e.val.([]byte)
		}
	case <-ctx.Done():
	}
	return e.source()
}

// localWait is how long LocalStartFor waits for a build in progress: long
// enough for one that finds its work already done on disk, by an earlier
// program, and shorter than what a local start saves.
const localWait = 2 * time.Millisecond

// LocalStartFor returns the driver's [LocalStart] for the interpreter at
// the resolved path interp, or nil when it has none. The first call starts
// building it in the background (once per interpreter, stage 2 and
// program, for at most 30 seconds). Unlike PreambleFor it hardly waits: a
// call made while the build runs waits for it at most 2 ms (enough when an
// earlier program left its work on disk) and then returns nil, so that
// start uses PreambleFor. When it cannot be built, every call returns nil.
// Use [Driver.Prepare] to wait for it. The result is shared: callers must
// not modify it.
func (d *Driver) LocalStartFor(ctx context.Context, interp string) *LocalStart {
	if d.Local == nil || interp == "" {
		return nil
	}
	e := d.localEntry(ctx, interp)
	select {
	case <-e.done:
	default:
		t := time.NewTimer(localWait)
		defer t.Stop()
		select {
		case <-e.done:
		case <-t.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
	if e.val != nil {
		return e.val.(*LocalStart)
	}
	return nil
}

// Prepare builds, now, what the driver builds on the host for the
// interpreter at the resolved path interp (a compiled preamble, a local
// start), so that the next starts use it, and waits for it until ctx ends.
// It returns why something could not be built; starts then use the source.
// A program that starts its first bonds in a hurry can call it beforehand.
func (d *Driver) Prepare(ctx context.Context, interp string) error {
	if interp == "" {
		return nil
	}
	var es []*buildEntry
	if d.Compile != nil {
		es = append(es, d.compileEntry(ctx, interp))
	}
	if d.Local != nil {
		es = append(es, d.localEntry(ctx, interp))
	}
	var errs []error
	for _, e := range es {
		select {
		case <-e.done:
			if e.err != nil {
				errs = append(errs, fmt.Errorf("prepare %s for %s: %w", d.Name, interp, e.err))
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}
