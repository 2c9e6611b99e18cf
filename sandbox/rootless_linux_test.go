//go:build linux

package sandbox

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sandbond/sandbond/internal/testenv"
)

const envRootlessChild = "SANDBOND_ROOTLESS_CHILD"

// TestRootless runs TestRootlessChild again as the unprivileged user named
// by SANDBOND_TEST_USER (which .ci/run creates), through setpriv.
func TestRootless(t *testing.T) {
	name := os.Getenv("SANDBOND_TEST_USER")
	if name == "" {
		testenv.SkipOrFail(t, "SANDBOND_TEST_USER is not set: set it to an unprivileged user to test the rootless launcher")
	}
	needRoot(t)
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		testenv.SkipOrFail(t, "setpriv not installed (util-linux)")
	}
	// The test binary lives in a 0700 build directory: copy it where the
	// user can run it.
	dir, err := os.MkdirTemp("", "sandbond-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "sandbox.test")
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	src.Close()
	dst.Close()
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid="+u.Uid, "--regid="+u.Gid, "--clear-groups", "--",
		bin, "-test.run=^TestRootlessChild$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = []string{envRootlessChild + "=1", "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir, "TMPDIR=" + dir}
	out, err := cmd.CombinedOutput()
	t.Logf("as %s (uid %s):\n%s", name, u.Uid, out)
	if err != nil {
		t.Fatalf("rootless run: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestRootlessChild") {
		t.Fatal("TestRootlessChild did not pass")
	}
}

// TestRootlessChild is the rootless half of TestRootless.
func TestRootlessChild(t *testing.T) {
	if os.Getenv(envRootlessChild) != "1" {
		return // the body runs only in the unprivileged child that TestRootless starts
	}
	if os.Geteuid() == 0 {
		t.Fatal("TestRootlessChild runs as root")
	}
	if err := Preflight(); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	p := testProfile("python")
	p.Limits.Cgroups = "required"
	if _, err := NewContainerLauncher(p, WithStateDir(filepath.Join(os.TempDir(), "st"))); err != nil && !errors.Is(err, ErrNoCgroups) {
		t.Fatalf("cgroups required without cgroups: %v", err)
	} else if err != nil {
		t.Logf("as expected: %v", err)
	}
	p.Limits.Cgroups = "optional"
	l, err := NewContainerLauncher(p, WithStateDir(filepath.Join(os.TempDir(), "st")))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var hostUID string
	r := runHandshake(t, l, "python", []string{"/usr/bin/python3", "-c", `import os, json
os.write(4, b"x"); os.read(3, 1)
try:
    open("/pwned", "w"); w = True
except OSError:
    w = False
os.write(4, json.dumps([os.getuid(), w, os.path.exists("/etc/shadow"), open("/proc/net/dev").read().count(":")]).encode())`}, func(p *Process) {
		b, _ := os.ReadFile("/proc/" + itoa(p.Pid()) + "/status")
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "Uid:") {
				hostUID = strings.Fields(line)[1]
			}
		}
	})
	if r.WaitErr != nil || r.Out != "[0, false, false, 1]" {
		t.Fatalf("out %q wait %v stderr %s", r.Out, r.WaitErr, r.Err)
	}
	if hostUID != itoa(os.Geteuid()) {
		t.Errorf("host uid %s, want %d", hostUID, os.Geteuid())
	}
	r = py(t, l, `import ctypes; ctypes.CDLL(None).ptrace(0, 0, 0, 0)`, "", nil)
	if !errors.Is(r.WaitErr, ErrSeccomp) {
		t.Errorf("ptrace: %v", r.WaitErr)
	}
	t.Logf("ptrace: %v", r.WaitErr)
	assertGone(t, l, r)
}

func itoa(i int) string { return strconv.Itoa(i) }
