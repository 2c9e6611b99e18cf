package bond

import (
	"bytes"
	"context"
	"errors"
	"os"
	"time"
)

// idleDelay is how long the bond stays without a reader after a call; a
// call within it reads without handing the stream over.
const idleDelay = 2 * time.Millisecond

// drainWait bounds reading what has already arrived once a call's context
// is done.
const drainWait = 50 * time.Millisecond

var (
	errContextDone = errors.New("context done")
	errGraceOver   = errors.New("grace period over")
	errKicked      = errors.New("reader kicked")
)

// readMessage returns the next message that is not output, forwarding
// output as it goes. The caller holds the baton. It returns errContextDone
// when ctx is done, errGraceOver when deadline passes, errKicked (idle
// only) when a caller wants the stream, and the bond's error when it breaks.
func (b *Bond) readMessage(ctx context.Context, deadline time.Time, idle bool) (*message, error) {
	if m := b.pending; m != nil {
		b.pending = nil
		return m, nil
	}
	draining := false
	for {
		// Every wake-up (a deadline set by fail, a kick, ctx or the grace
		// timer) is re-checked here after the deadline is re-armed, so
		// none is lost to the re-arming.
		switch {
		case b.Err() != nil:
			return nil, b.brokenErr()
		case idle && b.kick.Load():
			return nil, errKicked
		case ctx.Err() != nil && !draining:
			// Read what has already arrived before giving up: an
			// interrupt sent after the reply was written would land in
			// the next call.
			if !b.dataReady() {
				return nil, errContextDone
			}
			draining = true
			_ = b.fromInterp.SetReadDeadline(time.Now().Add(drainWait))
		case !deadline.IsZero() && !time.Now().Before(deadline):
			return nil, errGraceOver
		}
		line, err := b.lines.next()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if draining {
					return nil, errContextDone
				}
				_ = b.fromInterp.SetReadDeadline(deadline)
				continue
			}
			if errors.Is(err, ErrProtocol) {
				b.fail(err, true)
			} else {
				b.fail(b.terminated(), false)
			}
			return nil, b.brokenErr()
		}
		b.trace("<- ", line)
		m, err := b.parseMessage(line)
		if err != nil {
			b.fail(err, true)
			return nil, b.brokenErr()
		}
		if len(m.blobs) > 0 {
			// The blobs follow the line at once, also for the idle reader
			// (a reply that came while its request's blobs were written).
			// A call already cancelled gives them the grace period.
			bctx := ctx
			if ctx.Err() != nil {
				var cancel context.CancelFunc
				bctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), b.opts.GracePeriod)
				defer cancel()
			}
			if err := b.readBlobs(bctx, m.blobs); err != nil {
				return nil, err
			}
		}
		if m.op == "output" {
			b.out.message(m.fd, m.data)
			if draining && !b.dataReady() {
				return nil, errContextDone
			}
			continue
		}
		if m.valueRaw != nil {
			m.valueRaw = bytes.Clone(m.valueRaw)
		}
		return m, nil
	}
}

// watchContext wakes the reader when ctx is done.
func (b *Bond) watchContext(ctx context.Context) (stop func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	s := context.AfterFunc(ctx, func() { _ = b.fromInterp.SetReadDeadline(time.Now()) })
	return func() { s() }
}

// takeBaton makes the calling goroutine the reader, kicking out the idle
// reader if it runs.
func (b *Bond) takeBaton() error {
	select {
	case b.baton <- struct{}{}:
		return nil
	default:
	}
	b.kick.Store(true)
	_ = b.fromInterp.SetReadDeadline(time.Now())
	select {
	case b.baton <- struct{}{}:
		b.kick.Store(false)
		_ = b.fromInterp.SetReadDeadline(time.Time{})
		return nil
	case <-b.dead:
		b.kick.Store(false)
		return b.brokenErr()
	}
}

// releaseBaton gives up reading; the idle reader starts after idleDelay
// unless another call takes the baton first.
func (b *Bond) releaseBaton() {
	<-b.baton
	b.idleMu.Lock()
	defer b.idleMu.Unlock()
	if b.closing || b.Err() != nil {
		return
	}
	if b.idleTimer == nil {
		b.idleTimer = time.AfterFunc(idleDelay, b.idleRead)
	} else {
		b.idleTimer.Reset(idleDelay)
	}
}

// idleRead reads while no call does: output, death, or an early message.
func (b *Bond) idleRead() {
	b.idleMu.Lock()
	if b.closing {
		b.idleMu.Unlock()
		return
	}
	select {
	case b.baton <- struct{}{}:
	default: // a call reads
		b.idleMu.Unlock()
		return
	}
	b.goroutines.Add(1)
	b.idleMu.Unlock()
	defer b.goroutines.Done()
	defer func() { <-b.baton }()
	m, err := b.readMessage(context.Background(), time.Time{}, true)
	if err == nil {
		b.pending = m // early or unsolicited: the next call sees it
	}
}
