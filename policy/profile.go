package policy

// Version is the profile format version this package reads.
const Version = 1

// Profile is a sandbox policy: how an interpreter is launched and what it
// may touch. The zero value of every optional field is the strictest choice.
// Field names in files are the json tags below.
type Profile struct {
	// Version must be [Version].
	Version int `json:"version"`
	// Name identifies the profile in logs and errors.
	Name string `json:"name"`
	// Description is free text for reviewers.
	Description string `json:"description,omitempty"`
	// Launcher says how the interpreter is started.
	Launcher Launcher `json:"launcher"`
	// Language is a driver name: python, php, perl or node (see
	// [Languages]).
	Language string `json:"language"`
	// Interpreter optionally overrides the interpreter command (a path or
	// a name looked up in PATH on the host; never a shell string here).
	Interpreter string `json:"interpreter,omitempty"`
	// Mounts are host paths made visible inside a container besides what
	// the interpreter itself needs (which the launcher resolves). Only the
	// container launcher accepts mounts (and so writable ones): the other
	// launchers see the host's (or the remote host's) file system as it is.
	Mounts []Mount `json:"mounts,omitempty"`
	// Network is the network the sandbox gets.
	Network Network `json:"network"`
	// Env is the environment allowlist.
	Env Env `json:"env"`
	// Limits are resource limits.
	Limits Limits `json:"limits"`
	// Seccomp names the syscall filter.
	Seccomp Seccomp `json:"seccomp"`
	// Protocol bounds what the interpreter may send.
	Protocol Protocol `json:"protocol"`
	// Pool configures warm workers for callables using this profile.
	Pool Pool `json:"pool"`
}

// Languages with a driver.
const (
	LanguagePython = "python"
	LanguagePHP    = "php"
	LanguagePerl   = "perl"
	LanguageNode   = "node"
)

// Launcher kinds.
const (
	LauncherContainer = "container"
	LauncherPlain     = "plain"
	LauncherSudo      = "sudo"
	LauncherLXC       = "lxc"
	LauncherSSH       = "ssh"
)

// Launcher says how the interpreter process is started.
type Launcher struct {
	// Type is one of container, plain, sudo, lxc, ssh. Required.
	Type string `json:"type"`
	// User is the target user for sudo (required by sudo, refused by the
	// others).
	User string `json:"user,omitempty"`
	// Host is the target for ssh ([user@]host[:port] is not parsed: it is
	// handed to ssh as one argument). Required by ssh, refused by the
	// others.
	Host string `json:"host,omitempty"`
	// SSHOptions are extra ssh -o options in Key=Value form, e.g.
	// "StrictHostKeyChecking=yes". Only for ssh.
	SSHOptions []string `json:"ssh_options,omitempty"`
	// Container is the lxc container name (required by lxc, refused by
	// the others).
	Container string `json:"container,omitempty"`
}

// Mount is an extra bind mount into a container.
type Mount struct {
	// Source is an absolute host path.
	Source string `json:"source"`
	// Target is the absolute path inside the container; empty means Source.
	Target string `json:"target,omitempty"`
	// Writable grants write access. Read-only is the default.
	Writable bool `json:"writable,omitempty"`
}

// Network modes.
const (
	NetworkNone     = "none"     // a new network namespace with loopback down
	NetworkLoopback = "loopback" // a new network namespace with loopback up
	NetworkHost     = "host"     // the host's network namespace
)

// Network is the network a sandbox gets.
type Network struct {
	// Mode is none, loopback or host. Empty means none for the container
	// launcher and host for the others, which start the interpreter in
	// the host's network namespace and so cannot honour none or loopback
	// (Validate refuses those for them). The container launcher accepts
	// host, and [Profile.Describe] flags it.
	Mode string `json:"mode,omitempty"`
}

// Env is the environment of the interpreter: nothing from the host unless
// allowed by name.
type Env struct {
	// Allow lists host variable names passed through when set.
	Allow []string `json:"allow,omitempty"`
	// Set are variables set to fixed values.
	Set map[string]string `json:"set,omitempty"`
}

// Cgroups settings.
const (
	CgroupsRequired = "required" // start fails when cgroups are unavailable
	CgroupsOptional = "optional" // fall back to rlimits only, loudly
)

