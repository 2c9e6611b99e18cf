package bond

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

func openPython(t *testing.T) *Bond {
	t.Helper()
	b, err := Open(context.Background(), "python", &Options{GracePeriod: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestInteractLines(t *testing.T) {
	cases := []struct {
		name, input string
		want        []string
		notWant     []string
	}{
		{"statements and expressions", "x = 41\n!x + 1\n", []string{"42"}, nil},
		{"continuation", "def f():\\\n    return 7\n!f()\n", []string{"7"}, nil},
		{"remote error keeps going", "!1/0\n!'after'\n", []string{"ZeroDivisionError", `"after"`}, nil},
		{"ctrl-c abandons a block", "def g():\\\n\x03\n!'g' in globals()\n", []string{"^C", "false"}, nil},
		{"output is shown", "print('hello from python')\n", []string{"hello from python"}, nil},
		{"last line without newline", "!2+2", []string{"4"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := openPython(t)
			var out bytes.Buffer
			if err := b.Interact(context.Background(), strings.NewReader(c.input), &out); err != nil {
				t.Fatalf("Interact: %v", err)
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output %q lacks %q", out.String(), w)
				}
			}
		})
	}
}

// syncBuffer collects what the pty master reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) waitFor(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		ok := strings.Contains(s.buf.String(), what)
		s.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Fatalf("terminal never showed %q; screen: %q", what, s.buf.String())
}

func TestInteractPty(t *testing.T) {
	b := openPython(t)
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	screen := &syncBuffer{}
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(screen, master); close(copied) }()
	done := make(chan error, 1)
	go func() { done <- b.Interact(context.Background(), slave, slave) }()

	type step struct{ send, expect string }
	for _, s := range []step{
		{"!6*7\r", "42"},
		{"import time; time.sleep(30)\r", ""},
		{"\x03", "KeyboardInterrupt"},
		{"!'alive ' * 2\r", `"alive alive "`},
		{"def h():\\\r", "... "},
		{"\x03", "^C"},
		{"!'h' in globals()\r", "false"},
	} {
		if s.send == "import time; time.sleep(30)\r" {
			_, _ = master.Write([]byte(s.send))
			time.Sleep(300 * time.Millisecond) // let the call start before interrupting
			continue
		}
		if _, err := master.Write([]byte(s.send)); err != nil {
			t.Fatal(err)
		}
		if s.expect != "" {
			screen.waitFor(t, s.expect)
		}
	}
	if _, err := master.Write([]byte{4}); err != nil { // Ctrl+D
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Interact: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Interact did not end on Ctrl+D")
	}
	_ = slave.Close()
	_ = master.Close()
	<-copied
	if err := b.Err(); err != nil {
		t.Fatalf("bond broken after the session: %v", err)
	}
	_ = os.Stdout.Sync()
}
