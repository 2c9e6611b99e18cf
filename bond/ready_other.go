//go:build !unix

package bond

// dataReady reports whether something from the interpreter is already
// buffered; without poll(2) it cannot see the pipe itself.
func (b *Bond) dataReady() bool { return b.lines.r.Buffered() > 0 || b.lines.partial }