// Limits are resource limits. A zero value means the default named on each
// field (the Default constants, filled in by [Profile.WithDefaults]), never
// "unlimited"; negative values are refused. Sizes are in bytes.
type Limits struct {
	// MemoryBytes is the memory limit (cgroup, no swap; RLIMIT_AS when
	// cgroups are unavailable and the profile accepts that). At least
	// 16 MiB; default 256 MiB.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// Pids is the maximum number of processes and threads. At least 1;
	// default 64.
	Pids int64 `json:"pids,omitempty"`
	// CPUSeconds is the CPU time limit of the sandbox (RLIMIT_CPU), in
	// seconds. Default 10.
	CPUSeconds int64 `json:"cpu_seconds,omitempty"`
	// WallPerCall bounds one call, as a Go duration string ("5s").
	// At least 1ms, at most WallPerSandbox; default 10s.
	WallPerCall Duration `json:"wall_per_call,omitempty"`
	// WallPerSandbox bounds the life of one sandbox ("10m"). At least
	// 1ms; default 10m.
	WallPerSandbox Duration `json:"wall_per_sandbox,omitempty"`
	// OpenFiles is RLIMIT_NOFILE. At least 16; default 64.
	OpenFiles int64 `json:"open_files,omitempty"`
	// FileSizeBytes is RLIMIT_FSIZE. Default 16 MiB.
	FileSizeBytes int64 `json:"file_size_bytes,omitempty"`
	// OutputBytes bounds what the interpreter may print, in total per
	// sandbox. Default 1 MiB.
	OutputBytes int64 `json:"output_bytes,omitempty"`
	// TmpBytes is the size of the /tmp tmpfs. Default 16 MiB.
	TmpBytes int64 `json:"tmp_bytes,omitempty"`
	// Cgroups is "required" (default: start fails without cgroups) or
	// "optional" (run with rlimits only when cgroups are unavailable,
	// and log that loudly).
	Cgroups string `json:"cgroups,omitempty"`
}

// SeccompBuiltinPrefix starts a [Seccomp.Profile] that names a filter
// shipped with sandbond rather than a file: "builtin:python".
const SeccompBuiltinPrefix = "builtin:"

// Seccomp names the syscall filter, in the OCI seccomp JSON format.
type Seccomp struct {
	// Profile is "builtin:NAME" for a profile shipped in profiles/seccomp
	// (builtin:python, builtin:php, builtin:perl, builtin:node,
	// builtin:interpreter; see [BuiltinSeccompNames]), or a path to an OCI
	// seccomp JSON file ending in ".json". A relative path is relative to
	// the profile file: [Load] resolves it to an absolute path ([Parse],
	// having no file, leaves it as written). Required by the container
	// launcher.
	Profile string `json:"profile,omitempty"`
	// Disabled turns the filter off. Only the plain and preset launchers
	// accept it; the container launcher refuses a profile without a filter.
	// A non-container profile states exactly one of Profile or Disabled;
	// the ssh launcher, which cannot filter on the remote host, requires
	// Disabled.
	Disabled bool `json:"disabled,omitempty"`
}

// Protocol bounds the bond protocol.
type Protocol struct {
	// MaxMessageBytes is the longest message the interpreter may send.
	// Between 1 KiB and 1 GiB; default 16 MiB.
	MaxMessageBytes int64 `json:"max_message_bytes,omitempty"`
}

// Pool configures warm workers.
type Pool struct {
	// MinIdle workers are kept started and waiting. At most MaxSize;
	// default 1.
	MinIdle int `json:"min_idle,omitempty"`
	// MaxSize bounds the number of workers. Default 4.
	MaxSize int `json:"max_size,omitempty"`
	// FreshPerTask gives every task a new sandbox (no state from earlier
	// inputs). When false, workers are recycled after RecycleAfter calls.
	FreshPerTask bool `json:"fresh_per_task,omitempty"`
	// RecycleAfter is the number of calls after which a worker is replaced;
	// 0 means only when it dies or reaches Limits.WallPerSandbox. Must be
	// 0 when FreshPerTask is set.
	RecycleAfter int `json:"recycle_after,omitempty"`
	// QueueTimeout bounds how long a call waits for a worker ("1s").
	// Default 5s.
	QueueTimeout Duration `json:"queue_timeout,omitempty"`
}
