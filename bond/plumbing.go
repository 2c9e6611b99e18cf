package bond

import (
	"fmt"
	"os"
)

// plumbing holds the pipes between host and interpreter.
type plumbing struct {
	channel Channel
	// host ends
	toInterp, fromInterp *os.File
	stdoutR, stderrR     *os.File
	// child ends
	inR, outW        *os.File
	stdoutW, stderrW *os.File
	// the side channel (nil without): host ends, child's fds 5, 6, 7
	side      *side
	sideChild []*os.File
}

func newPlumbing(ch Channel, withSide bool) (p *plumbing, err error) {
	p = &plumbing{channel: ch}
	defer func() {
		if err != nil {
			p.closeChildEnds()
			p.closeParentEnds()
		}
	}()
	if p.inR, p.toInterp, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	if p.fromInterp, p.outW, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	if p.stderrR, p.stderrW, err = os.Pipe(); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	if ch == ChannelFDs {
		if p.stdoutR, p.stdoutW, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("pipe: %w", err)
		}
		if withSide {
			// Without a side channel (off Linux) bytes go as base64.
			p.side, p.sideChild, _ = sideFiles()
		}
	}
	return p, nil
}

// childFiles are the interpreter's descriptors 0, 1, 2 (and 3, 4).
func (p *plumbing) childFiles() []*os.File {
	if p.channel == ChannelStdio {
		return []*os.File{p.inR, p.outW, p.stderrW}
	}
	return append([]*os.File{nil, p.stdoutW, p.stderrW, p.inR, p.outW}, p.sideChild...)
}

func (p *plumbing) outputs() []*os.File {
	var fs []*os.File
	for _, f := range []*os.File{p.stdoutR, p.stderrR} {
		if f != nil {
			fs = append(fs, f)
		}
	}
	return fs
}

func (p *plumbing) closeChildEnds() {
	for _, f := range append([]*os.File{p.inR, p.outW, p.stdoutW, p.stderrW}, p.sideChild...) {
		if f != nil {
			_ = f.Close()
		}
	}
	p.sideChild = nil
}

func (p *plumbing) closeParentEnds() {
	for _, f := range []*os.File{p.toInterp, p.fromInterp, p.stdoutR, p.stderrR} {
		if f != nil {
			_ = f.Close()
		}
	}
	p.side.close()
}
