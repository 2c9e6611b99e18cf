package bond

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sandbond/sandbond/drivers"
)

// hardWords are arguments that break naive quoting.
var hardWords = []string{"a b", "it's", `"q"`, "$HOME", "`id`", "*", "", "x\ny", `back\slash`, "-c", ";", "é"}

func TestCommandLineSimple(t *testing.T) {
	for _, tc := range []struct {
		command string
		want    []string
	}{
		{"python3", []string{"python3"}},
		{"  /usr/bin/python3   -E\t-s ", []string{"/usr/bin/python3", "-E", "-s"}},
		{"sudo -u nobody python3", []string{"sudo", "-u", "nobody", "python3"}},
		{"env python3", []string{"env", "python3"}},
	} {
		argv, viaShell, err := commandLine(tc.command, hardWords)
		if err != nil || viaShell {
			t.Fatalf("commandLine(%q) = %v, %v", tc.command, viaShell, err)
		}
		// The extra words are passed as they are: no shell sees them.
		if want := append(tc.want, hardWords...); !reflect.DeepEqual(argv, want) {
			t.Errorf("commandLine(%q) = %q; want %q", tc.command, argv, want)
		}
	}
}

// TestCommandLineShell runs the argv built for commands with shell
// metacharacters: the extra words must reach the program unchanged.
func TestCommandLineShell(t *testing.T) {
	for _, command := range []string{
		`printf '%s|'`,
		`cd / && printf '%s|'`,
		`X=1 exec printf "%s|"`,
		`printf '%s|' 2>/dev/null`,
		`printf %s\|`,
	} {
		argv, viaShell, err := commandLine(command, hardWords)
		if err != nil || !viaShell || argv[0] != "/bin/sh" || argv[1] != "-c" || len(argv) != 3 {
			t.Fatalf("commandLine(%q) = %q, %v, %v; want /bin/sh -c LINE", command, argv, viaShell, err)
		}
		if !strings.HasPrefix(argv[2], command+" ") {
			t.Errorf("the command itself must stay as written: %q", argv[2])
		}
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil {
			t.Fatalf("%q: %v", argv, err)
		}
		if want := strings.Join(hardWords, "|") + "|"; string(out) != want {
			t.Errorf("%s printed %q; want %q", command, out, want)
		}
	}
}

// TestCommandLineSSH checks the double quoting of words appended to an ssh
// command, with a stand-in ssh that runs its remote command line the way
// sshd does: the words joined with spaces, given to a shell.
func TestCommandLineSSH(t *testing.T) {
	dir := t.TempDir()
	ssh := filepath.Join(dir, "ssh")
	script := "#!/bin/sh\n" +
		"while [ \"${1#-}\" != \"$1\" ]; do [ \"$1\" = -o ] && shift; shift; done\n" +
		"shift\n" + // the host
		"exec /bin/sh -c \"$*\"\n"
	if err := os.WriteFile(ssh, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	words := append([]string{"%s|"}, hardWords...)
	for _, tc := range []struct {
		command  string
		viaShell bool
	}{
		{ssh + " host printf", false},
		{ssh + " -o BatchMode=yes host printf", true},
		{ssh + " host printf 2>/dev/null", true},
	} {
		argv, viaShell, err := commandLine(tc.command, words)
		if err != nil || viaShell != tc.viaShell {
			t.Fatalf("commandLine(%q): via shell %v, %v", tc.command, viaShell, err)
		}
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil {
			t.Fatalf("%q: %v", argv, err)
		}
		if want := strings.Join(hardWords, "|") + "|"; string(out) != want {
			t.Errorf("%s printed %q; want %q", tc.command, out, want)
		}
	}
}

func TestIsSSH(t *testing.T) {
	for command, want := range map[string]bool{
		"ssh host python3":           true,
		"/usr/bin/ssh -p 22 host p":  true,
		"'ssh' host python3":         true,
		"sshpass -p x ssh host p":    false,
		"python3":                    false,
		"":                           false,
		"sudo ssh host python3":      false,
		"ssh host p 2>/dev/null":     true,
		"ssh host p | tee log":       true,
		"env ssh host python3":       false,
		"ssh -o ProxyJump=a host p3": true,
	} {
		if got := isSSH(command); got != want {
			t.Errorf("isSSH(%q) = %v; want %v", command, got, want)
		}
	}
}

func TestQuote(t *testing.T) {
	for _, s := range append(hardWords, "a\x00b", "'", "''", "plain") {
		q := quote(s)
		if strings.ContainsRune(s, 0) {
			if q != "'a\x00b'" {
				t.Errorf("quote(%q) = %q", s, q)
			}
			continue
		}
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+q).Output()
		if err != nil || string(out) != s {
			t.Errorf("quote(%q) = %s, which the shell reads as %q (%v)", s, q, out, err)
		}
	}
}

// nopLauncher is a launcher that is not ExecLauncher; buildSpec never
// calls it.
type nopLauncher struct{}

func (nopLauncher) Launch(context.Context, *LaunchSpec) (Process, error) {
	return nil, errors.New("not used")
}

// TestBuildSpecLocalStart: the driver's local start goes only to an
// interpreter the host resolved and runs as a plain child, with its
// arguments after the defaults and before the user's.
func TestBuildSpecLocalStart(t *testing.T) {
	ctx := context.Background()
	d := &drivers.Driver{
		Name: "local-test", Command: "sh", DefaultArgs: []string{"-default"},
		Stage1Flag: "-c", Stage1: "stage1", Code: []byte("stage 2"),
		Local: func(ctx context.Context, interp string, code []byte) (*drivers.LocalStart, error) {
			return &drivers.LocalStart{Args: []string{"-local"}, Preamble: []byte("loader")}, nil
		},
	}
	interp, err := d.ResolveInterpreter(ctx, d.Command)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Prepare(ctx, interp); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		opts      Options
		wantLocal bool
		wantArgv  []string
	}{
		{"default launcher", Options{Args: []string{"-user"}}, true,
			[]string{interp, "-default", "-local", "-user", "-c", "stage1", "3", "4"}},
		{"ExecLauncher", Options{Launcher: ExecLauncher{}}, true,
			[]string{interp, "-default", "-local", "-c", "stage1", "3", "4"}},
		{"another launcher", Options{Launcher: nopLauncher{}, Args: []string{"-user"}}, false,
			[]string{interp, "-default", "-user", "-c", "stage1", "3", "4"}},
		{"a command", Options{Command: "sh -e"}, false,
			[]string{"sh", "-e", "-default", "-c", "stage1", "0", "1"}}, // stdio: the channel a command gets
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := buildSpec(ctx, d, c.opts.withDefaults())
			if err != nil {
				t.Fatal(err)
			}
			if (p.local != nil) != c.wantLocal || p.local != nil && string(p.local.Preamble) != "loader" {
				t.Errorf("local start %+v, want one: %v", p.local, c.wantLocal)
			}
			if !slices.Equal(p.spec.Argv, c.wantArgv) {
				t.Errorf("argv %q, want %q", p.spec.Argv, c.wantArgv)
			}
			wantInterp := interp
			if c.opts.Command != "" {
				wantInterp = "" // a command's interpreter is not resolved
			}
			if p.interp != wantInterp {
				t.Errorf("interp %q, want %q", p.interp, wantInterp)
			}
		})
	}
}
