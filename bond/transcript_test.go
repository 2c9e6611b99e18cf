package bond

// Golden protocol transcripts: testdata/transcripts/*.txt. Each file is
// the whole conversation between the host and an interpreter, played by
// the fake (fake_test.go, scenario "transcript:PATH"):
//
//	> LINE      what the host must send, compared byte for byte
//	< LINE      what the fake sends
//	! VERB ARG  what the fake does besides (hexline HEX: send raw bytes as
//	            a line; partial TEXT: send TEXT without a newline; stderr
//	            TEXT, stdout TEXT: write a line to fd 2 or 1; exit N)
//	# ...       comments, and headers for the Go side of the test:
//
//	# action: open | eval CODE | exec CODE | call NAME JSONARGS |
//	          callref NAME CODE | export NAME
//	    one step of the Go test, run in file order; "open" (only first)
//	    makes the Open itself the step, to expect its failure
//	# want: JSON              the step's result, in wire notation (tags, $$)
//	# want-error: E           ErrProtocol, ErrTerminated, ErrClosed,
//	                          ErrOutputLimit, RemoteError:TYPE,
//	                          SerializationError:remote|local, ExitError:STATUS
//	# want-cause: boom        errors.Is(err, errTranscriptBoom)
//	# want-text: TEXT         the error's message contains TEXT
//	# want-stdout: TEXT       everything printed so far, after the step
//	# max-message-bytes: N    Options.MaxMessageBytes (before any action)
//	# no-trace-check          skip comparing Options.Transcript (below)
//
// Go functions exported by "export NAME": add (sums integers), echo
// (returns its argument), fail (returns errTranscriptBoom), reenter
// (evaluates its argument in the same bond, through its context).
//
// Unless a step broke the bond, the fake must reach the end of the file
// and exit 0 at the EOF that Close sends. Where the file has no "!"
// directives, Options.Transcript must be exactly its "> " and "< " lines.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sandbond/sandbond/internal/testenv"
)

var errTranscriptBoom = errors.New("boom")

type transcriptStep struct {
	line                     int
	action, arg              string
	want, wantErr, wantCause string
	hasWant                  bool
	wantText, wantStdout     string
	hasWantStdout            bool
}

type transcript struct {
	path       string
	steps      []*transcriptStep
	maxMsg     int
	traceCheck bool
	wire       []string // the "> " and "< " lines as Options.Transcript writes them
}

func parseTranscript(t *testing.T, path string) *transcript {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := &transcript{path: path, traceCheck: true}
	var cur *transcriptStep
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "> "):
			tr.wire = append(tr.wire, "-> "+line[2:])
			continue
		case strings.HasPrefix(line, "< "):
			tr.wire = append(tr.wire, "<- "+line[2:])
			continue
		case strings.HasPrefix(line, "! "):
			tr.traceCheck = false
			continue
		case line == "# no-trace-check":
			tr.traceCheck = false
			continue
		case !strings.HasPrefix(line, "# "):
			if strings.TrimSpace(line) != "" {
				t.Fatalf("%s:%d: unknown line %q", path, n, line)
			}
			continue
		}
		key, val, ok := strings.Cut(line[2:], ": ")
		if !ok {
			continue // a comment
		}
		switch key {
		case "action":
			action, arg, _ := strings.Cut(val, " ")
			cur = &transcriptStep{line: n, action: action, arg: arg}
			tr.steps = append(tr.steps, cur)
		case "want", "want-error", "want-cause", "want-text", "want-stdout":
			if cur == nil {
				t.Fatalf("%s:%d: %s before any action", path, n, key)
			}
			switch key {
			case "want":
				cur.want, cur.hasWant = val, true
			case "want-error":
				cur.wantErr = val
			case "want-cause":
				cur.wantCause = val
			case "want-text":
				cur.wantText = val
			case "want-stdout":
				text, err := strconv.Unquote(val)
				if err != nil {
					t.Fatalf("%s:%d: want-stdout needs a quoted Go string: %v", path, n, err)
				}
				cur.wantStdout, cur.hasWantStdout = text, true
			}
		case "max-message-bytes":
			if tr.maxMsg, err = strconv.Atoi(val); err != nil {
				t.Fatalf("%s:%d: %v", path, n, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(tr.steps) == 0 {
		t.Fatalf("%s: no actions", path)
	}
	return tr
}

// wireValue decodes JSON in wire notation as the engine would.
func wireValue(t *testing.T, text string) any {
	t.Helper()
	v, err := decodeValue([]byte("[" + text + "]")) // nested: tags apply
	if err != nil {
		t.Fatalf("bad JSON %q in a transcript: %v", text, err)
	}
	return v.([]any)[0]
}

func transcriptExports(b *Bond) map[string]Func {
	return map[string]Func{
		"add": func(_ context.Context, args []any) (any, error) {
			var sum int64
			for _, a := range args {
				n, ok := a.(int64)
				if !ok {
					return nil, fmt.Errorf("add: %T is not an integer", a)
				}
				sum += n
			}
			return sum, nil
		},
		"echo": func(_ context.Context, args []any) (any, error) { return args[0], nil },
		"fail": func(context.Context, []any) (any, error) { return nil, errTranscriptBoom },
		"reenter": func(ctx context.Context, args []any) (any, error) {
			code, _ := args[0].(string)
			return b.Eval(ctx, code)
		},
	}
}

func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/transcripts/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			abs, err := filepath.Abs(file)
			if err != nil {
				t.Fatal(err)
			}
			runTranscript(t, parseTranscript(t, abs))
		})
	}
}

