//go:build linux

package sandbox

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/internal/testenv"
	"github.com/sandbond/sandbond/policy"
)

func TestMain(m *testing.M) {
	Init()
	os.Exit(m.Run())
}

// testStateDir is shared by the tests of one run.
func testStateDir() string {
	return filepath.Join(os.TempDir(), "sandbond-test-"+strings.ReplaceAll(strings.TrimPrefix(filepath.Base(os.Args[0]), "/"), "/", "_"))
}

func testProfile(lang string) *policy.Profile {
	return &policy.Profile{
		Version:  policy.Version,
		Name:     "test-" + lang,
		Launcher: policy.Launcher{Type: policy.LauncherContainer},
		Language: lang,
		Limits: policy.Limits{
			MemoryBytes:    128 << 20,
			Pids:           32,
			CPUSeconds:     5,
			WallPerSandbox: policy.Duration(30 * time.Second),
			TmpBytes:       4 << 20,
		},
	}
}

func needRoot(t testing.TB) {
	t.Helper()
	testenv.NeedRoot(t, "containers (the rootless test runs this binary as SANDBOND_TEST_USER)")
}

func newTestLauncher(t testing.TB, p *policy.Profile, opts ...Option) *ContainerLauncher {
	t.Helper()
	opts = append([]Option{WithStateDir(testStateDir())}, opts...)
	l, err := NewContainerLauncher(p, opts...)
	if err != nil {
		t.Fatalf("NewContainerLauncher: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// result is what a sandboxed program printed and how it ended.
type result struct {
	Out, Err string
	WaitErr  error
	Pid      int
	Proc     *Process
}

// piped is a process started with the protocol pipes (the host writes
// fd 3, reads fd 4) and its stderr collected in the background.
type piped struct {
	p      *Process
	w3, r4 *os.File
	stderr chan []byte
}

func launchPiped(l *ContainerLauncher, lang string, argv []string) (*piped, error) {
	r3, w3, _ := os.Pipe()
	r4, w4, _ := os.Pipe()
	re, we, _ := os.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bp, err := l.Launch(ctx, &bond.LaunchSpec{Language: lang, Argv: argv, Env: os.Environ(), Files: []*os.File{nil, nil, we, r3, w4}})
	r3.Close()
	w4.Close()
	we.Close()
	if err != nil {
		w3.Close()
		r4.Close()
		re.Close()
		return nil, err
	}
	pp := &piped{p: bp.(*Process), w3: w3, r4: r4, stderr: make(chan []byte, 1)}
	go func() { b, _ := io.ReadAll(re); re.Close(); pp.stderr <- b }()
	return pp, nil
}

// finish reads fd 4 to its end after the out already read, and reaps.
func (pp *piped) finish(out []byte) result {
	rest, _ := io.ReadAll(pp.r4)
	pp.r4.Close()
	werr := pp.p.Wait()
	return result{Out: string(append(out, rest...)), Err: string(<-pp.stderr), WaitErr: werr, Pid: pp.p.Pid(), Proc: pp.p}
}

// run starts argv in l with the protocol pipes on fds 3 (input, closed
// after in is written) and 4 (output), stderr captured, and waits for it.
// inspect, when set, runs while the process is alive, after it printed its
// first byte on fd 4.
func run(t testing.TB, l *ContainerLauncher, lang string, argv []string, in string, inspect func(p *Process)) result {
	t.Helper()
	pp, err := launchPiped(l, lang, argv)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	go func() { io.WriteString(pp.w3, in); pp.w3.Close() }()
	var out []byte
	if inspect != nil {
		b := make([]byte, 1)
		if n, _ := pp.r4.Read(b); n == 1 {
			out = append(out, b[0])
			inspect(pp.p)
		}
	}
	return pp.finish(out)
}

// py runs a python3 program in l.
func py(t testing.TB, l *ContainerLauncher, code, in string, inspect func(p *Process)) result {
	t.Helper()
	return run(t, l, "python", []string{"/usr/bin/python3", "-c", code}, in, inspect)
}

// runHandshake runs argv with fd 3 kept open until inspect returned: the
// program writes a byte on fd 4, the host runs inspect, then sends a byte
// on fd 3 and closes it.
func runHandshake(t testing.TB, l *ContainerLauncher, lang string, argv []string, inspect func(p *Process)) result {
	t.Helper()
	pp, err := launchPiped(l, lang, argv)
	if err != nil {
		t.Errorf("Launch: %v", err)
		return result{WaitErr: err}
	}
	b := make([]byte, 1)
	if n, _ := pp.r4.Read(b); n == 1 {
		inspect(pp.p)
	}
	pp.w3.Write([]byte{1})
	pp.w3.Close()
	return pp.finish(nil)
}

// launchWaiting starts a sandboxed python that waits for a byte on fd 3;
// release (also run at the end of the test) lets it end.
func launchWaiting(t *testing.T, l *ContainerLauncher) (p *Process, release func()) {
	t.Helper()
	r3, w3, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w3.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bp, err := l.Launch(ctx, &bond.LaunchSpec{Language: "python", Argv: []string{"python3", "-c", "import os; os.read(3, 1)"}, Files: []*os.File{nil, nil, nil, r3}})
	r3.Close()
	if err != nil {
		t.Fatal(err)
	}
	return bp.(*Process), func() { w3.Close() }
}
