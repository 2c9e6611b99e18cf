package bond

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

const keyCtrlC = 3

// Interact runs a line REPL on the live interpreter, reading from in and
// writing to out, until EOF (Ctrl+D), ctx is done or the bond breaks.
//
// Each line is run as statements (EvalBlock). A line starting with "!" is
// evaluated as an expression (Eval) and its value printed as JSON. A line
// ending in "\" continues on the next line. Ctrl+C abandons the block being
// typed, or interrupts the code running remotely (a remote Ctrl+C).
// What the interpreter prints meanwhile is shown on out as well as on the
// bond's own writers.
//
// When in is a terminal (a local one or a pty), it is put in raw mode with
// line editing and history; otherwise lines are read as they come.
func (b *Bond) Interact(ctx context.Context, in io.Reader, out io.Writer) error {
	pump := newInputPump(in)
	defer pump.close()
	r := &repl{b: b, pump: pump, out: out, prompt: b.lang + "> "}
	if fd, ok := terminalFD(in); ok {
		state, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("interact: raw mode: %w", err)
		}
		defer func() { _ = term.Restore(fd, state) }()
		r.term = term.NewTerminal(struct {
			io.Reader
			io.Writer
		}{pump, out}, r.prompt)
		r.out = r.term
	}
	b.out.tee(r.out)
	defer b.out.tee(nil)
	return r.loop(ctx)
}

// terminalFD returns in's descriptor when it is a terminal. It avoids
// os.File.Fd, which would switch the descriptor to blocking mode and make
// a pending read impossible to interrupt by closing the file.
func terminalFD(in io.Reader) (int, bool) {
	f, ok := in.(*os.File)
	if !ok {
		return 0, false
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false
	}
	fd, isTerm := -1, false
	if rc.Control(func(u uintptr) { fd, isTerm = int(u), term.IsTerminal(int(u)) }) != nil {
		return 0, false
	}
	return fd, isTerm
}

type repl struct {
	b      *Bond
	pump   *inputPump
	term   *term.Terminal
	out    io.Writer
	prompt string
	lines  *bytes.Buffer // non-terminal line assembly
}

func (r *repl) loop(ctx context.Context) error {
	var block []string
	for {
		prompt := r.prompt
		if len(block) > 0 {
			prompt = strings.Repeat(".", len(r.prompt)-1) + " "
		}
		line, err := r.readLine(ctx, prompt)
		switch {
		case errors.Is(err, errInterruptedLine):
			block = nil
			fmt.Fprint(r.out, "^C\n")
			continue
		case errors.Is(err, io.EOF):
			fmt.Fprint(r.out, "\n")
			return nil
		case err != nil:
			return err
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			block = append(block, cont)
			continue
		}
		block = append(block, line)
		code := strings.Join(block, "\n")
		block = nil
		if strings.TrimSpace(code) == "" {
			continue
		}
		if err := r.run(ctx, code); err != nil {
			return err
		}
	}
}

var errInterruptedLine = errors.New("line abandoned")

func (r *repl) readLine(ctx context.Context, prompt string) (string, error) {
	if r.term != nil {
		r.term.SetPrompt(prompt)
		r.pump.intr = false
		line, err := r.term.ReadLine()
		if err == nil && r.pump.intr {
			return "", errInterruptedLine
		}
		return line, err
	}
	fmt.Fprint(r.out, prompt)
	if r.lines == nil {
		r.lines = &bytes.Buffer{}
	}
	for {
		if i := bytes.IndexByte(r.lines.Bytes(), '\n'); i >= 0 {
			line := string(r.lines.Next(i + 1))
			return strings.TrimRight(line, "\r\n"), nil
		}
		chunk, err := r.pump.next(ctx)
		if err != nil {
			if r.lines.Len() > 0 && errors.Is(err, io.EOF) {
				line := r.lines.String()
				r.lines.Reset()
				return line, nil
			}
			return "", err
		}
		if i := bytes.IndexByte(chunk, keyCtrlC); i >= 0 {
			r.lines.Reset()
			r.lines.Write(chunk[i+1:])
			return "", errInterruptedLine
		}
		r.lines.Write(chunk)
	}
}