func runTranscript(t *testing.T, tr *transcript) {
	stdout, stderr, trace := &testenv.Buffer{}, &testenv.Buffer{}, &testenv.Buffer{}
	opts := fakeOptions("transcript:"+tr.path, &Options{
		Stdout: stdout, Stderr: stderr, Transcript: trace, MaxMessageBytes: tr.maxMsg,
	})
	defer func() {
		if strings.Contains(stderr.String(), "FAKE MISMATCH") {
			t.Errorf("the host did not follow the transcript: %s", stderr.String())
		}
	}()
	steps := tr.steps
	b, err := Open(bg, "fake", opts)
	if steps[0].action == "open" {
		checkStep(t, steps[0], nil, err, stdout)
		if b == nil {
			return
		}
		steps = steps[1:]
	} else if err != nil {
		t.Fatalf("Open: %v (stderr %q)", err, stderr.String())
	}
	exports := transcriptExports(b)
	broken := false
	for _, s := range steps {
		var v any
		var err error
		switch s.action {
		case "eval":
			v, err = b.Eval(bg, s.arg)
		case "exec":
			err = b.EvalBlock(bg, s.arg)
		case "call":
			name, args, _ := strings.Cut(s.arg, " ")
			var list []any
			if args != "" {
				list = wireValue(t, args).([]any)
			}
			v, err = b.Call(bg, name, list...)
		case "callref":
			name, code, _ := strings.Cut(s.arg, " ")
			v, err = b.Call(bg, name, NewRef(code))
		case "export":
			fn := exports[s.arg]
			if fn == nil {
				t.Fatalf("line %d: no Go function %q to export", s.line, s.arg)
			}
			err = b.Export(bg, s.arg, fn)
		default:
			t.Fatalf("line %d: unknown action %q", s.line, s.action)
		}
		checkStep(t, s, v, err, stdout)
		if b.Err() != nil {
			broken = true
			break
		}
	}
	closeAndCheck(t, b)
	if !broken && b.exitErr != nil {
		t.Errorf("the fake did not end cleanly: %v; stderr %q", b.exitErr, stderr.String())
	}
	if tr.traceCheck {
		want := strings.Join(tr.wire, "\n") + "\n"
		if got := trace.String(); got != want {
			t.Errorf("Options.Transcript wrote\n%s\nwant\n%s", got, want)
		}
	}
}

