//go:build unix

package bond

import "golang.org/x/sys/unix"

// dataReady reports whether something from the interpreter is waiting to
// be read, without blocking.
func (b *Bond) dataReady() bool {
	if b.lines.r.Buffered() > 0 || b.lines.partial {
		return true
	}
	rc, err := b.fromInterp.SyscallConn()
	if err != nil {
		return false
	}
	ready := false
	_ = rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		ready = err == nil && n > 0 && fds[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0
	})
	return ready
}