// run evaluates one entry, letting Ctrl+C interrupt it remotely.
func (r *repl) run(ctx context.Context, code string) error {
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := r.pump.watchInterrupt(callCtx, cancel)
	var v any
	var err error
	if expr, ok := strings.CutPrefix(code, "!"); ok {
		v, err = r.b.Eval(callCtx, expr)
	} else {
		err = r.b.EvalBlock(callCtx, code)
	}
	stop()
	switch {
	case err == nil && !strings.HasPrefix(code, "!"):
	case err == nil:
		data, jerr := json.Marshal(v)
		if jerr != nil {
			data = []byte(fmt.Sprintf("%v", v))
		}
		fmt.Fprintf(r.out, "%s\n", data)
	case ctx.Err() != nil:
		return ctx.Err()
	case r.b.Err() != nil:
		fmt.Fprintf(r.out, "error: %v\n", err)
		return r.b.Err()
	default:
		var re *RemoteError
		if errors.As(err, &re) && re.Traceback != "" {
			fmt.Fprint(r.out, strings.TrimRight(re.Traceback, "\n")+"\n")
		}
		fmt.Fprintf(r.out, "error: %v\n", err)
	}
	return nil
}

// inputPump reads the input in a goroutine, so that Ctrl+C can be seen
// while a remote call runs and the REPL is not reading.
type inputPump struct {
	chunks  chan []byte
	quit    chan struct{}
	err     error
	pending []byte
	intr    bool // a Ctrl+C was passed to the line editor
}

func newInputPump(in io.Reader) *inputPump {
	p := &inputPump{chunks: make(chan []byte), quit: make(chan struct{})}
	go func() {
		defer close(p.chunks)
		buf := make([]byte, 4096)
		for {
			n, err := in.Read(buf)
			if n > 0 {
				select {
				case p.chunks <- bytes.Clone(buf[:n]):
				case <-p.quit:
					return
				}
			}
			if err != nil {
				p.err = err
				return
			}
		}
	}()
	return p
}

// close lets the reading goroutine end; it does so at its next read.
func (p *inputPump) close() { close(p.quit) }

func (p *inputPump) next(ctx context.Context) ([]byte, error) {
	if len(p.pending) > 0 {
		c := p.pending
		p.pending = nil
		return c, nil
	}
	select {
	case c, ok := <-p.chunks:
		if !ok {
			if p.err == nil || errors.Is(p.err, os.ErrClosed) {
				return nil, io.EOF
			}
			return nil, p.err
		}
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Read feeds the line editor. A Ctrl+C is remembered and passed on as an
// Enter, which ends the line cleanly: x/term's own Ctrl+C handling keeps
// the key in its buffer and would see it again on the next line.
func (p *inputPump) Read(buf []byte) (int, error) {
	c, err := p.next(context.Background())
	if err != nil {
		return 0, err
	}
	if i := bytes.IndexByte(c, keyCtrlC); i >= 0 {
		if i > 0 {
			p.pending = c[i:]
			c = c[:i]
		} else {
			p.intr = true
			p.pending = c[1:]
			c = []byte{'\r'}
		}
	}
	n := copy(buf, c)
	if n < len(c) {
		p.pending = append(c[n:], p.pending...)
	}
	return n, nil
}

// watchInterrupt cancels the call on Ctrl+C; other input typed meanwhile
// is kept for the next line. stop ends the watch.
func (p *inputPump) watchInterrupt(ctx context.Context, cancel func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case c, ok := <-p.chunks:
				if !ok {
					return
				}
				if i := bytes.IndexByte(c, keyCtrlC); i >= 0 {
					p.pending = append(p.pending, c[:i]...)
					p.pending = append(p.pending, c[i+1:]...)
					cancel()
					return
				}
				p.pending = append(p.pending, c...)
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}
