package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"

	"golang.org/x/sys/unix"
)

// catProc is the floor of the bytes rows: dd copying the same bytes from
// one pipe to another as a round trip does, store and forward: it reads
// the whole value (bs, iflag=fullblock), then writes it back. (cat would
// stream, writing back the first bytes while the rest still arrive, which
// no request/reply exchange can do.)
type catProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out io.ReadCloser
	buf []byte
}

func startCat(size int) (*catProc, error) {
	cmd := exec.Command("dd", fmt.Sprintf("bs=%d", size), "iflag=fullblock", "status=none")
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeFiles(inR, inW)
		return nil, err
	}
	// The same pipe size as a bond's side channel (1 MiB).
	for _, f := range []*os.File{inW, outW} {
		if rc, err := f.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20) })
		}
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	err = cmd.Start()
	closeFiles(inR, outW)
	if err != nil {
		closeFiles(inW, outR)
		return nil, fmt.Errorf("start dd: %w", err)
	}
	return &catProc{cmd: cmd, in: inW, out: outR}, nil
}

func closeFiles(fs ...*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}

// roundTrip sends data through cat and reads it back.
func (c *catProc) roundTrip(data []byte) error {
	if cap(c.buf) < len(data) {
		c.buf = make([]byte, len(data))
	}
	errc := make(chan error, 1)
	go func() { _, err := c.in.Write(data); errc <- err }()
	_, err := io.ReadFull(c.out, c.buf[:len(data)])
	if werr := <-errc; err == nil {
		err = werr
	}
	return err
}

func (c *catProc) close() error {
	if c == nil {
		return nil
	}
	_ = c.in.Close()
	_ = c.out.Close()
	return c.cmd.Wait()
}

// pipeCopy sends data through the dd of its size, started on first use.
func (w *warm) pipeCopy(data []byte) error {
	c := w.copiers[len(data)]
	if c == nil {
		var err error
		if c, err = startCat(len(data)); err != nil {
			return err
		}
		w.copiers[len(data)] = c
	}
	return c.roundTrip(data)
}

// The bytes rows' values, made once for every language, when first used.
var (
	mb1  = sync.OnceValue(func() []byte { return pattern(1 << 20) })
	mb64 = sync.OnceValue(func() []byte { return pattern(64 << 20) })
)

// pattern is n bytes that are not valid UTF-8, so that every language
// keeps them as bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 128)
	}
	return b
}
