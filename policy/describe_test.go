package policy

import (
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(*Profile)
		want    []string
		notWant []string
	}{
		{
			name:   "strict container",
			mutate: func(*Profile) {},
			want: []string{
				`Profile "base" (format version 1)`,
				"Launcher: rootless container",
				"Language: python (interpreter: the driver's default command)",
				"Network: none (new network namespace, loopback down) (default)",
				"Read-only host paths: none besides what the interpreter needs",
				"Writable host paths: none",
				"Temporary files: /tmp is a private 16 MiB tmpfs (default)",
				"Environment: host variables passed: none; variables set by the profile: none",
				"  memory: 256 MiB (default)",
				"  processes and threads: 64 (default)",
				"  CPU time: 10 seconds (default)",
				"  wall time per call: 10s (default)",
				"  wall time per sandbox: 10m0s (default)",
				"  open files: 64 (default)",
				"  file size: 16 MiB (default)",
				"  output (stdout and stderr): 1 MiB per sandbox (default)",
				"  cgroups: required",
				"Seccomp: builtin:python (OCI seccomp profile shipped with sandbond, default deny)",
				"Protocol: messages from the interpreter up to 16 MiB (default)",
				"Pool: workers reused",
			},
			notWant: []string{"HOST", "DISABLED", "not a sandbox"},
		},
		{
			name: "host network and writable mount",
			mutate: func(p *Profile) {
				p.Network.Mode = NetworkHost
				p.Mounts = []Mount{{Source: "/srv/in"}, {Source: "/srv/out", Target: "/out", Writable: true}}
				p.Pool.FreshPerTask = true
				p.Env = Env{Allow: []string{"LANG"}, Set: map[string]string{"TOKEN": "secret-value"}}
			},
			want: []string{
				"Network: HOST",
				"network mode host: the sandbox can reach every address the host can",
				"Read-only host paths: /srv/in",
				"Writable host paths: /srv/out -> /out",
				"writable mounts keep what one task writes for the next",
				"Pool: a fresh sandbox per task",
				"host variables passed: LANG; variables set by the profile: TOKEN",
			},
			notWant: []string{"secret-value", "workers are reused"},
		},
		{
			name: "limits set with units",
			mutate: func(p *Profile) {
				p.Limits = Limits{MemoryBytes: 128 * MiB, Pids: 32, CPUSeconds: 1, OpenFiles: 100, FileSizeBytes: 1000, Cgroups: CgroupsOptional}
			},
			want: []string{"  memory: 128 MiB\n", "  processes and threads: 32\n", "  CPU time: 1 second\n", "  open files: 100\n", "  file size: 1000 bytes\n",
				"cgroups: optional", "memory and process limits are enforced by rlimits only"},
		},
		{
			name: "plain launcher",
			mutate: func(p *Profile) {
				p.Launcher.Type = LauncherPlain
				p.Seccomp = Seccomp{Disabled: true}
			},
			want: []string{"not a sandbox", "Network: the host's", "Seccomp: DISABLED", "no system call filter", "Limits (as far as the plain launcher can apply them):"},
		},
		{
			name:   "seccomp file",
			mutate: func(p *Profile) { p.Seccomp.Profile = "/etc/sandbond/f.json" },
			want:   []string{"Seccomp: the OCI seccomp profile in /etc/sandbond/f.json", "review that file too"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validProfile()
			tc.mutate(p)
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			got := p.Describe()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("unexpected %q in:\n%s", w, got)
				}
			}
		})
	}
}