func checkStep(t *testing.T, s *transcriptStep, v any, err error, stdout *testenv.Buffer) {
	t.Helper()
	where := fmt.Sprintf("line %d (%s %s)", s.line, s.action, s.arg)
	if s.wantErr == "" {
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
	} else {
		checkWantError(t, where, s.wantErr, err)
	}
	if s.wantCause == "boom" && !errors.Is(err, errTranscriptBoom) {
		t.Errorf("%s: error %v does not have the Go error as its cause", where, err)
	}
	if s.wantText != "" && (err == nil || !strings.Contains(err.Error(), s.wantText)) {
		t.Errorf("%s: error %v does not say %q", where, err, s.wantText)
	}
	if s.hasWant {
		if want := wireValue(t, s.want); !valueEqual(v, want) {
			t.Errorf("%s = %#v; want %#v", where, v, want)
		}
	}
	if s.hasWantStdout {
		if got := stdout.String(); got != s.wantStdout {
			t.Errorf("%s: stdout = %q; want %q", where, got, s.wantStdout)
		}
	}
}

func checkWantError(t *testing.T, where, spec string, err error) {
	t.Helper()
	sentinels := map[string]error{
		"ErrProtocol": ErrProtocol, "ErrTerminated": ErrTerminated, "ErrClosed": ErrClosed,
		"ErrOutputLimit": ErrOutputLimit, "ErrRemote": ErrRemote, "ErrSerialization": ErrSerialization,
	}
	kind, detail, _ := strings.Cut(spec, ":")
	switch kind {
	case "RemoteError":
		var re *RemoteError
		if !errors.As(err, &re) || re.Type != detail || !errors.Is(err, ErrRemote) {
			t.Fatalf("%s: error %v; want a RemoteError of type %s", where, err, detail)
		}
	case "SerializationError":
		var se *SerializationError
		if !errors.As(err, &se) || string(se.Side) != detail || !errors.Is(err, ErrSerialization) {
			t.Fatalf("%s: error %v; want a %s SerializationError", where, err, detail)
		}
	case "ExitError":
		var ee *ExitError
		if !errors.As(err, &ee) || !errors.Is(err, ErrTerminated) {
			t.Fatalf("%s: error %v; want an ExitError", where, err)
		}
		if status := fmt.Sprintf("exit status %s", detail); !strings.Contains(err.Error(), status) {
			t.Errorf("%s: error %v does not say %s", where, err, status)
		}
	default:
		target := sentinels[kind]
		if target == nil {
			t.Fatalf("%s: unknown want-error %q", where, spec)
		}
		if !errors.Is(err, target) {
			t.Fatalf("%s: error %v; want %v", where, err, target)
		}
	}
}

// TestOptionsTranscript checks the transcript writer on one exchange,
// spelled out here rather than derived from a file.
func TestOptionsTranscript(t *testing.T) {
	trace := &testenv.Buffer{}
	b := openFake(t, "interp", &Options{Transcript: trace})
	must(t, b.Export(bg, "twice", func(_ context.Context, args []any) (any, error) { return args[0].(int64) * 2, nil }))
	if v, err := b.Call(bg, "host", "twice", 21); err != nil || v != int64(42) {
		t.Fatalf("Call = %v, %v", v, err)
	}
	if _, err := b.Eval(bg, "!print:1:hi\n"); err != nil {
		t.Fatal(err)
	}
	want := `<- {"op":"ready","version":1,"language":"fake","info":"fake 1.0","side":["blob","fd"]}
-> {"op":"export","id":1,"name":"twice"}
<- {"op":"return","id":1,"value":null}
-> {"op":"call","id":2,"name":"host","args":["twice",21]}
<- {"op":"call","id":1,"name":"twice","args":[21]}
-> {"op":"return","id":1,"value":42}
<- {"op":"return","id":2,"value":42}
-> {"op":"eval","id":3,"code":"!print:1:hi\n"}
<- {"op":"output","fd":1,"data":"hi\n"}
<- {"op":"return","id":3,"value":null}
`
	if got := trace.String(); got != want {
		t.Errorf("Options.Transcript wrote\n%s\nwant\n%s", got, want)
	}
}
