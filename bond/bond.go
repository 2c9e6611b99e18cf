package bond

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sandbond/sandbond/drivers"
)

// A Bond is a live interpreter that Go code calls into. It is safe for
// concurrent use: unrelated goroutines queue up, calls made from exported
// functions through the context they receive nest.
type Bond struct {
	lang string
	info string
	opts Options
	log  *slog.Logger
	proc Process

	toInterp   *os.File
	fromInterp *os.File
	pipes      []*os.File // parent ends of stdout/stderr pipes
	side       *side      // nil without a side channel
	writeMu    sync.Mutex

	sem chan struct{} // held by the top-level call in progress

	// Reading: whoever holds the baton reads the protocol stream. A call
	// reads its own reply (one wake-up per reply); between calls, after
	// idleDelay, an idle reader takes over so that output is forwarded and
	// a dying interpreter noticed. A caller kicks it out with a read
	// deadline. pending holds a message the idle reader read for the next
	// caller.
	lines     *lineReader
	baton     chan struct{}
	pending   *message
	kick      atomic.Bool
	idleMu    sync.Mutex
	idleTimer *time.Timer
	closing   bool

	dead     chan struct{} // closed when the bond is broken or closed
	deadErr  error
	deadOnce sync.Once

	exited  chan struct{} // closed when Process.Wait returned
	exitErr error

	nextID   atomic.Int64
	mu       sync.Mutex
	exports  map[string]Func
	tokens   map[string]error
	tokenSeq int64
	releases []int64 // handle keys to drop with the next request

	out        *outputs
	goroutines sync.WaitGroup
	closeOnce  sync.Once
}

