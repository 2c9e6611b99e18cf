package drivers_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/internal/testenv"
)

// stage2Path evaluates, in a fresh python bond, how stage 2 was loaded:
// true for the marshalled code object, false when the compiled preamble's
// loader fell back to the source, nil for the source preamble.
const stage2Path = `getattr(__import__('__main__'), '_sb_marshal', None)`

// openPython opens a python bond and checks that it works and that stage 2
// was loaded as want says (see stage2Path). It returns the bond's info.
func openPython(t *testing.T, o *bond.Options, want any) string {
	t.Helper()
	b, err := bond.Open(ctxT(t), "python", o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if v, err := b.Eval(ctxT(t), "1+1"); err != nil || v != int64(2) {
		t.Fatalf("1+1 = %v, %v", v, err)
	}
	got, err := b.Eval(ctxT(t), stage2Path)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("stage 2 loaded as %v, want %v (true: marshalled code, false: source in the loader, nil: source)", got, want)
	}
	// The driver itself works either way: a traceback, bytes, the
	// sandbond module.
	err = b.EvalBlock(ctxT(t), "def sb_boom():\n    raise ValueError('boom')\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Call(ctxT(t), "sb_boom"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("sb_boom: %v, want the ValueError", err)
	}
	if v, err := b.Eval(ctxT(t), "bytes(b'ab') + __import__('sandbond').HostError.__module__.encode()"); err != nil || string(v.([]byte)) != "absandbond" {
		t.Errorf("bytes: %v, %v", v, err)
	}
	return b.Info()
}

func needCPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("python3 not installed: %v (.ci/run installs it)", err)
	}
	out, err := exec.Command("python3", "-c", "import sys;print(sys.implementation.name)").Output()
	if err != nil || strings.TrimSpace(string(out)) != "cpython" {
		testenv.SkipOrFail(t, "python3 is not CPython (%q, %v)", out, err)
	}
}

// TestPythonCompiledStage2: by default the system's CPython loads stage 2
// as a code object that the host compiled once, not from source.
func TestPythonCompiledStage2(t *testing.T) {
	needCPython(t)
	for range 2 { // starts after the build (here or in an earlier test) share one preamble
		if info := openPython(t, nil, true); !strings.HasPrefix(info, "CPython 3.") {
			t.Errorf("info %q", info)
		}
	}
	openPython(t, &bond.Options{Channel: bond.ChannelStdio}, true)
}

// TestPythonSourceStage2: a command names the interpreter, so the host
// cannot know it and sends the source.
func TestPythonSourceStage2(t *testing.T) {
	needCPython(t)
	openPython(t, &bond.Options{Command: "python3"}, nil)
}

// TestPythonCompiledStage2Mismatch: when the interpreter that runs the
// compiled preamble differs from the one it was compiled by, the loader
// compiles the source: with -O or PYTHONOPTIMIZE (code of another
// optimization level) and with another interpreter swapped in by the
// launcher, as a container launcher does for a profile's interpreter.
func TestPythonCompiledStage2Mismatch(t *testing.T) {
	needCPython(t)
	t.Run("-O", func(t *testing.T) {
		openPython(t, &bond.Options{Args: []string{"-O"}}, false)
	})
	t.Run("PYTHONOPTIMIZE", func(t *testing.T) {
		openPython(t, &bond.Options{Env: append(os.Environ(), "PYTHONOPTIMIZE=2")}, false)
	})
	t.Run("pypy3 swapped in", func(t *testing.T) {
		pypy, err := exec.LookPath("pypy3")
		if err != nil {
			t.Fatalf("pypy3 not installed: %v (.ci/run installs it)", err)
		}
		info := openPython(t, &bond.Options{Launcher: swapLauncher{pypy}}, false)
		if !strings.HasPrefix(info, "PyPy ") {
			t.Errorf("info %q, want PyPy", info)
		}
	})
}

// swapLauncher runs another interpreter than the one bond resolved.
type swapLauncher struct{ interp string }

func (l swapLauncher) Launch(ctx context.Context, spec *bond.LaunchSpec) (bond.Process, error) {
	s := *spec
	s.Argv = append([]string{l.interp}, spec.Argv[1:]...)
	return bond.ExecLauncher{}.Launch(ctx, &s)
}
