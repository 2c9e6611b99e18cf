package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// validProfile is a valid container profile for mutation tests.
func validProfile() *Profile {
	return &Profile{
		Version:  1,
		Name:     "base",
		Launcher: Launcher{Type: LauncherContainer},
		Language: LanguagePython,
		Seccomp:  Seccomp{Profile: "builtin:python"},
	}
}

func TestValidateAccepts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Profile)
	}{
		{"base", func(*Profile) {}},
		{"every language", func(p *Profile) {
			for _, l := range Languages() {
				p.Language = l
				if err := p.Validate(); err != nil {
					t.Errorf("%s: %v", l, err)
				}
			}
		}},
		{"every builtin seccomp", func(p *Profile) {
			for _, n := range BuiltinSeccompNames() {
				p.Seccomp.Profile = SeccompBuiltinPrefix + n
				if err := p.Validate(); err != nil {
					t.Errorf("%s: %v", n, err)
				}
			}
		}},
		{"seccomp file", func(p *Profile) { p.Seccomp.Profile = "filters/x.json" }},
		{"sudo", func(p *Profile) {
			p.Launcher = Launcher{Type: LauncherSudo, User: "sandbox"}
			p.Seccomp = Seccomp{Disabled: true}
		}},
		{"sudo uid", func(p *Profile) {
			p.Launcher = Launcher{Type: LauncherSudo, User: "#1001"}
			p.Seccomp = Seccomp{Disabled: true}
		}},
		{"lxc with filter", func(p *Profile) { p.Launcher = Launcher{Type: LauncherLXC, Container: "interp"} }},
		{"ssh", func(p *Profile) {
			p.Launcher = Launcher{Type: LauncherSSH, Host: "u@h", SSHOptions: []string{"BatchMode=yes"}}
			p.Seccomp = Seccomp{Disabled: true}
			p.Network.Mode = NetworkHost
		}},
		{"plain", func(p *Profile) { p.Launcher.Type = LauncherPlain; p.Seccomp = Seccomp{Disabled: true} }},
		{"interpreter name", func(p *Profile) { p.Interpreter = "python3.12" }},
		{"interpreter path", func(p *Profile) { p.Interpreter = "/opt/py/bin/python3" }},
		{"mounts", func(p *Profile) {
			p.Mounts = []Mount{{Source: "/srv/in"}, {Source: "/srv/out", Target: "/out", Writable: true}}
		}},
		{"network modes", func(p *Profile) {
			for _, m := range []string{"", NetworkNone, NetworkLoopback, NetworkHost} {
				p.Network.Mode = m
				if err := p.Validate(); err != nil {
					t.Errorf("%q: %v", m, err)
				}
			}
		}},
		{"env", func(p *Profile) {
			p.Env = Env{Allow: []string{"LANG", "_X1"}, Set: map[string]string{"TZ": "UTC", "EMPTY": ""}}
		}},
		{"limits at minimums", func(p *Profile) {
			p.Limits = Limits{MemoryBytes: 16 * MiB, Pids: 1, CPUSeconds: 1, WallPerCall: MinWall, WallPerSandbox: MinWall,
				OpenFiles: 16, FileSizeBytes: 1, OutputBytes: 1, TmpBytes: 1, Cgroups: CgroupsOptional}
		}},
		{"protocol bounds", func(p *Profile) {
			for _, n := range []int64{KiB, GiB} {
				p.Protocol.MaxMessageBytes = n
				if err := p.Validate(); err != nil {
					t.Errorf("%d: %v", n, err)
				}
			}
		}},
		{"pool", func(p *Profile) {
			p.Pool = Pool{MinIdle: 4, MaxSize: 4, RecycleAfter: 10, QueueTimeout: Duration(time.Second)}
		}},
		{"pool fresh", func(p *Profile) { p.Pool = Pool{FreshPerTask: true, MinIdle: 2} }},
		{"pool min_idle under default max", func(p *Profile) { p.Pool = Pool{MinIdle: DefaultPoolMaxSize} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validProfile()
			tc.mutate(p)
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := p.WithDefaults().Validate(); err != nil {
				t.Fatalf("with defaults: %v", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Profile)
		field  string
		text   string // in the message
	}{
		{"version 0", func(p *Profile) { p.Version = 0 }, "version", "reads version 1 (got 0)"},
		{"version 2", func(p *Profile) { p.Version = 2 }, "version", "got 2"},
		{"name missing", func(p *Profile) { p.Name = "" }, "name", "missing"},
		{"name upper case", func(p *Profile) { p.Name = "Decoder" }, "name", `e.g. "decoder"`},
		{"name with space", func(p *Profile) { p.Name = "a b" }, "name", "lower-case"},
		{"name leading dash", func(p *Profile) { p.Name = "-x" }, "name", "starting with"},
		{"name too long", func(p *Profile) { p.Name = strings.Repeat("a", 65) }, "name", "1 to 64"},
		{"description control", func(p *Profile) { p.Description = "a\x1b[31mred" }, "description", "control character"},
		{"language missing", func(p *Profile) { p.Language = "" }, "language", "missing"},
		{"language unknown", func(p *Profile) { p.Language = "ruby" }, "language", `"python", "php", "perl" or "node"`},
		{"language alias", func(p *Profile) { p.Language = "javascript" }, "language", `did you mean "node"?`},
		{"launcher missing", func(p *Profile) { p.Launcher.Type = "" }, "launcher.type", "missing"},
		{"launcher unknown", func(p *Profile) { p.Launcher.Type = "docker" }, "launcher.type", "unknown launcher"},
		{"sudo without user", func(p *Profile) { p.Launcher.Type = LauncherSudo; p.Seccomp = Seccomp{Disabled: true} }, "launcher.user", "needs it"},
		{"sudo bad user", func(p *Profile) {
			p.Launcher = Launcher{Type: LauncherSudo, User: "-u root"}
			p.Seccomp = Seccomp{Disabled: true}
		}, "launcher.user", "not a valid value"},
		{"user for container", func(p *Profile) { p.Launcher.User = "x" }, "launcher.user", "only the sudo launcher"},
		{"ssh without host", func(p *Profile) { p.Launcher.Type = LauncherSSH; p.Seccomp = Seccomp{Disabled: true} }, "launcher.host", "needs it"},
		{"ssh host option injection", func(p *Profile) {
			p.Launcher = Launcher{Type: LauncherSSH, Host: "-oProxyCommand=sh"}
			p.Seccomp = Seccomp{Disabled: true}
		}, "launcher.host", "leading '-'"},
		{"host for container", func(p *Profile) { p.Launcher.Host = "h" }, "launcher.host", "only the ssh launcher"},
		{"ssh options for container", func(p *Profile) { p.Launcher.SSHOptions = []string{"A=b"} }, "launcher.ssh_options", "only the ssh launcher"},
		{"ssh option malformed", func(p *Profile) {
			p.Launcher = Launcher{Type: LauncherSSH, Host: "h", SSHOptions: []string{"-v"}}
			p.Seccomp = Seccomp{Disabled: true}
		}, "launcher.ssh_options[0]", "Key=Value"},
		{"lxc without container", func(p *Profile) { p.Launcher.Type = LauncherLXC }, "launcher.container", "needs it"},
		{"lxc bad container", func(p *Profile) { p.Launcher = Launcher{Type: LauncherLXC, Container: "a/b"} }, "launcher.container", "not a valid value"},
		{"container for container", func(p *Profile) { p.Launcher.Container = "c" }, "launcher.container", "only the lxc launcher"},
		{"interpreter with args", func(p *Profile) { p.Interpreter = "python3 -S" }, "interpreter", "without spaces"},
		{"interpreter shell", func(p *Profile) { p.Interpreter = "python3;id" }, "interpreter", "shell"},
		{"interpreter option", func(p *Profile) { p.Interpreter = "-c" }, "interpreter", "command name"},
		{"interpreter relative path", func(p *Profile) { p.Interpreter = "bin/python" }, "interpreter", "absolute"},
		{"interpreter dotdot", func(p *Profile) { p.Interpreter = "/usr/../bin/python" }, "interpreter", "clean"},
		{"mounts for plain", func(p *Profile) {
			p.Launcher.Type = LauncherPlain
			p.Seccomp = Seccomp{Disabled: true}
			p.Mounts = []Mount{{Source: "/srv"}}
		}, "mounts", "only the container launcher"},
		{"writable mount for sudo", func(p *Profile) {
			p.Launcher = Launcher{Type: LauncherSudo, User: "u"}
			p.Seccomp = Seccomp{Disabled: true}
			p.Mounts = []Mount{{Source: "/srv", Writable: true}}
		}, "mounts", "only the container launcher"},
		{"mount source missing", func(p *Profile) { p.Mounts = []Mount{{Target: "/x"}} }, "mounts[0].source", "missing"},
		{"mount source relative", func(p *Profile) { p.Mounts = []Mount{{Source: "srv"}} }, "mounts[0].source", "absolute"},
		{"mount source dotdot", func(p *Profile) { p.Mounts = []Mount{{Source: "/srv/../etc"}} }, "mounts[0].source", `e.g. "/etc"`},
		{"mount source trailing slash", func(p *Profile) { p.Mounts = []Mount{{Source: "/srv/"}} }, "mounts[0].source", "clean"},
		{"mount source root", func(p *Profile) { p.Mounts = []Mount{{Source: "/", Target: "/host"}} }, "mounts[0].source", "whole host"},
		{"mount source proc", func(p *Profile) { p.Mounts = []Mount{{Source: "/proc/1", Target: "/x"}} }, "mounts[0].source", "kernel interfaces"},
		{"mount target relative", func(p *Profile) { p.Mounts = []Mount{{Source: "/srv", Target: "x"}} }, "mounts[0].target", "absolute"},
		{"mount target dotdot", func(p *Profile) { p.Mounts = []Mount{{Source: "/srv", Target: "/a/.."}} }, "mounts[0].target", "clean"},
		{"mount target root", func(p *Profile) { p.Mounts = []Mount{{Source: "/srv", Target: "/"}} }, "mounts[0].target", "root file system"},
		{"mount target proc", func(p *Profile) { p.Mounts = []Mount{{Source: "/srv", Target: "/proc"}} }, "mounts[0].target", "managed by the sandbox"},
		{"mount target dev", func(p *Profile) { p.Mounts = []Mount{{Source: "/srv", Target: "/dev/x"}} }, "mounts[0].target", "managed by the sandbox"},
		{"mount target sys", func(p *Profile) { p.Mounts = []Mount{{Source: "/srv", Target: "/sys"}} }, "mounts[0].target", "managed by the sandbox"},
		{"mount source dev as target", func(p *Profile) { p.Mounts = []Mount{{Source: "/srv", Target: "/dev"}} }, "mounts[0].target", "/dev"},
		{"mount target twice", func(p *Profile) { p.Mounts = []Mount{{Source: "/a", Target: "/x"}, {Source: "/b", Target: "/x"}} }, "mounts[1].target", "mounts[0]"},
		{"network unknown", func(p *Profile) { p.Network.Mode = "bridge" }, "network.mode", "unknown mode"},
		{"network none for plain", func(p *Profile) {
			p.Launcher.Type = LauncherPlain
			p.Seccomp = Seccomp{Disabled: true}
			p.Network.Mode = NetworkNone
		}, "network.mode", "cannot give it"},
		{"env allow all", func(p *Profile) { p.Env.Allow = []string{"*"} }, "env.allow[0]", "not supported"},
		{"env allow pattern", func(p *Profile) { p.Env.Allow = []string{"LC_*"} }, "env.allow[0]", "pattern"},
		{"env allow bad name", func(p *Profile) { p.Env.Allow = []string{"1X"} }, "env.allow[0]", "not a variable name"},
		{"env allow with value", func(p *Profile) { p.Env.Allow = []string{"A=b"} }, "env.allow[0]", "not a variable name"},
		{"env allow twice", func(p *Profile) { p.Env.Allow = []string{"A", "A"} }, "env.allow[1]", "twice"},
		{"env set bad name", func(p *Profile) { p.Env.Set = map[string]string{"A-B": "x"} }, "env.set", "not a variable name"},
		{"env set and allow", func(p *Profile) { p.Env = Env{Allow: []string{"A"}, Set: map[string]string{"A": "x"}} }, "env.set.A", "also in env.allow"},
		{"env set NUL", func(p *Profile) { p.Env.Set = map[string]string{"A": "x\x00"} }, "env.set.A", "NUL"},
		{"memory negative", func(p *Profile) { p.Limits.MemoryBytes = -1 }, "limits.memory_bytes", "must not be negative"},
		{"memory small", func(p *Profile) { p.Limits.MemoryBytes = 1024 }, "limits.memory_bytes", "must be at least 16 MiB (got 1024); fix: set it to e.g. 268435456"},
		{"pids negative", func(p *Profile) { p.Limits.Pids = -1 }, "limits.pids", "must not be negative"},
		{"cpu negative", func(p *Profile) { p.Limits.CPUSeconds = -5 }, "limits.cpu_seconds", "must not be negative"},
		{"wall per call negative", func(p *Profile) { p.Limits.WallPerCall = -1 }, "limits.wall_per_call", "must not be negative"},
		{"wall per call tiny", func(p *Profile) { p.Limits.WallPerCall = 1 }, "limits.wall_per_call", "at least 1ms"},
		{"wall per sandbox negative", func(p *Profile) { p.Limits.WallPerSandbox = Duration(-time.Second) }, "limits.wall_per_sandbox", "must not be negative"},
		{"wall per call over sandbox", func(p *Profile) {
			p.Limits.WallPerCall = Duration(time.Minute)
			p.Limits.WallPerSandbox = Duration(time.Second)
		}, "limits.wall_per_call", "longer than the sandbox may live"},
		{"wall per call over default sandbox", func(p *Profile) { p.Limits.WallPerCall = Duration(time.Hour) }, "limits.wall_per_call", "10m0s"},
		{"open files negative", func(p *Profile) { p.Limits.OpenFiles = -1 }, "limits.open_files", "must not be negative"},
		{"open files small", func(p *Profile) { p.Limits.OpenFiles = 3 }, "limits.open_files", "at least 16"},
		{"file size negative", func(p *Profile) { p.Limits.FileSizeBytes = -1 }, "limits.file_size_bytes", "must not be negative"},
		{"output negative", func(p *Profile) { p.Limits.OutputBytes = -1 }, "limits.output_bytes", "must not be negative"},
		{"tmp negative", func(p *Profile) { p.Limits.TmpBytes = -1 }, "limits.tmp_bytes", "must not be negative"},
		{"cgroups unknown", func(p *Profile) { p.Limits.Cgroups = "yes" }, "limits.cgroups", "unknown setting"},
		{"container without seccomp", func(p *Profile) { p.Seccomp = Seccomp{} }, "seccomp.profile", "needs a system call filter"},
		{"container seccomp disabled", func(p *Profile) { p.Seccomp.Disabled = true }, "seccomp.disabled", "always filters"},
		{"container seccomp only disabled", func(p *Profile) { p.Seccomp = Seccomp{Disabled: true} }, "seccomp.disabled", "always filters"},
		{"seccomp unknown builtin", func(p *Profile) { p.Seccomp.Profile = "builtin:ruby" }, "seccomp.profile", "unknown builtin"},
		{"seccomp builtin without prefix", func(p *Profile) { p.Seccomp.Profile = "interpreter" }, "seccomp.profile", `did you mean "builtin:interpreter"?`},
		{"seccomp not json", func(p *Profile) { p.Seccomp.Profile = "filter.txt" }, "seccomp.profile", "ending in .json"},
		{"plain seccomp unstated", func(p *Profile) { p.Launcher.Type = LauncherPlain; p.Seccomp = Seccomp{} }, "seccomp", "neither"},
		{"plain seccomp contradiction", func(p *Profile) { p.Launcher.Type = LauncherPlain; p.Seccomp.Disabled = true }, "seccomp.disabled", "contradicts"},
		{"ssh with filter", func(p *Profile) { p.Launcher = Launcher{Type: LauncherSSH, Host: "h"} }, "seccomp.profile", "remote host"},
		{"ssh seccomp unstated", func(p *Profile) {
			p.Launcher = Launcher{Type: LauncherSSH, Host: "h"}
			p.Seccomp = Seccomp{}
		}, "seccomp.disabled", "must say so"},
		{"message too small", func(p *Profile) { p.Protocol.MaxMessageBytes = 100 }, "protocol.max_message_bytes", "between 1 KiB and 1 GiB"},
		{"message too big", func(p *Profile) { p.Protocol.MaxMessageBytes = 2 * GiB }, "protocol.max_message_bytes", "between"},
		{"message negative", func(p *Profile) { p.Protocol.MaxMessageBytes = -1 }, "protocol.max_message_bytes", "between"},
		{"pool min idle negative", func(p *Profile) { p.Pool.MinIdle = -1 }, "pool.min_idle", "must not be negative"},
		{"pool max size negative", func(p *Profile) { p.Pool.MaxSize = -1 }, "pool.max_size", "must not be negative"},
		{"pool min over max", func(p *Profile) { p.Pool = Pool{MinIdle: 3, MaxSize: 2} }, "pool.min_idle", "more than pool.max_size (2)"},
		{"pool min over default max", func(p *Profile) { p.Pool = Pool{MinIdle: 5} }, "pool.min_idle", "more than pool.max_size (4)"},
		{"pool recycle negative", func(p *Profile) { p.Pool.RecycleAfter = -1 }, "pool.recycle_after", "must not be negative"},
		{"pool fresh and recycle", func(p *Profile) { p.Pool = Pool{FreshPerTask: true, RecycleAfter: 10} }, "pool.recycle_after", "contradicts pool.fresh_per_task"},
		{"pool queue timeout negative", func(p *Profile) { p.Pool.QueueTimeout = -1 }, "pool.queue_timeout", "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validProfile()
			tc.mutate(p)
			err := p.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			fe := FieldErrors(err)
			if len(fe) != 1 {
				t.Fatalf("want exactly one problem at %s, got %d:\n%v", tc.field, len(fe), err)
			}
			if fe[0].Field != tc.field {
				t.Errorf("field = %q, want %q (%v)", fe[0].Field, tc.field, err)
			}
			if fe[0].Profile != p.Name {
				t.Errorf("profile = %q, want %q", fe[0].Profile, p.Name)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("message %q does not contain %q", err, tc.text)
			}
			if fe[0].Fix == "" {
				t.Errorf("no fix in %v", err)
			}
		})
	}
}

func TestValidateVersionError(t *testing.T) {
	p := validProfile()
	p.Version = 3
	if err := p.Validate(); !errors.Is(err, ErrVersion) {
		t.Fatalf("want ErrVersion, got %v", err)
	}
}

func TestValidateNil(t *testing.T) {
	var p *Profile
	if err := p.Validate(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("want ErrInvalid, got %v", err)
	}
}
