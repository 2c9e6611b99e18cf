package drivers_test

import (
	"errors"
	"os/exec"
	"testing"

	"github.com/sandbond/sandbond/bond"
)

// nodeCodeCache opens a node bond and returns sandbond.codeCache: whether
// V8 took the host's code cache for stage 2 (nil: none was sent). The
// driver must work either way.
func nodeCodeCache(t *testing.T, o *bond.Options) any {
	t.Helper()
	b, err := bond.Open(ctxT(t), "node", o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.EvalBlock(ctxT(t), "function sb_boom() { throw new RangeError('boom'); }"); err != nil {
		t.Fatal(err)
	}
	var re *bond.RemoteError
	if _, err := b.Call(ctxT(t), "sb_boom"); !errors.As(err, &re) || re.Type != "RangeError" {
		t.Errorf("sb_boom: %v, want a RangeError", err)
	}
	if v, err := b.Eval(ctxT(t), "Buffer.from('ab')"); err != nil || string(v.([]byte)) != "ab" {
		t.Errorf("bytes: %v, %v", v, err)
	}
	v, err := b.Eval(ctxT(t), "sandbond.codeCache")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestNodeCodeCache: a node resolved by the host takes the V8 code cache
// that the host built once (also in stdio mode); other V8 flags make V8
// reject it and the driver compiles its source; a command that names the
// interpreter gets no cache.
func TestNodeCodeCache(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node not installed: %v (.ci/run installs it)", err)
	}
	cases := []struct {
		name string
		opts *bond.Options
		want any
	}{
		{"default", nil, true},
		{"again", nil, true}, // the cached preamble, shared by every start
		{"stdio", &bond.Options{Channel: bond.ChannelStdio}, true},
		{"other V8 flags", &bond.Options{Args: []string{"--stack-size=1500"}}, false},
		{"command", &bond.Options{Command: "node"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := nodeCodeCache(t, c.opts); got != c.want {
				t.Errorf("sandbond.codeCache = %v, want %v", got, c.want)
			}
		})
	}
}
