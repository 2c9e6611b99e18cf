package bond

// The fake interpreter. The test binary plays it when started with
// fakeEnv set (see TestMain): stage 1 is the command line of fakeDriver,
// stage 2 (the preamble's bytes) is a scenario:
//
//	interp              a tiny interpreter (below), the engine tests' workhorse
//	transcript:PATH     replay a golden transcript (transcript_test.go)
//	never-ready, bad-first, wrong-version, wrong-language, garbage-first,
//	exit-before-ready   hostile start-ups
//
// The tiny interpreter answers requests like a driver:
//
//	eval/exec JSON      the value is the JSON text itself (exec: null)
//	eval/exec !COMMAND  a behaviour, hostile or not (fakeCommand)
//	call echo [x]       x
//	call args [...]     the raw JSON text of the arguments, as a string
//	call add [a,b,...]  the sum of integers
//	call host [n,...]   calls the host's exported n with the rest; a host
//	                    error is raised on (an error reply carrying its token)
//	call hostcatch [n]  calls the host's n and returns [type, message] of
//	                    its error reply, or ["", value]
//	export NAME         null

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandbond/sandbond/drivers"
	"golang.org/x/sys/unix"
)

const fakeEnv = "SANDBOND_FAKE_INTERP"

// fakeExe is the test binary, which plays the fake interpreter.
func fakeExe() string {
	if filepath.IsAbs(os.Args[0]) {
		return os.Args[0]
	}
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return exe
}

// fakeDriver is a driver whose interpreter is this test binary.
func fakeDriver(scenario string) *drivers.Driver {
	exe := fakeExe()
	return &drivers.Driver{
		Name:       "fake",
		Command:    exe,
		Stage1Flag: "-fake",
		Stage1:     "fake-stage1",
		Code:       []byte(scenario),
		Resolve:    func(context.Context, string) (string, error) { return exe, nil },
	}
}

// fakeOptions completes o (which may be nil) for a fake interpreter.
func fakeOptions(scenario string, o *Options) *Options {
	var r Options
	if o != nil {
		r = *o
	}
	r.Driver = fakeDriver(scenario)
	if r.Env == nil {
		r.Env = os.Environ()
	}
	// Under -race, a Go binary sleeps a second at exit unless told not to.
	r.Env = append(append([]string(nil), r.Env...), fakeEnv+"=1", "GORACE=atexit_sleep_ms=0")
	if r.GracePeriod == 0 {
		r.GracePeriod = 500 * time.Millisecond
	}
	return &r
}

// openFake opens a bond to a fake interpreter playing scenario and closes
// it (checking that the process is reaped) when the test ends.
func openFake(t testing.TB, scenario string, o *Options) *Bond {
	t.Helper()
	b, err := Open(context.Background(), "fake", fakeOptions(scenario, o))
	if err != nil {
		t.Fatalf("open fake %q: %v", scenario, err)
	}
	t.Cleanup(func() { closeAndCheck(t, b) })
	return b
}

// closeAndCheck closes b and checks that its process is gone.
func closeAndCheck(t testing.TB, b *Bond) {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	assertReaped(t, b.Pid())
}

// ---------------------------------------------------------------------
// The fake's side (runs in the child process).

type fake struct {
	r      *bufio.Reader
	w      *os.File
	sigint chan os.Signal
	next   int64  // ids of the fake's own calls
	last   string // type of the last host error reply seen
	side   *fakeSide
	// lastLine is the last line received, for ops that read more members.
	lastLine []byte
}