// Open starts an interpreter for a language ("python", "php", "perl",
// "node" or an alias) and returns a bond to it once its driver is ready.
// ctx bounds the start only. opts may be nil.
func Open(ctx context.Context, lang string, opts *Options) (*Bond, error) {
	o := opts.withDefaults()
	drv := o.Driver
	if drv == nil {
		var err error
		if drv, err = drivers.Lookup(lang); err != nil {
			return nil, fmt.Errorf("open bond: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	b, err := start(ctx, drv, o)
	if err != nil {
		return nil, fmt.Errorf("start %s bond: %w", drv.Name, err)
	}
	return b, nil
}

func start(ctx context.Context, drv *drivers.Driver, o Options) (*Bond, error) {
	plan, err := buildSpec(ctx, drv, o)
	if err != nil {
		return nil, err
	}
	spec := plan.spec
	p, err := newPlumbing(o.Channel, !o.NoSideChannel)
	if err != nil {
		return nil, err
	}
	spec.Files = p.childFiles()
	if p.side != nil {
		spec.Env = append(slices.Clip(spec.Env), sideEnv)
	}
	proc, err := plan.launcher.Launch(ctx, spec)
	p.closeChildEnds()
	if err != nil {
		p.closeParentEnds()
		return nil, err
	}
	b := &Bond{
		lang: drv.Name, opts: o, log: o.Logger.With("lang", drv.Name, "pid", proc.Pid()), proc: proc,
		toInterp: p.toInterp, fromInterp: p.fromInterp, pipes: p.outputs(),
		sem: make(chan struct{}, 1), baton: make(chan struct{}, 1),
		lines: newLineReader(p.fromInterp, o.MaxMessageBytes),
		dead:  make(chan struct{}), exited: make(chan struct{}),
		exports: map[string]Func{}, tokens: map[string]error{},
		side: p.side,
	}
	b.out = newOutputs(o.Stdout, o.Stderr, o.MaxOutputBytes, b.outputLimitHit)
	b.log.Debug("interpreter started", "argv0", spec.Argv[0])
	b.goroutines.Add(1)
	go b.waitLoop()
	b.startCopiers(p)
	b.baton <- struct{}{}
	err = b.handshake(ctx, drv, plan.interp, plan.local)
	b.releaseBaton()
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// handshake sends stage 2 and waits for the driver's ready. The interpreter
// is already starting, so a preamble built at the first start of interp
// (drivers.Driver.PreambleFor) is built meanwhile. A local start brings
// its own preamble.
func (b *Bond) handshake(ctx context.Context, drv *drivers.Driver, interp string, local *drivers.LocalStart) error {
	var preamble []byte
	if local != nil {
		preamble = local.Preamble
	} else {
		preamble = drv.PreambleFor(ctx, interp)
	}
	if err := b.write(ctx, preamble, false); err != nil {
		if b.Err() != nil && ctx.Err() == nil {
			// The interpreter ended before it read all of a preamble
			// larger than the pipe: say why, as when it ends before ready.
			return err
		}
		return fmt.Errorf("send driver: %w", err)
	}
	stop := b.watchContext(ctx)
	defer stop()
	m, err := b.readMessage(ctx, time.Time{}, false)
	switch {
	case errors.Is(err, errContextDone):
		b.fail(fmt.Errorf("interpreter not ready: %w", ctx.Err()), true)
		return b.brokenErr()
	case err != nil:
		return err
	default:
		if m.op != "ready" {
			b.fail(protocolErrorf("first message is %q, not ready", m.op), true)
			return b.brokenErr()
		}
		if m.version != protocolVersion {
			b.fail(protocolErrorf("driver speaks protocol version %d, not %d", m.version, protocolVersion), true)
			return b.brokenErr()
		}
		if m.language != drv.Name {
			b.fail(protocolErrorf("driver says it is %q, not %q", truncate(m.language, 40), drv.Name), true)
			return b.brokenErr()
		}
		b.info = m.info
		if b.side != nil {
			b.side.blob = slices.Contains(m.side, "blob")
			b.side.fd = slices.Contains(m.side, "fd")
		}
		return nil
	}
}

// Language returns the driver's language name.
func (b *Bond) Language() string { return b.lang }

// Info returns what the driver said of its interpreter ("CPython 3.11.7").
func (b *Bond) Info() string { return b.info }

// Pid returns the interpreter's process id on the host, 0 when unknown.
func (b *Bond) Pid() int { return b.proc.Pid() }

// Done is closed when the bond can no longer be used: closed, terminated
// or broken. Err then says why.
func (b *Bond) Done() <-chan struct{} { return b.dead }

// Err returns nil while the bond is usable, and afterwards why it is not.
func (b *Bond) Err() error {
	select {
	case <-b.dead:
		return b.deadErr
	default:
		return nil
	}
}

// fail marks the bond broken with err (the first error wins) and, when
// kill is set, kills the interpreter.
func (b *Bond) fail(err error, kill bool) {
	b.deadOnce.Do(func() {
		b.deadErr = err
		close(b.dead)
		_ = b.fromInterp.SetReadDeadline(time.Now()) // wake the reader
		if b.side != nil {                           // and a blob transfer either way
			_ = b.side.blobR.SetReadDeadline(time.Now())
			_ = b.side.blobW.SetWriteDeadline(time.Now())
		}
		if !errors.Is(err, ErrClosed) {
			b.log.Warn("bond broken", "err", err)
		}
	})
	if kill {
		_ = b.proc.Kill()
	}
}

func (b *Bond) brokenErr() error {
	<-b.dead
	return b.deadErr
}

func (b *Bond) waitLoop() {
	defer b.goroutines.Done()
	b.exitErr = b.proc.Wait()
	close(b.exited)
	b.log.Debug("interpreter exited", "err", b.exitErr)
}

// terminated builds the error for an interpreter that went away.
func (b *Bond) terminated() error {
	select {
	case <-b.exited:
	case <-time.After(b.opts.GracePeriod):
		_ = b.proc.Kill()
		<-b.exited
	}
	b.out.drain(200 * time.Millisecond)
	return &ExitError{Language: b.lang, Err: b.exitErr, Stderr: b.out.stderrTail()}
}

func (b *Bond) outputLimitHit() {
	b.fail(fmt.Errorf("%s interpreter printed more than %d bytes: %w", b.lang, b.opts.MaxOutputBytes, ErrOutputLimit), true)
}

func (b *Bond) trace(dir string, line []byte) {
	if b.opts.Transcript == nil {
		return
	}
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	b.traceLocked(dir, line)
}

// traceLocked writes one transcript line; the caller holds writeMu.
func (b *Bond) traceLocked(dir string, line []byte) {
	if b.opts.Transcript == nil {
		return
	}
	buf := make([]byte, 0, len(dir)+len(line)+1)
	buf = append(append(append(buf, dir...), bytes.TrimSuffix(line, []byte("\n"))...), '\n')
	_, _ = b.opts.Transcript.Write(buf)
}

// write sends bytes to the interpreter. A write cut short by ctx leaves a
// partial message in the stream, so it breaks the bond.
func (b *Bond) write(ctx context.Context, data []byte, traced bool) error {
	return b.send(ctx, &outgoing{line: data}, traced)
}

// send writes a message: its descriptors first, then the line, then its
// blobs. Once anything is sent the rest must follow, so only a message
// cancelled before its first byte leaves the bond intact.
func (b *Bond) send(ctx context.Context, o *outgoing, traced bool) error {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	defer o.closeFiles()
	if err := b.Err(); err != nil {
		return err // not sent, so not traced either
	}
	if len(o.files) > 0 {
		if err := b.sendFiles(o.files); err != nil {
			err = fmt.Errorf("pass %d descriptors to the %s interpreter: %w", len(o.files), b.lang, err)
			b.fail(err, true)
			return err
		}
		ctx = context.WithoutCancel(ctx)
	}
	data := o.line
	n, err := writeWithin(ctx, b.toInterp, data)
	if traced && n > 0 {
		// Under writeMu, so a reply is never traced before its request.
		b.traceLocked("-> ", data[:n])
	}
	if err == nil {
		if len(o.blobs) > 0 {
			return b.writeBlobs(ctx, o.blobs)
		}
		return nil
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("write to %s interpreter: %w", b.lang, ctx.Err())
		if n == 0 {
			return err // nothing was sent: the stream is intact
		}
		b.fail(err, true) // a partial message: the stream is broken
		return err
	}
	b.fail(b.terminated(), false)
	return b.brokenErr()
}

// writeWithin writes data to f, cut short when ctx is done.
func writeWithin(ctx context.Context, f *os.File, data []byte) (int, error) {
	if ctx.Done() == nil { // cannot be cancelled: no watch to set up
		return f.Write(data)
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetWriteDeadline(time.Now()) })
	n, err := f.Write(data)
	if !stop() {
		_ = f.SetWriteDeadline(time.Time{})
	}
	return n, err
}

// Close ends the interpreter: it closes the protocol input (the driver
// exits at EOF), waits up to the grace period, then kills the process and
// everything it started, and reaps it. Calls in progress fail with
// ErrClosed. Close returns nil once everything is released; it is safe to
// call more than once.
func (b *Bond) Close() error {
	b.closeOnce.Do(func() {
		b.idleMu.Lock()
		b.closing = true
		if b.idleTimer != nil {
			b.idleTimer.Stop()
		}
		b.idleMu.Unlock()
		b.fail(fmt.Errorf("%s bond: %w", b.lang, ErrClosed), false)
		b.writeMu.Lock()
		_ = b.toInterp.Close()
		b.writeMu.Unlock()
		select {
		case <-b.exited:
		case <-time.After(b.opts.GracePeriod):
			_ = b.proc.Kill()
			<-b.exited
		}
		b.out.drain(200 * time.Millisecond)
		_ = b.fromInterp.Close()
		b.side.close()
		for _, f := range b.pipes {
			_ = f.Close()
		}
		b.out.copiers.Wait()
		b.goroutines.Wait()
		b.log.Debug("bond closed")
	})
	return nil
}
