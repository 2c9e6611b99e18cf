package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigFull(t *testing.T) {
	cfg, err := loadConfig("testdata/full.json")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SocketPath != defaultSocketPath || cfg.SocketMode != 0o660 || cfg.SocketGID != 0 {
		t.Errorf("socket: %q %o %d", cfg.SocketPath, cfg.SocketMode, cfg.SocketGID)
	}
	if cfg.MetricsListen != "127.0.0.1:9464" || cfg.LogFormat != "json" || cfg.AttachEnabled {
		t.Errorf("metrics/log/attach: %+v", cfg)
	}
	if cfg.MaxRequestBytes != 1<<20 || cfg.DrainTimeout != 20*time.Second {
		t.Errorf("limits: %d %s", cfg.MaxRequestBytes, cfg.DrainTimeout)
	}
	if len(cfg.Callables) != 2 {
		t.Fatalf("callables: %d", len(cfg.Callables))
	}
	dec := cfg.lookup("decode")
	if dec.Profile.Name != "decoder" || dec.Profile.Pool.MaxSize != 2 || dec.Profile.Pool.MinIdle != 1 || dec.Profile.Pool.QueueTimeout.Std() != 2*time.Second {
		t.Errorf("decode pool overrides: %+v", dec.Profile.Pool)
	}
	if !strings.Contains(dec.Setup, "def decode") {
		t.Errorf("setup_file not read: %q", dec.Setup)
	}
	if len(dec.UIDs) != 2 || dec.UIDs[0] != 1001 || dec.UIDs[1] != 0 || len(dec.GIDs) != 2 {
		t.Errorf("allow: %v %v", dec.UIDs, dec.GIDs)
	}
	add := cfg.lookup("add")
	if add.Profile.Name != "strict" || add.Profile.Pool.RecycleAfter != 100 || add.Language != "python" {
		t.Errorf("add: %+v", add.Profile)
	}
}

func TestConfigMinimalYAML(t *testing.T) {
	cfg, err := loadConfig("testdata/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SocketPath != defaultSocketPath || cfg.SocketMode != 0o660 || cfg.MaxRequestBytes != defaultMaxRequestBytes || cfg.DrainTimeout != defaultDrainTimeout {
		t.Errorf("defaults: %+v", cfg)
	}
	if k := cfg.lookup("add"); k == nil || k.Profile.Name != "worker" || !strings.Contains(k.Setup, "return a + b") {
		t.Errorf("callable: %+v", k)
	}
}

// TestConfigErrors checks that each bad fixture is refused with one-line
// problems naming the field and a fix.
func TestConfigErrors(t *testing.T) {
	cases := map[string][]string{
		"unknown-field.json":      {"callables[0].pool.max_sise: unknown field at line 1", `did you mean "max_size"?`},
		"socket-relative.json":    {"socket.path: must be an absolute path", "fix:"},
		"socket-mode-number.json": {"socket.mode: must be a string (got the number 660)", "put the value in quotes"},
		"socket-mode-bad.json":    {"socket.mode: must be an octal mode", "fix:"},
		"version.json":            {"version: this build reads version 1 (got 2)", `fix: set "version": 1`},
		"no-callables.json":       {"callables: no callables", "fix: add at least one"},
		"bad-name.json":           {`.name: "a b" is not a valid name`, "fix:"},
		"dup-name.json":           {`callables[1] (a).name: "a" is used by an earlier callable`, "fix:"},
		"unknown-profile.json":    {`.profile: no profile "nosuch"`, "fix: name a shipped profile"},
		"no-function.json":        {".function: missing", "fix:"},
		"setup-both.json":         {".setup_file: given together with setup", "fix: keep one"},
		"setup-missing.json":      {".setup_file: cannot open", "missing.py"},
		"bad-language.json":       {".language:", "cobol"},
		"pool-contradiction.json": {".pool.recycle_after: contradicts pool.fresh_per_task", "fix: remove one"},
		"duration-number.json":    {".pool.queue_timeout: must be a duration string", "fix: write it as a string with a unit"},
		"negative-uid.json":       {".allow.uids[0]: must be a whole number from 0", "fix:"},
		"unknown-user.json":       {`.allow.users: no user "no-such-user-xyz"`, "fix:"},
		"duplicate-key.json":      {"version: appears twice at line 1", "fix: keep one"},
		"null.json":               {".function: is null", "fix:"},
		"metrics-listen.json":     {"metrics.listen: must be host:port", "127.0.0.1:9464"},
		"log-format.json":         {`log.format: unknown format "xml"`, "fix:"},
		"truncated.json":          {"ends in the middle", "fix:"},
		"yaml-typo.yaml":          {".functoin: unknown field", `did you mean "function"?`},
		"yaml-syntax.yaml":        {"not valid YAML", "fix:"},
		"broken-profile-ref.json": {".profile:", "limits.memory_bytes", "fix:"},
	}
	ents, _ := os.ReadDir("testdata/bad")
	for _, e := range ents {
		if _, ok := cases[e.Name()]; !ok && e.Name() != "broken-profile.json" {
			t.Errorf("fixture %s has no case", e.Name())
		}
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("testdata/bad", file)
			_, err := loadConfig(path)
			if err == nil {
				t.Fatal("accepted")
			}
			lines := errorLines(err)
			all := strings.Join(lines, "\n")
			for _, w := range want {
				if !strings.Contains(all, w) {
					t.Errorf("missing %q in:\n%s", w, all)
				}
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "config "+path+": ") {
					t.Errorf("line does not name the file: %q", l)
				}
			}
		})
	}
}

func TestConfigMissingFile(t *testing.T) {
	_, err := loadConfig("testdata/nope.json")
	if err == nil || !strings.Contains(err.Error(), "no such file") || !strings.Contains(err.Error(), "fix:") {
		t.Fatalf("got %v", err)
	}
}
