package bond

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// blobMin is the size from which bytes travel on the blob pipe instead of
// as base64 in the line.
const blobMin = 32 << 10

// SideEnv is the environment variable that names the side channel's
// descriptors for the driver: blob input, blob output and the socket that
// carries file descriptors. A launcher that filters the environment must
// keep it.
const SideEnv = "SANDBOND_SIDE"

const sideEnv = SideEnv + "=5,6,7"

// side holds the host ends of the side channel (see PROTOCOL.md, "Handles,
// blobs and files"). blob and fd say what the driver announced it uses.
type side struct {
	blobW *os.File // host to driver blobs (the driver's fd 5)
	blobR *os.File // driver to host blobs (the driver's fd 6)
	sock  *os.File // Unix socket for SCM_RIGHTS (the driver's fd 7)
	blob  bool
	fd    bool
}

func (s *side) close() {
	if s != nil {
		closeAll(s.blobW, s.blobR, s.sock)
	}
}

// outgoing is one message to the interpreter with what follows it on the
// side channel: descriptors sent before the line, blobs written after it.
type outgoing struct {
	line  []byte
	blobs [][]byte
	files []*os.File // reopened read-only by the encoder; closed once sent
}

func (o *outgoing) closeFiles() {
	for _, f := range o.files {
		_ = f.Close()
	}
	o.files = nil
}

// hasBlobs says whether the side channel carries blobs for this bond.
func (b *Bond) hasBlobs() bool { return b.side != nil && b.side.blob }

// hasFDs says whether descriptors can be passed to this bond's driver.
func (b *Bond) hasFDs() bool { return b.side != nil && b.side.fd }

// writeBlobs writes a message's blobs after its line; the caller holds
// writeMu. A blob cut short leaves the stream out of step, so any error
// breaks the bond.
func (b *Bond) writeBlobs(ctx context.Context, blobs [][]byte) error {
	for _, blob := range blobs {
		if _, err := writeWithin(ctx, b.side.blobW, blob); err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			err = fmt.Errorf("write a %d-byte blob to the %s interpreter: %w", len(blob), b.lang, err)
			b.fail(err, true)
			return err
		}
	}
	return nil
}

// readBlobs fills the blobs a message announced, in order, from the blob
// pipe. The driver writes them right after the line; a driver that stops
// sending for the grace period, dies, or is still sending when ctx is
// done breaks the bond.
func (b *Bond) readBlobs(ctx context.Context, blobs [][]byte) error {
	r := b.side.blobR
	stop := context.AfterFunc(ctx, func() { _ = r.SetReadDeadline(time.Now()) })
	defer func() {
		stop()
		_ = r.SetReadDeadline(time.Time{})
	}()
	for _, blob := range blobs {
		for done := 0; done < len(blob); {
			if ctx.Err() != nil {
				b.fail(fmt.Errorf("reading a %d-byte blob from the %s interpreter: %w", len(blob), b.lang, ctx.Err()), true)
				return b.brokenErr()
			}
			_ = r.SetReadDeadline(time.Now().Add(b.opts.GracePeriod))
			n, err := r.Read(blob[done:])
			done += n
			if err == nil {
				continue
			}
			switch {
			case b.Err() != nil:
				return b.brokenErr()
			case ctx.Err() != nil:
				continue // reported above
			case errors.Is(err, os.ErrDeadlineExceeded):
				b.fail(protocolErrorf("the interpreter sent nothing of a %d-byte blob for %v", len(blob), b.opts.GracePeriod), true)
			case err == io.EOF:
				b.fail(protocolErrorf("blob pipe ended inside a %d-byte blob", len(blob)), true)
			default:
				b.fail(fmt.Errorf("reading a blob from the %s interpreter: %w", b.lang, err), true)
			}
			return b.brokenErr()
		}
	}
	return nil
}
