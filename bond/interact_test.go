package bond

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/sandbond/sandbond/internal/testenv"
)

func TestInteractLines(t *testing.T) {
	cases := []struct {
		name, input string
		want        []string
	}{
		{"statements and expressions", "x = 41\n!x + 1\n", []string{"42"}},
		{"continuation", "def f():\\\n    return 7\n!f()\n", []string{"7"}},
		{"remote error keeps going", "!1/0\n!'after'\n", []string{"ZeroDivisionError", `"after"`}},
		{"ctrl-c abandons a block", "def g():\\\n\x03\n!'g' in globals()\n", []string{"^C", "false"}},
		{"output is shown", "print('hello from python')\n", []string{"hello from python"}},
		{"last line without newline", "!2+2", []string{"4"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := openPy(t, &Options{GracePeriod: 2 * time.Second})
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

// waitFor polls the buffer until it shows what (a pty's screen has no
// other signal to wait on).
func waitFor(t *testing.T, s *testenv.Buffer, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(s.String(), what) {
		if time.Now().After(deadline) {
			t.Fatalf("terminal never showed %q; screen: %q", what, s.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInteractPty(t *testing.T) {
	b := openPy(t, &Options{GracePeriod: 2 * time.Second})
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	screen := &testenv.Buffer{}
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
			waitFor(t, screen, s.expect)
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
}