type fakeMsg struct {
	Op    string            `json:"op"`
	ID    int64             `json:"id"`
	Code  string            `json:"code"`
	Name  string            `json:"name"`
	Args  []json.RawMessage `json:"args"`
	Value json.RawMessage   `json:"value"`
	Keep  bool              `json:"keep"`
	Rel   []int64           `json:"release"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
		Token   string `json:"token"`
	} `json:"error"`
}

// fakeErr is an error reply the fake sends.
type fakeErr struct{ kind, typ, msg, token string }

func runFake() int {
	n := len(os.Args)
	if n < 3 {
		fmt.Fprintln(os.Stderr, "fake: need input and output fds")
		return 2
	}
	in, err1 := strconv.Atoi(os.Args[n-2])
	out, err2 := strconv.Atoi(os.Args[n-1])
	if err1 != nil || err2 != nil {
		fmt.Fprintln(os.Stderr, "fake: bad fd arguments", os.Args)
		return 2
	}
	if out == 1 { // stdio mode: like the drivers, keep fd 1 away from the protocol
		dup, err := unix.Dup(1)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake: dup:", err)
			return 2
		}
		if err := unix.Dup3(2, 1, 0); err != nil {
			fmt.Fprintln(os.Stderr, "fake: dup3:", err)
			return 2
		}
		out = dup
	}
	f := &fake{
		r:      bufio.NewReader(os.NewFile(uintptr(in), "protocol-in")),
		w:      os.NewFile(uintptr(out), "protocol-out"),
		sigint: make(chan os.Signal, 1),
	}
	signal.Notify(f.sigint, syscall.SIGINT)
	head, err := f.r.ReadString('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake: reading the preamble:", err)
		return 2
	}
	size, err := strconv.Atoi(strings.TrimSuffix(head, "\n"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake: bad preamble length:", err)
		return 2
	}
	code := make([]byte, size)
	if _, err := io.ReadFull(f.r, code); err != nil {
		fmt.Fprintln(os.Stderr, "fake: reading stage 2:", err)
		return 2
	}
	scenario := string(code)
	switch {
	case scenario == "interp":
		f.ready()
		f.serve(0)
		return 0 // serve exits at EOF
	case strings.HasPrefix(scenario, "transcript:"):
		return f.replay(strings.TrimPrefix(scenario, "transcript:"))
	case scenario == "never-ready":
		_, _ = io.Copy(io.Discard, f.r)
		return 0
	case scenario == "bad-first":
		f.send(`{"op":"return","id":1,"value":1}`)
	case scenario == "wrong-version":
		f.send(`{"op":"ready","version":2,"language":"fake","info":"fake 2.0"}`)
	case scenario == "wrong-language":
		f.send(`{"op":"ready","version":1,"language":"cobol","info":"fake"}`)
	case scenario == "garbage-first":
		f.send(`Python 3.11.7 (main) [GCC 12.2.0] on linux`)
	case scenario == "exit-before-ready":
		fmt.Fprint(os.Stderr, "fake: cannot start: no such module\n")
		return 4
	default:
		fmt.Fprintf(os.Stderr, "fake: unknown scenario %q\n", scenario)
		return 2
	}
	_, _ = io.Copy(io.Discard, f.r)
	return 0
}

func (f *fake) ready() {
	f.side = openFakeSide()
	if f.side != nil {
		f.send(`{"op":"ready","version":1,"language":"fake","info":"fake 1.0","side":["blob","fd"]}`)
		return
	}
	f.send(`{"op":"ready","version":1,"language":"fake","info":"fake 1.0"}`)
}

func (f *fake) send(line string) {
	if _, err := f.w.Write([]byte(line + "\n")); err != nil {
		fmt.Fprintln(os.Stderr, "fake: write:", err)
		os.Exit(5)
	}
}

func (f *fake) recv() *fakeMsg {
	line, err := f.r.ReadBytes('\n')
	if err != nil {
		os.Exit(0) // EOF: the host closed the bond
	}
	var m fakeMsg
	if err := json.Unmarshal(line, &m); err != nil {
		fmt.Fprintf(os.Stderr, "fake: bad line from host %q: %v\n", line, err)
		os.Exit(6)
	}
	f.lastLine = line
	return &m
}

// serve handles requests until the reply to waitID (0: until EOF).
func (f *fake) serve(waitID int64) *fakeMsg {
	for {
		m := f.recv()
		switch m.Op {
		case "return", "error":
			if m.ID != waitID {
				fmt.Fprintf(os.Stderr, "fake: reply to %d while waiting for %d\n", m.ID, waitID)
				os.Exit(7)
			}
			return m
		}
		f.handle(m)
	}
}

func (f *fake) handle(m *fakeMsg) {
	var v string
	var e *fakeErr
	if f.side != nil {
		f.side.released = append(f.side.released, m.Rel...)
	}
	if f.sideOp(m) {
		return
	}
	switch m.Op {
	case "eval", "exec":
		var done bool
		v, e, done = f.command(m)
		if done {
			return
		}
		if m.Op == "exec" && e == nil {
			v = "null"
		}
	case "call":
		v, e = f.call(m.Name, m.Args)
	case "export":
		v = "null"
	default:
		fmt.Fprintf(os.Stderr, "fake: unknown op %q\n", m.Op)
		os.Exit(8)
	}
	if e != nil {
		f.replyError(m.ID, e)
		return
	}
	f.send(fmt.Sprintf(`{"op":"return","id":%d,"value":%s}`, m.ID, v))
}

func (f *fake) replyError(id int64, e *fakeErr) {
	obj := map[string]string{"kind": e.kind, "type": e.typ, "message": e.msg}
	if e.token != "" {
		obj["token"] = e.token
	}
	data, _ := json.Marshal(obj)
	f.send(fmt.Sprintf(`{"op":"error","id":%d,"error":%s}`, id, data))
}

// hostCall calls an exported host function and returns its reply.
func (f *fake) hostCall(name string, args []json.RawMessage) *fakeMsg {
	f.next++
	id := f.next
	nameJSON, _ := json.Marshal(name)
	if args == nil {
		args = []json.RawMessage{}
	}
	argsJSON, _ := json.Marshal(args)
	f.send(fmt.Sprintf(`{"op":"call","id":%d,"name":%s,"args":%s}`, id, nameJSON, argsJSON))
	r := f.serve(id)
	if r.Op == "error" {
		f.last = r.Error.Type
	}
	return r
}

// jsonString quotes s as JSON without encoding/json's HTML escapes.
func jsonString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(buf.String(), "\n")
}

func (f *fake) call(name string, args []json.RawMessage) (string, *fakeErr) {
	switch name {
	case "echo":
		if len(args) != 1 {
			return "", &fakeErr{"exception", "TypeError", "echo takes one argument", ""}
		}
		return string(args[0]), nil
	case "args":
		parts := make([]string, len(args))
		for i, a := range args {
			parts[i] = string(a)
		}
		return jsonString("[" + strings.Join(parts, ",") + "]"), nil
	case "add":
		sum := new(big.Int)
		for _, a := range args {
			n, ok := new(big.Int).SetString(string(a), 10)
			if !ok {
				return "", &fakeErr{"exception", "TypeError", "not an integer: " + string(a), ""}
			}
			sum.Add(sum, n)
		}
		return sum.String(), nil
	case "host", "hostcatch":
		var fn string
		if len(args) == 0 || json.Unmarshal(args[0], &fn) != nil {
			return "", &fakeErr{"exception", "TypeError", "host needs a function name", ""}
		}
		r := f.hostCall(fn, args[1:])
		if name == "hostcatch" {
			if r.Op == "error" {
				return fmt.Sprintf(`[%s,%s]`, jsonString(r.Error.Type), jsonString(r.Error.Message)), nil
			}
			return fmt.Sprintf(`["",%s]`, r.Value), nil
		}
		if r.Op == "error" {
			return "", &fakeErr{"exception", "HostError", r.Error.Message, r.Error.Token}
		}
		return string(r.Value), nil
	}
	return "", &fakeErr{"exception", "NameError", fmt.Sprintf("name %q is not defined", name), ""}
}

// command runs one eval/exec code. done means the fake has answered (or
// deliberately not answered) by itself.
func (f *fake) command(m *fakeMsg) (v string, e *fakeErr, done bool) {
	code := m.Code
	if !strings.HasPrefix(code, "!") {
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(code)); err != nil {
			return "", &fakeErr{"exception", "SyntaxError", err.Error(), ""}, false
		}
		return buf.String(), nil, false
	}
	verb, arg, _ := strings.Cut(code[1:], ":")
	switch verb {
	case "line": // send arg as a whole line instead of the reply
		f.send(arg)
		return "", nil, true
	case "hex": // send hex-decoded bytes as a line instead of the reply
		data, err := hex.DecodeString(arg)
		if err != nil {
			return "", &fakeErr{"exception", "ValueError", err.Error(), ""}, false
		}
		f.send(string(data))
		return "", nil, true
	case "rawvalue": // reply with arg as the value, verbatim
		return arg, nil, false
	case "reply": // reply "ID:VALUE": a reply with any id
		id, value, _ := strings.Cut(arg, ":")
		f.send(fmt.Sprintf(`{"op":"return","id":%s,"value":%s}`, id, value))
		return "", nil, true
	case "partial": // write part of a message and exit
		_, _ = f.w.Write([]byte(arg))
		os.Exit(0)
	case "exit": // "N:STDERR": write STDERR to fd 2 and exit with status N
		status, text, _ := strings.Cut(arg, ":")
		n, _ := strconv.Atoi(status)
		fmt.Fprint(os.Stderr, text)
		os.Exit(n)
	case "closeout": // close the protocol output but stay alive
		_ = f.w.Close()
		_, _ = io.Copy(io.Discard, f.r)
		time.Sleep(time.Hour)
	case "sleep": // until SIGINT, then KeyboardInterrupt
		<-f.sigint
		return "", &fakeErr{"exception", "KeyboardInterrupt", "", ""}, false
	case "sleepcall": // until SIGINT; then call the host, then KeyboardInterrupt
		<-f.sigint
		r := f.hostCall("cb", nil)
		msg := "host call returned " + string(r.Value)
		if r.Op == "error" {
			msg = "host call failed with " + r.Error.Type
		}
		return "", &fakeErr{"exception", "KeyboardInterrupt", msg, ""}, false
	case "ignoreint": // ignore SIGINT and never answer
		signal.Ignore(syscall.SIGINT)
		time.Sleep(time.Hour)
	case "late": // answer an interrupt only after arg (a duration)
		<-f.sigint
		d, _ := time.ParseDuration(arg)
		time.Sleep(d)
		return `"late"`, nil, false
	case "sigint": // whether a SIGINT has arrived since the last check
		select {
		case <-f.sigint:
			return "true", nil, false
		default:
			return "false", nil, false
		}
	case "last": // the type of the last host error reply
		return jsonString(f.last), nil, false
	case "print": // "FD:TEXT" as an output message
		fd, text, _ := strings.Cut(arg, ":")
		f.send(fmt.Sprintf(`{"op":"output","fd":%s,"data":%s}`, fd, jsonString(text)))
		return "null", nil, false
	case "flood": // N bytes of output messages, then null
		n, _ := strconv.Atoi(arg)
		chunk := strings.Repeat("x", 1000)
		for n > 0 {
			c := chunk[:min(n, len(chunk))]
			f.send(fmt.Sprintf(`{"op":"output","fd":1,"data":%q}`, c))
			n -= len(c)
		}
		return "null", nil, false
	case "rawflood": // N bytes written straight to fd 1, then null
		n, _ := strconv.Atoi(arg)
		_, _ = os.Stdout.Write(bytes.Repeat([]byte("y"), n))
		return "null", nil, false
	case "stdout": // raw bytes to fd 1
		_, _ = os.Stdout.WriteString(arg)
		return "null", nil, false
	case "stderr": // raw bytes to fd 2
		_, _ = os.Stderr.WriteString(arg)
		return "null", nil, false
	case "big": // a string value of N bytes
		n, _ := strconv.Atoi(arg)
		return `"` + strings.Repeat("z", n) + `"`, nil, false
	case "argv":
		data, _ := json.Marshal(os.Args[1:])
		return string(data), nil, false
	case "env":
		v, ok := os.LookupEnv(arg)
		if !ok {
			return "null", nil, false
		}
		return jsonString(v), nil, false
	case "cwd":
		wd, _ := os.Getwd()
		return jsonString(wd), nil, false
	case "fds": // which of fds 0..2 are pipes, as the fake sees them
		var kinds []string
		for fd := 0; fd < 3; fd++ {
			var st unix.Stat_t
			kind := "closed"
			if unix.Fstat(fd, &st) == nil {
				kind = fmt.Sprintf("%o", st.Mode&unix.S_IFMT)
			}
			kinds = append(kinds, kind)
		}
		data, _ := json.Marshal(kinds)
		return string(data), nil, false
	case "raise": // "TYPE:MESSAGE" as an exception with a traceback
		typ, msg, _ := strings.Cut(arg, ":")
		obj, _ := json.Marshal(map[string]string{"kind": "exception", "type": typ, "message": msg,
			"traceback": "Traceback (most recent call last):\n  fake\n" + typ + ": " + msg})
		f.send(fmt.Sprintf(`{"op":"error","id":%d,"error":%s}`, m.ID, obj))
		return "", nil, true
	case "unserializable": // a serialization error reply, as a driver sends for a set()
		return "", &fakeErr{"serialization", "set", "cannot serialize value of type set", ""}, false
	}
	return "", &fakeErr{"exception", "NameError", "unknown command " + verb, ""}, false
}

// replay follows a transcript (see transcript_test.go): it checks each
// "> " line against what the host sends, sends each "< " line, and runs
// each "! " directive. At the end it waits for EOF.
func (f *fake) replay(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake:", err)
		return 2
	}
	mismatch := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "FAKE MISMATCH: "+format+"\n", args...)
		return 99
	}
	for i, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "> "):
			want := line[2:] + "\n"
			got, err := f.r.ReadString('\n')
			if err != nil {
				return mismatch("line %d: wanted %q, got %v", i+1, want, err)
			}
			if got != want {
				return mismatch("line %d: wanted %q, got %q", i+1, want, got)
			}
		case strings.HasPrefix(line, "< "):
			f.send(line[2:])
		case strings.HasPrefix(line, "! "):
			verb, arg, _ := strings.Cut(line[2:], " ")
			switch verb {
			case "hexline":
				b, err := hex.DecodeString(arg)
				if err != nil {
					return mismatch("line %d: %v", i+1, err)
				}
				f.send(string(b))
			case "partial":
				_, _ = f.w.Write([]byte(arg))
			case "stderr":
				fmt.Fprintln(os.Stderr, arg)
			case "stdout":
				fmt.Fprintln(os.Stdout, arg)
			case "exit":
				n, _ := strconv.Atoi(arg)
				return n
			default:
				return mismatch("line %d: unknown directive %q", i+1, verb)
			}
		}
	}
	if extra, err := f.r.ReadString('\n'); err == nil || extra != "" {
		return mismatch("after the end of the transcript, the host sent %q", extra)
	}
	return 0
}
