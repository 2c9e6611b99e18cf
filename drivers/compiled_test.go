package drivers

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPreambleForCache: the compiled preamble is built once per
// interpreter and stage 2, also by concurrent starts; a failure means
// the source preamble from then on; a start whose context ends first gets
// the source preamble while the build goes on and is kept.
func TestPreambleForCache(t *testing.T) {
	var builds atomic.Int32
	release := make(chan struct{})
	d := &Driver{Name: "test-cache", Code: []byte("stage 2"), Compile: func(ctx context.Context, interp string, code []byte) ([]byte, error) {
		builds.Add(1)
		switch interp {
		case "/fail":
			return nil, errors.New("no")
		case "/slow":
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return []byte("compiled " + interp + " " + string(code)), nil
	}}
	ctx := context.Background()
	if got := d.PreambleFor(ctx, ""); !bytes.Equal(got, d.Preamble()) {
		t.Errorf("no interpreter: %q", got)
	}
	if builds.Load() != 0 {
		t.Errorf("built for no interpreter")
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got := string(d.PreambleFor(ctx, "/ok")); got != "compiled /ok stage 2" {
				t.Errorf("/ok: %q", got)
			}
		})
	}
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Errorf("%d builds for one interpreter, want 1", n)
	}

	d2 := *d
	d2.Code = []byte("other stage 2")
	if got := string(d2.PreambleFor(ctx, "/ok")); got != "compiled /ok other stage 2" {
		t.Errorf("other code: %q", got)
	}

	for range 2 {
		if got := d.PreambleFor(ctx, "/fail"); !bytes.Equal(got, d.Preamble()) {
			t.Errorf("/fail: %q", got)
		}
	}
	if n := builds.Load(); n != 3 {
		t.Errorf("%d builds, want 3 (a failure is not retried)", n)
	}

	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if got := d.PreambleFor(short, "/slow"); !bytes.Equal(got, d.Preamble()) {
		t.Errorf("/slow cut short: %q", got)
	}
	close(release)
	if got := string(d.PreambleFor(ctx, "/slow")); got != "compiled /slow stage 2" {
		t.Errorf("/slow after the first start gave up: %q", got)
	}
	if n := builds.Load(); n != 4 {
		t.Errorf("%d builds, want 4 (a build outlives the start that gave up on it)", n)
	}
}

// TestCompilePythonFails: a missing interpreter, or one that is not
// CPython, gives no compiled preamble.
func TestCompilePythonFails(t *testing.T) {
	if _, err := compilePython(context.Background(), "/nonexistent/python3", pythonCode); err == nil {
		t.Error("compiled with a missing interpreter")
	}
	pypy, err := exec.LookPath("pypy3")
	if err != nil {
		t.Fatalf("pypy3 not installed: %v (.ci/run installs it)", err)
	}
	if _, err := compilePython(context.Background(), pypy, pythonCode); err == nil {
		t.Error("compiled with PyPy")
	}
}

// TestLocalStartFor: a local start is built once, in the background;
// LocalStartFor does not wait for a slow build, Prepare waits for it (or
// for its context) and reports a failure, after which there is none.
func TestLocalStartFor(t *testing.T) {
	var builds atomic.Int32
	release := make(chan struct{})
	d := &Driver{Name: "test-local", Code: []byte("stage 2"), Local: func(ctx context.Context, interp string, code []byte) (*LocalStart, error) {
		builds.Add(1)
		if interp == "/fail" {
			return nil, errors.New("no local start here")
		}
		<-release
		return &LocalStart{Args: []string{interp}}, nil
	}}
	ctx := context.Background()
	if d.LocalStartFor(ctx, "") != nil || d.Prepare(ctx, "") != nil {
		t.Error("a local start for no interpreter")
	}
	if d.LocalStartFor(ctx, "/ok") != nil {
		t.Error("LocalStartFor waited for a slow build")
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := d.Prepare(short, "/ok"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Prepare cut short: %v", err)
	}
	close(release)
	if err := d.Prepare(ctx, "/ok"); err != nil {
		t.Fatal(err)
	}
	if ls := d.LocalStartFor(ctx, "/ok"); ls == nil || ls.Args[0] != "/ok" {
		t.Errorf("after Prepare: %+v", ls)
	}
	for range 2 {
		if err := d.Prepare(ctx, "/fail"); err == nil || !strings.Contains(err.Error(), "no local start here") {
			t.Errorf("Prepare /fail: %v", err)
		}
		if d.LocalStartFor(ctx, "/fail") != nil {
			t.Error("a local start after a failed build")
		}
	}
	if n := builds.Load(); n != 2 {
		t.Errorf("%d builds, want 2 (one per interpreter, a failure is not retried)", n)
	}
	if got := d.PreambleFor(ctx, "/ok"); !bytes.Equal(got, d.Preamble()) {
		t.Errorf("PreambleFor without Compile: %q", got)
	}
}
