package bond

import (
	"io"
	"os"
	"sync"
	"time"
)

const stderrTailSize = 4 << 10

// outputs routes what the interpreter prints to the configured writers,
// under one lock (the two may be the same writer), counting it against the
// output limit and keeping the tail of stderr for termination errors.
type outputs struct {
	mu      sync.Mutex
	w       [3]io.Writer // index 1: stdout, 2: stderr
	limit   int64
	total   int64
	hit     func()
	tripped bool
	tail    []byte
	teeW    io.Writer // an Interact session's output, if any
	copiers sync.WaitGroup
}

// tee also sends output to w (nil stops it).
func (o *outputs) tee(w io.Writer) {
	o.mu.Lock()
	o.teeW = w
	o.mu.Unlock()
}

func newOutputs(stdout, stderr io.Writer, limit int64, hit func()) *outputs {
	return &outputs{w: [3]io.Writer{nil, stdout, stderr}, limit: limit, hit: hit}
}

func (o *outputs) write(fd int64, p []byte) {
	o.mu.Lock()
	if o.tripped {
		o.mu.Unlock()
		return
	}
	if o.limit > 0 && o.total+int64(len(p)) > o.limit {
		p = p[:o.limit-o.total]
		o.tripped = true
	}
	o.total += int64(len(p))
	_, _ = o.w[fd].Write(p)
	if o.teeW != nil {
		_, _ = o.teeW.Write(p)
	}
	if fd == 2 {
		o.tail = append(o.tail, p...)
		if len(o.tail) > stderrTailSize {
			o.tail = append(o.tail[:0], o.tail[len(o.tail)-stderrTailSize:]...)
		}
	}
	tripped := o.tripped
	o.mu.Unlock()
	if tripped {
		o.hit()
	}
}

func (o *outputs) message(fd int64, data string) { o.write(fd, []byte(data)) }

func (o *outputs) stderrTail() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.tail)
}

// copy forwards a raw output pipe until EOF.
func (o *outputs) copy(fd int64, r *os.File) {
	defer o.copiers.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			o.write(fd, buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// drain waits up to d for the raw pipes to reach EOF.
func (o *outputs) drain(d time.Duration) {
	done := make(chan struct{})
	go func() { o.copiers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

func (b *Bond) startCopiers(p *plumbing) {
	if p.stdoutR != nil {
		b.out.copiers.Add(1)
		go b.out.copy(1, p.stdoutR)
	}
	b.out.copiers.Add(1)
	go b.out.copy(2, p.stderrR)
}
