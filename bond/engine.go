package bond

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"
)

// A Func is a Go function exported to the interpreter. It receives the
// arguments as decoded values (see the package documentation) and a context
// through which it may call the same bond again (a nested call).
type Func func(ctx context.Context, args []any) (any, error)

// frameKey marks, in a context, the callback frame an exported function
// runs in; a call made with such a context nests instead of queueing.
type frameKey struct{ b *Bond }

// frame is a callback in progress. Its lock serializes nested calls made
// through it (an exported function may hand its context to goroutines).
type frame struct {
	lock   chan struct{}
	active atomic.Bool
}

func newFrame() *frame {
	f := &frame{lock: make(chan struct{}, 1)}
	f.active.Store(true)
	return f
}

// enter takes the lock of the frame ctx names, if that frame is still
// active; it reports false for a top-level call.
func (b *Bond) enter(ctx context.Context) (lock chan struct{}, nested bool, err error) {
	if f, _ := ctx.Value(frameKey{b}).(*frame); f != nil && f.active.Load() {
		if err := acquire(ctx, f.lock); err != nil {
			return nil, false, err
		}
		if f.active.Load() {
			return f.lock, true, nil
		}
		<-f.lock // the callback ended meanwhile: this is a top-level call
	}
	if err := acquire(ctx, b.sem); err != nil {
		return nil, false, err
	}
	return b.sem, false, nil
}

func acquire(ctx context.Context, lock chan struct{}) error {
	select {
	case lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// request sends one request built by line and waits for its reply, serving
// the interpreter's calls to exported functions meanwhile.
func (b *Bond) request(ctx context.Context, what string, line func(id int64) (*outgoing, error)) (*message, error) {
	if err := b.Err(); err != nil {
		return nil, err
	}
	if b.opts.Timeout > 0 {
		if f, _ := ctx.Value(frameKey{b}).(*frame); f == nil {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, b.opts.Timeout)
			defer cancel()
		}
	}
	lock, nested, err := b.enter(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s %s: waiting for the bond: %w", b.lang, what, err)
	}
	defer func() { <-lock }()
	if !nested {
		defer b.clearTokens()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", b.lang, what, err)
	}
	id := b.nextID.Add(1)
	o, err := line(id)
	if err != nil {
		var se *SerializationError
		if errors.As(err, &se) {
			se.Language = b.lang
		}
		return nil, err
	}
	released := b.attachReleases(o)
	if err := b.send(ctx, o, true); err != nil {
		b.requeueReleases(released)
		return nil, err
	}
	if !nested { // nested calls read under the baton of the call they nest in
		if err := b.takeBaton(); err != nil {
			return nil, err
		}
		defer b.releaseBaton()
	}
	m, err := b.await(ctx, id)
	if err == nil && m.op == "error" {
		return nil, b.replyError(m.err) // before the tokens are cleared
	}
	return m, err
}

// await reads messages until the reply to id arrives.
func (b *Bond) await(ctx context.Context, id int64) (*message, error) {
	stop := b.watchContext(ctx)
	defer stop()
	toldCancel := false // a call was answered with the cancellation
	for {
		m, err := b.readMessage(ctx, time.Time{}, false)
		if errors.Is(err, errContextDone) {
			return nil, b.interrupt(ctx, id, toldCancel)
		}
		if err != nil {
			return nil, err
		}
		switch m.op {
		case "return", "error":
			if m.id != id {
				b.fail(protocolErrorf("reply to request %d while %d is outstanding", m.id, id), true)
				return nil, b.brokenErr()
			}
			return m, nil
		case "call":
			b.serveCall(ctx, m)
			toldCancel = ctx.Err() != nil
		default:
			b.fail(protocolErrorf("unexpected %q message", m.op), true)
			return nil, b.brokenErr()
		}
	}
}

// interruptEvery is how often an interrupt is repeated until the
// interpreter answers or the grace period ends.
const interruptEvery = 250 * time.Millisecond

// interrupt handles a cancelled call: a remote Ctrl+C, then up to the
// grace period for the interpreter to answer, then a kill.
//
// When the interpreter has just been told of the cancellation (a call it
// made was answered with it), the first Ctrl+C waits interruptEvery: the
// cancellation usually unwinds the request by itself, and a signal sent
// while the reply is on its way can arrive late. Node.js, whose signal
// is turned into a termination by a helper thread, would then stop the
// next request instead.
func (b *Bond) interrupt(ctx context.Context, id int64, told bool) error {
	cause := ctx.Err()
	b.log.Debug("interrupting call", "id", id, "cause", cause, "told", told)
	if !told {
		if err := b.proc.Interrupt(); err != nil {
			b.log.Warn("interrupt failed", "err", err)
		}
	}
	// The interrupt is sent again every interruptEvery: a driver ignores
	// one that arrives outside user code (just before it starts, say), and
	// some interpreters retry a blocking read after one signal.
	deadline := time.Now().Add(b.opts.GracePeriod)
	next := time.Now().Add(interruptEvery)
	wake := func() time.Time {
		if next.Before(deadline) {
			return next
		}
		return deadline
	}
	_ = b.fromInterp.SetReadDeadline(wake())
	defer func() { _ = b.fromInterp.SetReadDeadline(time.Time{}) }()
	for {
		m, err := b.readMessage(context.Background(), wake(), false)
		switch {
		case errors.Is(err, errGraceOver) && time.Now().Before(deadline):
			if err := b.proc.Interrupt(); err != nil {
				b.log.Warn("interrupt failed", "err", err)
			}
			next = time.Now().Add(interruptEvery)
			_ = b.fromInterp.SetReadDeadline(wake())
		case errors.Is(err, errGraceOver):
			b.fail(fmt.Errorf("%s interpreter ignored an interrupt for %v and was killed: %w",
				b.lang, b.opts.GracePeriod, ErrTerminated), true)
			return errors.Join(cause, b.brokenErr())
		case err != nil:
			return errors.Join(cause, err)
		case m.op == "call":
			b.reply(context.Background(), errorLine(m.id, "Canceled", "the host call was cancelled: "+cause.Error(), ""))
		case m.op == "return" && m.id == id:
			return fmt.Errorf("%s call interrupted: %w", b.lang, cause)
		case m.op == "error" && m.id == id:
			return fmt.Errorf("%s call interrupted: %w: %w", b.lang, cause, b.replyError(m.err))
		default:
			b.fail(protocolErrorf("unexpected %q message after an interrupt", m.op), true)
			return errors.Join(cause, b.brokenErr())
		}
	}
}

// serveCall runs an exported function for the interpreter and replies.
func (b *Bond) serveCall(ctx context.Context, m *message) {
	if err := ctx.Err(); err != nil {
		b.reply(ctx, errorLine(m.id, "Canceled", "the host call was cancelled: "+err.Error(), ""))
		return
	}
	b.mu.Lock()
	fn := b.exports[m.name]
	b.mu.Unlock()
	if fn == nil {
		b.reply(ctx, errorLine(m.id, "NameError", fmt.Sprintf("%v: %q", ErrNoExport, m.name), ""))
		return
	}
	f := newFrame()
	v, err := b.runExport(context.WithValue(ctx, frameKey{b}, f), fn, m)
	f.lock <- struct{}{} // wait for nested calls through f, then retire it
	f.active.Store(false)
	<-f.lock
	if err == nil {
		o, encErr := b.returnLine(m.id, v)
		if encErr == nil {
			if err := b.send(context.WithoutCancel(ctx), o, true); err != nil {
				b.log.Debug("reply not sent", "err", err)
			}
			return
		}
		err = encErr
	}
	b.reply(ctx, errorLine(m.id, errorTypeName(err), err.Error(), b.addToken(err)))
}

func (b *Bond) runExport(ctx context.Context, fn Func, m *message) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("exported function panicked", "name", m.name, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("exported function %s panicked: %v", m.name, r)
		}
	}()
	return fn(ctx, m.args)
}

