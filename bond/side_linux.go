package bond

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// sideFiles makes the side channel: two pipes and a socket pair. It
// returns the host's ends and the driver's fds 5, 6 and 7.
func sideFiles() (*side, []*os.File, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, nil, fmt.Errorf("pipe: %w", err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	host, child := os.NewFile(uintptr(fds[0]), "side-sock"), os.NewFile(uintptr(fds[1]), "side-sock-child")
	// Big pipes halve the wake-ups per megabyte; failure only costs speed.
	for _, f := range []*os.File{inW, outW} {
		if rc, err := f.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { _, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20) })
		}
	}
	return &side{blobW: inW, blobR: outR, sock: host}, []*os.File{inR, outW, child}, nil
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		if f != nil {
			_ = f.Close()
		}
	}
}

// reopenReadOnly opens a new, read-only description of f's file, with its
// own offset at 0: the interpreter can neither write through it nor move
// the caller's offset.
func reopenReadOnly(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var r *os.File
	var openErr error
	if err := rc.Control(func(fd uintptr) {
		r, openErr = os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(fd)), os.O_RDONLY, 0)
	}); err != nil {
		return nil, err
	}
	return r, openErr
}

// sendFiles passes descriptors to the driver ahead of the line that
// names them; the caller holds writeMu.
func (b *Bond) sendFiles(files []*os.File) error {
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	rc, err := b.side.sock.SyscallConn()
	if err != nil {
		return err
	}
	var sendErr error
	err = rc.Write(func(fd uintptr) bool {
		sendErr = unix.Sendmsg(int(fd), []byte{0}, unix.UnixRights(fds...), nil, 0)
		return sendErr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return sendErr
}
