package sandbox

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/internal/testenv"
	"github.com/sandbond/sandbond/policy"
)

func presetProfile(lang string, l policy.Launcher) *policy.Profile {
	return &policy.Profile{Version: 1, Name: "preset", Language: lang, Launcher: l,
		Seccomp: policy.Seccomp{Disabled: true}}
}

func TestPresetOptionsCommands(t *testing.T) {
	cases := []struct {
		name     string
		launcher policy.Launcher
		interp   string
		want     string
		channel  bond.Channel
	}{
		{"sudo", policy.Launcher{Type: "sudo", User: "nobody"}, "", "sudo -n -u nobody -- python3", bond.ChannelStdio},
		{"ssh", policy.Launcher{Type: "ssh", Host: "box", SSHOptions: []string{"Port=2222"}}, "",
			"ssh -T -o BatchMode=yes -o Port=2222 -- box python3", bond.ChannelStdio},
		{"lxc", policy.Launcher{Type: "lxc", Container: "c1"}, "/opt/py 3/python", "lxc-execute -n c1 -- '/opt/py 3/python'", bond.ChannelStdio},
		{"plain", policy.Launcher{Type: "plain"}, "", "", bond.ChannelFDs},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := presetProfile("python", c.launcher)
			p.Interpreter = c.interp
			o, err := PresetOptions(p)
			if err != nil {
				t.Fatal(err)
			}
			if o.Command != c.want || o.Channel != c.channel {
				t.Fatalf("command %q channel %v, want %q %v", o.Command, o.Channel, c.want, c.channel)
			}
		})
	}
	for _, l := range []policy.Launcher{{Type: "container"}, {Type: "sudo"}, {Type: "ssh"}, {Type: "lxc"}} {
		if _, err := PresetOptions(presetProfile("python", l)); err == nil {
			t.Errorf("launcher %+v: want an error", l)
		}
	}
}

func TestPresetPlainEnv(t *testing.T) {
	t.Setenv("SANDBOND_PRESET_SECRET", "leak")
	t.Setenv("SANDBOND_PRESET_OK", "yes")
	p := presetProfile("python", policy.Launcher{Type: "plain"})
	p.Env = policy.Env{Allow: []string{"SANDBOND_PRESET_OK", "PATH"}, Set: map[string]string{"FIXED": "1"}}
	o, err := PresetOptions(p)
	if err != nil {
		t.Fatal(err)
	}
	b := openPreset(t, "python", o)
	v, err := bond.EvalAs[map[string]string](ctxFor(t), b, "dict(__import__('os').environ)")
	if err != nil {
		t.Fatal(err)
	}
	if v["SANDBOND_PRESET_OK"] != "yes" || v["FIXED"] != "1" || v["SANDBOND_PRESET_SECRET"] != "" {
		t.Fatalf("environment not built from the allowlist: %v", v)
	}
}