func (b *Bond) reply(ctx context.Context, line []byte) {
	if err := b.write(context.WithoutCancel(ctx), line, true); err != nil {
		b.log.Debug("reply not sent", "err", err)
	}
}

func errorTypeName(err error) string {
	switch {
	case errors.Is(err, ErrSerialization):
		return "SerializationError"
	case errors.Is(err, context.Canceled):
		return "Canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "DeadlineExceeded"
	case errors.Is(err, ErrRemote):
		return "RemoteError"
	}
	return "GoError"
}

// addToken remembers an error sent into the interpreter so that, if it
// comes back uncaught, the RemoteError can carry it as its Cause.
func (b *Bond) addToken(err error) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokenSeq++
	t := "g" + strconv.FormatInt(b.tokenSeq, 10)
	b.tokens[t] = err
	return t
}

func (b *Bond) clearTokens() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.tokens)
}

// replyError turns an error reply into a Go error.
func (b *Bond) replyError(e *wireError) error {
	if e.Kind == "serialization" {
		return &SerializationError{Side: Remote, Language: b.lang, Type: e.Type, Message: e.Message}
	}
	re := &RemoteError{Language: b.lang, Type: e.Type, Message: e.Message, Traceback: e.Traceback}
	if e.Token != "" {
		b.mu.Lock()
		re.Cause = b.tokens[e.Token]
		b.mu.Unlock()
	}
	return re
}
