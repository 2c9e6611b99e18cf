package bond

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHandles(t *testing.T) {
	t.Run("keep, value, method, len", func(t *testing.T) {
		b := openFake(t, "interp", nil)
		h, err := b.Keep(bg, `[1,2,3]`)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := h.Value(bg); err != nil || !sameJSON(v, []any{int64(1), int64(2), int64(3)}) {
			t.Fatalf("Value = %#v, %v", v, err)
		}
		if n, err := h.Len(bg); err != nil || n != int64(len(`[1,2,3]`)) {
			t.Fatalf("Len = %d, %v", n, err)
		}
		// A handle as an argument travels as its key.
		other, err := b.Keep(bg, `"x"`)
		if err != nil {
			t.Fatal(err)
		}
		v, err := h.Call(bg, "m", other, []any{other})
		if err != nil || v != `[[1,2,3],{"$handle":2},[{"$handle":2}]]` {
			t.Fatalf("method = %#v, %v", v, err)
		}
	})
	t.Run("release", func(t *testing.T) {
		b := openFake(t, "interp", nil)
		h, err := b.New(bg, "Thing")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Release(bg); err != nil {
			t.Fatal(err)
		}
		if err := h.Release(bg); !errors.Is(err, ErrReleased) {
			t.Fatalf("second Release = %v; want ErrReleased", err)
		}
		if _, err := h.Value(bg); !errors.Is(err, ErrReleased) {
			t.Fatalf("Value after Release = %v; want ErrReleased", err)
		}
		if _, err := b.Call(bg, "echo", h); !errors.Is(err, ErrReleased) || !errors.Is(err, ErrSerialization) {
			t.Fatalf("a released handle as an argument = %v; want ErrReleased", err)
		}
	})
	t.Run("unreachable handles are released with the next request", func(t *testing.T) {
		b := openFake(t, "interp", nil)
		for i := 0; i < 3; i++ {
			if _, err := b.Keep(bg, "1"); err != nil {
				t.Fatal(err)
			}
		}
		var got []int64
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			runtime.GC()
			v, err := EvalAs[[]int64](bg, b, "!released")
			if err != nil {
				t.Fatal(err)
			}
			if got = v; len(got) == 3 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		slices.Sort(got)
		if !slices.Equal(got, []int64{1, 2, 3}) {
			t.Fatalf("released keys = %v; want [1 2 3]", got)
		}
	})
	t.Run("foreign handle", func(t *testing.T) {
		a, b := openFake(t, "interp", nil), openFake(t, "interp", nil)
		h, err := a.Keep(bg, "1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Call(bg, "echo", map[string]any{"x": h}); !errors.Is(err, ErrForeignHandle) {
			t.Fatalf("another bond's handle = %v; want ErrForeignHandle", err)
		}
		wantAlive(t, b)
	})
	t.Run("unknown key is a remote error", func(t *testing.T) {
		b := openFake(t, "interp", nil)
		forged := b.newHandle(99)
		var re *RemoteError
		if _, err := forged.Value(bg); !errors.As(err, &re) || re.Type != "SandbondHandleError" {
			t.Fatalf("Value of an unknown key = %v", err)
		}
		wantAlive(t, b)
	})
	t.Run("handles die with the bond", func(t *testing.T) {
		b := openFake(t, "interp", nil)
		h, err := b.Keep(bg, "1")
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		if _, err := h.Value(bg); !errors.Is(err, ErrClosed) {
			t.Fatalf("Value after Close = %v; want ErrClosed", err)
		}
		if err := h.Release(bg); err != nil {
			t.Fatalf("Release after Close = %v; want nil", err)
		}
	})
	t.Run("a kept result that is not a handle breaks the bond", func(t *testing.T) {
		b := openFake(t, "interp", nil)
		if _, err := b.Keep(bg, "!nothandle"); !errors.Is(err, ErrProtocol) {
			t.Fatalf("Keep answered with a plain value = %v; want ErrProtocol", err)
		}
		wantBroken(t, b, ErrProtocol)
	})
}

func TestBlobs(t *testing.T) {
	b := openFake(t, "interp", nil)
	if !b.hasBlobs() || !b.hasFDs() {
		t.Fatal("the side channel is not on")
	}
	for _, n := range []int{blobMin, 1 << 20, 8<<20 + 3} {
		data := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		v, err := b.Call(bg, "blobecho", data)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if got, _ := v.([]byte); !bytes.Equal(got, data) {
			t.Fatalf("%d bytes came back as %d bytes", n, len(got))
		}
	}
	// Below the threshold, bytes stay in the line.
	if _, err := b.Call(bg, "blobecho", []byte("small")); err == nil || !strings.Contains(err.Error(), "$bytes") {
		t.Fatalf("small bytes went as a blob: %v", err)
	}
	v, err := b.Eval(bg, "!blobout:100000")
	if got, _ := v.([]byte); err != nil || len(got) != 100000 || got[99999] != byte(99999%251) {
		t.Fatalf("blob from the driver: %d bytes, %v", len(got), err)
	}
	wantAlive(t, b)
}

func TestBlobViolations(t *testing.T) {
	t.Run("over the limit", func(t *testing.T) {
		b := openFake(t, "interp", &Options{MaxBlobBytes: 1000})
		if _, err := b.Eval(bg, "!blobout:1001"); !errors.Is(err, ErrProtocol) {
			t.Fatalf("a blob over the limit = %v; want ErrProtocol", err)
		}
	})
	t.Run("announced, never sent", func(t *testing.T) {
		b := openFake(t, "interp", nil)
		ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
		defer cancel()
		if _, err := b.Eval(ctx, "!bloblie:10"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a missing blob = %v; want DeadlineExceeded", err)
		}
		if b.Err() == nil {
			t.Fatal("the bond survived a stream out of step")
		}
	})
	t.Run("without a side channel", func(t *testing.T) {
		b := openFake(t, "interp", &Options{NoSideChannel: true})
		if _, err := b.Eval(bg, `{"$blob":1}`); !errors.Is(err, ErrProtocol) {
			t.Fatalf("$blob without a side channel = %v; want ErrProtocol", err)
		}
	})
}

func TestFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(path, []byte("file contents"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(5, 0); err != nil {
		t.Fatal(err)
	}
	b := openFake(t, "interp", nil)
	if v, err := b.Call(bg, "fdread", f); err != nil || v != "fd:file contents" {
		t.Fatalf("fdread = %#v, %v", v, err)
	}
	if off, _ := f.Seek(0, 1); off != 5 {
		t.Errorf("the caller's offset moved to %d", off)
	}
	// Without descriptor passing the contents travel.
	b.side.fd = false
	if v, err := b.Call(bg, "fdread", f); err != nil || v != `file:{"$bytes":"ZmlsZSBjb250ZW50cw=="}` {
		t.Fatalf("fdread without fd passing = %#v, %v", v, err)
	}
	wantAlive(t, b)
}

func sameJSON(a, b any) bool {
	x, err1 := MarshalValue(a)
	y, err2 := MarshalValue(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