// uidExpr returns the interpreter's real uid, per language.
var uidExpr = map[string]string{
	"python": "__import__('os').getuid()",
	"php":    "posix_getuid()",
	"perl":   "$<",
	"node":   "process.getuid()",
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openPreset(t *testing.T, lang string, o *bond.Options) *bond.Bond {
	t.Helper()
	var stderr strings.Builder
	o.Stderr = &stderr
	o.GracePeriod = 2 * time.Second
	b, err := bond.Open(ctxFor(t), lang, o)
	if err != nil {
		t.Fatalf("open %s through %q: %v (stderr: %s)", lang, o.Command, err, stderr.String())
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// sudoTestUser is the user the sudo preset tests run interpreters as
// (SANDBOND_TEST_USER, which .ci/test sets); it skips (fails under CI)
// without that user or sudo.
func sudoTestUser(t *testing.T) *user.User {
	t.Helper()
	name := os.Getenv("SANDBOND_TEST_USER")
	if name == "" {
		testenv.SkipOrFail(t, "SANDBOND_TEST_USER is not set: the sudo preset runs interpreters as that user")
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		testenv.SkipOrFail(t, "sudo not installed")
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPresetSudo(t *testing.T) {
	needRoot(t)
	u := sudoTestUser(t)
	name := u.Username
	for lang, expr := range uidExpr {
		t.Run(lang, func(t *testing.T) {
			o, err := PresetOptions(presetProfile(lang, policy.Launcher{Type: "sudo", User: name}))
			if err != nil {
				t.Fatal(err)
			}
			b := openPreset(t, lang, o)
			v, err := bond.EvalAs[int](ctxFor(t), b, expr)
			if err != nil {
				t.Fatal(err)
			}
			if strconv.Itoa(v) != u.Uid {
				t.Fatalf("%s runs as uid %d, want %s (%s)", lang, v, u.Uid, name)
			}
		})
	}
}

// startSSHD runs a throwaway OpenSSH server on a loopback port that accepts
// one fresh key for root, and returns the ssh options that reach it.
func startSSHD(t *testing.T) []string {
	t.Helper()
	needRoot(t)
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if sshd, err = exec.LookPath("/usr/sbin/sshd"); err != nil {
			testenv.SkipOrFail(t, "OpenSSH server not installed")
		}
	}
	dir := t.TempDir()
	for _, k := range []string{"host", "client"} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "client.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	config := fmt.Sprintf(`ListenAddress 127.0.0.1:%d
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
`, port, filepath.Join(dir, "host"), filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"))
	cfg := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", cfg)
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen: %v; log: %s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return []string{"Port=" + strconv.Itoa(port), "IdentityFile=" + filepath.Join(dir, "client"),
		"IdentitiesOnly=yes", "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR"}
}

func TestPresetSSH(t *testing.T) {
	opts := startSSHD(t)
	for lang := range uidExpr {
		t.Run(lang, func(t *testing.T) {
			p := presetProfile(lang, policy.Launcher{Type: "ssh", Host: "root@127.0.0.1", SSHOptions: opts})
			o, err := PresetOptions(p)
			if err != nil {
				t.Fatal(err)
			}
			b := openPreset(t, lang, o)
			v, err := bond.EvalAs[int](ctxFor(t), b, "6*7")
			if err != nil || v != 42 {
				t.Fatalf("6*7 over ssh = %v, %v", v, err)
			}
			// A call that crosses the connection both ways.
			if err := b.Export(ctxFor(t), "go_twice", func(_ context.Context, args []any) (any, error) {
				return []any{args[0], args[0]}, nil
			}); err != nil {
				t.Fatal(err)
			}
			got, err := bond.EvalAs[[]string](ctxFor(t), b, `go_twice("é")`)
			if err != nil || len(got) != 2 || got[0] != "é" {
				t.Fatalf("callback over ssh = %v, %v", got, err)
			}
		})
	}
}

// lxcConfig is a minimal application container: the host's filesystem, no
// network devices, no console (there is no terminal to give it).
const lxcConfig = `lxc.uts.name = sandbond-lxc
lxc.net.0.type = empty
lxc.apparmor.profile = unconfined
lxc.console.path = none
lxc.tty.max = 0
lxc.pty.max = 0
`

func TestPresetLXC(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("lxc-execute"); err != nil {
		testenv.SkipOrFail(t, "lxc not installed (Debian package lxc)")
	}
	name := fmt.Sprintf("sandbond-test-%d", os.Getpid())
	dir := filepath.Join("/var/lib/lxc", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "config"), []byte(lxcConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	for lang := range uidExpr {
		t.Run(lang, func(t *testing.T) {
			o, err := PresetOptions(presetProfile(lang, policy.Launcher{Type: "lxc", Container: name}))
			if err != nil {
				t.Fatal(err)
			}
			b := openPreset(t, lang, o)
			v, err := bond.EvalAs[int](ctxFor(t), b, "6*7")
			if err != nil || v != 42 {
				t.Fatalf("6*7 in lxc = %v, %v", v, err)
			}
			if lang != "python" {
				return
			}
			host, _ := os.Hostname()
			node, err := bond.EvalAs[string](ctxFor(t), b, "__import__('os').uname().nodename")
			if err != nil || node != "sandbond-lxc" || node == host {
				t.Fatalf("hostname inside lxc = %q, %v; want the container's (sandbond-lxc), not the host's %q", node, err, host)
			}
		})
	}
}
