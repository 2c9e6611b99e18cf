package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sandbond/sandbond/internal/testenv"
)

// presetProfileFile writes a profile of launcher type typ (extra: more
// launcher members) and returns its path.
func presetProfileFile(t *testing.T, typ, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), typ+".json")
	text := fmt.Sprintf(`{"version": 1, "name": "%s-preset", "language": "python",
	  "launcher": {"type": %q%s},
	  "seccomp": {"disabled": true},
	  "limits": {"wall_per_call": "5s"},
	  "pool": {"min_idle": 1, "max_size": 2, "queue_timeout": "5s"}}`, typ, typ, extra)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPresetCallables serves callables of the plain and sudo presets
// through the real pools, and check describes them.
func TestPresetCallables(t *testing.T) {
	needRoot(t)
	uid, _ := testUser(t)
	name := os.Getenv("SANDBOND_TEST_USER")
	if name == "" {
		name = "sbtest"
	}
	if _, err := exec.LookPath("sudo"); err != nil {
		testenv.SkipOrFail(t, "sudo not installed")
	}
	plain := presetProfileFile(t, "plain", "")
	sudo := presetProfileFile(t, "sudo", fmt.Sprintf(`, "user": %q`, name))
	setup := `import os\ndef whoami(x):\n    return [x, os.getuid()]\n`
	cfg := fmt.Sprintf(`{"version": 1, "socket": {"path": "%%SOCKET%%"},
	  "callables": [
	    {"name": "plain", "profile": %q, "function": "whoami", "setup": %q},
	    {"name": "sudo", "profile": %q, "function": "whoami", "setup": %q}
	  ]}`, plain, setup, sudo, setup)
	cfg = strings.ReplaceAll(cfg, `\\n`, `\n`)
	d := startDaemon(t, cfg, nil)
	for _, c := range []struct {
		callable string
		uid      uint32
	}{{"plain", uint32(os.Getuid())}, {"sudo", uid}} {
		st, _, body := request(t, d.socket, "POST", "/v1/call/"+c.callable, `{"args":["hi"]}`)
		if want := fmt.Sprintf(`{"result":["hi",%d]}`, c.uid); st != 200 || strings.TrimSpace(body) != want {
			t.Errorf("%s: %d %s, want %s", c.callable, st, body, want)
		}
	}
	// check says what a preset callable is.
	text, err := checkOne(d.srv.config().Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Workers: started as child processes of sandboxd (its user, no isolation); NOT a sandbox",
		"Workers: started by the command sudo -n -u " + name + " -- python3; NOT a sandbox",
		"no remote Ctrl+C through sudo",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("check lacks %q:\n%s", want, text)
		}
	}
}

// TestPresetConfigErrors: a preset whose command cannot be built is a
// config error naming the callable.
func TestPresetConfigErrors(t *testing.T) {
	ssh := presetProfileFile(t, "ssh", "")
	_, err := parseConfig([]byte(fmt.Sprintf(`{"version": 1, "callables": [{"name": "r", "profile": %q, "function": "f"}]}`, ssh)), filepath.Join(t.TempDir(), "c.json"))
	if err == nil || !strings.Contains(err.Error(), "callables[0] (r)") {
		t.Fatalf("ssh without a host: %v", err)
	}
}
