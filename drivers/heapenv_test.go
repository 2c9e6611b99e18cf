package drivers_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/drivers"
)

// TestHeapEnv: the interpreters whose drivers ask for glibc's heap settings
// get them, an environment that names GLIBC_TUNABLES itself keeps its own
// value, and PHP (whose allocator is its own) gets nothing.
func TestHeapEnv(t *testing.T) {
	tunables, _ := strings.CutPrefix(drivers.HeapEnv, "GLIBC_TUNABLES=")
	tests := []struct {
		lang, interp, expr string
		want               string
	}{
		{"python", "python3", `__import__('os').environ.get('GLIBC_TUNABLES', 'unset')`, tunables},
		{"perl", "perl", `$ENV{GLIBC_TUNABLES} // 'unset'`, tunables},
		{"node", "node", `process.env.GLIBC_TUNABLES ?? 'unset'`, tunables},
		{"php", "php", `getenv('GLIBC_TUNABLES') === false ? 'unset' : getenv('GLIBC_TUNABLES')`, "unset"},
	}
	for _, tc := range tests {
		t.Run(tc.lang, func(t *testing.T) {
			if _, err := exec.LookPath(tc.interp); err != nil {
				t.Fatalf("%s not installed: %v (.ci/run installs it)", tc.interp, err)
			}
			for _, c := range []struct {
				name string
				env  []string
				want string
			}{
				{"default", environWithoutTunables(), tc.want},
				{"own value kept", environWithoutTunables("GLIBC_TUNABLES=glibc.malloc.check=0"), "glibc.malloc.check=0"},
			} {
				b, err := bond.Open(ctxT(t), tc.lang, &bond.Options{Env: c.env})
				if err != nil {
					t.Fatal(err)
				}
				got, err := b.Eval(ctxT(t), tc.expr)
				_ = b.Close()
				if err != nil {
					t.Fatal(err)
				}
				if got != c.want {
					t.Errorf("%s: GLIBC_TUNABLES = %q, want %q", c.name, got, c.want)
				}
			}
		})
	}
}

// TestHeapEnvKeepsLargeBlocks: with the driver's settings, the memory of a
// 64 MiB value the interpreter received and dropped stays mapped for the
// next one; with glibc's defaults it is unmapped at once.
func TestHeapEnvKeepsLargeBlocks(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("python3 not installed: %v", err)
	}
	data := bytes.Repeat([]byte{0xff, 0x01}, 32<<20)
	rssGrowth := func(t *testing.T, o *bond.Options) int64 {
		b, err := bond.Open(ctxT(t), "python", o)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := b.EvalBlock(ctxT(t), `
def sb_rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * __import__('os').sysconf('SC_PAGE_SIZE')
`); err != nil {
			t.Fatal(err)
		}
		before, err := bond.CallAs[int64](ctxT(t), b, "sb_rss")
		if err != nil {
			t.Fatal(err)
		}
		if n, err := bond.CallAs[int](ctxT(t), b, "len", data); err != nil || n != len(data) {
			t.Fatalf("len of the 64 MiB value: %d, %v", n, err)
		}
		after, err := bond.CallAs[int64](ctxT(t), b, "sb_rss")
		if err != nil {
			t.Fatal(err)
		}
		return after - before
	}
	if g := rssGrowth(t, nil); g < 48<<20 {
		t.Errorf("driver's heap settings: resident memory grew by %d MiB after a dropped 64 MiB value, want the block kept (≥ 48 MiB)", g>>20)
	}
	if g := rssGrowth(t, &bond.Options{Env: environWithoutTunables("GLIBC_TUNABLES=")}); g > 16<<20 {
		t.Errorf("glibc's defaults: resident memory grew by %d MiB after a dropped 64 MiB value, want it unmapped (≤ 16 MiB)", g>>20)
	}
}

// environWithoutTunables returns this process's environment without
// GLIBC_TUNABLES, followed by extra.
func environWithoutTunables(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GLIBC_TUNABLES=") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}
