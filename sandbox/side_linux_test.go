package sandbox

import (
	"crypto/md5"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandbond/sandbond/drivers"
	"github.com/sandbond/sandbond/policy"
)

// TestSideChannel: in the sandbox, large bytes arrive as the language's
// bytes type through the blob pipes, and an open host file arrives as a
// read-only file whose host path the decoder never sees.
func TestSideChannel(t *testing.T) {
	tests := []struct {
		lang, interp, setup string
	}{
		{"python", "python3", `
import hashlib, os
def inspect(b, f):
    fd = f.fileno()
    try:
        os.write(fd, b"x"); writable = True
    except OSError:
        writable = False
    return [type(b) is bytes, hashlib.md5(b).hexdigest(), f.read().decode(), writable]
`},
		{"php", "php", `function inspect($b, $f) { $w = @fwrite($f, "x"); return [is_string($b), md5($b), stream_get_contents($f), $w !== false && $w > 0]; }`},
		{"perl", "perl", `use Digest::MD5 (); sub inspect { my ($b, $f) = @_; local $/; my $c = <$f>; my $w = syswrite($f, "x"); return [utf8::is_utf8($b) ? \0 : \1, Digest::MD5::md5_hex($b), $c, defined($w) ? \1 : \0] }`},
		// Node takes no descriptors: the file arrives as a Buffer of its
		// contents, so there is nothing it could write through.
		{"node", "node", `globalThis.inspect = function (b, f) { return [Buffer.isBuffer(b), require('crypto').createHash('md5').update(b).digest('hex'), f.toString(), false]; };`},
	}
	path := filepath.Join(t.TempDir(), "upload.bin")
	if err := os.WriteFile(path, []byte("host file contents"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3<<20)
	for i := range data {
		data[i] = byte(i*13 + 128)
	}
	sum := md5.Sum(data)
	for _, tc := range tests {
		t.Run(tc.lang, func(t *testing.T) {
			p := langPool(t, tc.lang, tc.interp, onePool, PoolConfig{Setup: tc.setup, Function: "inspect"})
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			v, err := p.Call(testCtx(t), data, f)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := v.([]any)
			if len(got) != 4 || got[0] != true || got[1] != hex.EncodeToString(sum[:]) || got[2] != "host file contents" || got[3] != false {
				t.Fatalf("inspect = %#v", v)
			}
			if c, _ := os.ReadFile(path); string(c) != "host file contents" {
				t.Fatalf("the host file changed: %q", c)
			}
		})
	}
}

// TestHeapEnvInSandbox: the driver's heap settings (drivers.HeapEnv) reach
// a pooled sandbox, and a host variable does not (the pool's environment
// already leaves it out; TestIsolation checks the launcher's own filter).
func TestHeapEnvInSandbox(t *testing.T) {
	checkLeaks(t)
	t.Setenv("SANDBOND_TEST_HOST_SECRET", "x")
	p := newTestPool(t, poolProfile("python", onePool), PoolConfig{Setup: `
import os
def env(name):
    return os.environ.get(name, 'unset')
`, Function: "env"})
	for name, want := range map[string]string{
		"GLIBC_TUNABLES":            strings.TrimPrefix(drivers.HeapEnv, "GLIBC_TUNABLES="),
		"SANDBOND_TEST_HOST_SECRET": "unset",
	} {
		v, err := p.Call(testCtx(t), name)
		if err != nil {
			t.Fatal(err)
		}
		if v != want {
			t.Errorf("%s in the sandbox = %q, want %q", name, v, want)
		}
	}
}

// TestCompiledStage2InSandbox: a sandboxed interpreter takes the stage 2
// that the host compiled (Python's marshalled code, Node's V8 code cache):
// the container runs the same interpreter, so the start-up saving holds
// there too.
func TestCompiledStage2InSandbox(t *testing.T) {
	tests := []struct{ lang, interp, setup string }{
		{"python", "python3", "def loaded():\n    return getattr(__import__('__main__'), '_sb_marshal', None)\n"},
		{"node", "node", "globalThis.loaded = function () { return sandbond.codeCache; };"},
	}
	for _, tc := range tests {
		t.Run(tc.lang, func(t *testing.T) {
			p := langPool(t, tc.lang, tc.interp, onePool, PoolConfig{Setup: tc.setup, Function: "loaded"})
			v, err := p.Call(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			if v != true {
				t.Errorf("stage 2 loaded compiled in the sandbox: %v, want true", v)
			}
		})
	}
}

// onePool sizes a test pool to one worker.
func onePool(p *policy.Profile) { p.Pool.MinIdle, p.Pool.MaxSize = 1, 1 }
