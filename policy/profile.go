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
	// Language is a driver name: python, php, perl or node.
	Language string `json:"language"`
	// Interpreter optionally overrides the interpreter command (a path or
	// a name looked up in PATH on the host; never a shell string here).
	Interpreter string `json:"interpreter,omitempty"`
	// Mounts are host paths made visible inside a container besides what
	// the interpreter itself needs (which the launcher resolves).
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
	// Type is one of container, plain, sudo, lxc, ssh.
	Type string `json:"type"`
	// User is the target user for sudo.
	User string `json:"user,omitempty"`
	// Host is the target for ssh ([user@]host[:port] is not parsed: it is
	// handed to ssh as one argument).
	Host string `json:"host,omitempty"`
	// SSHOptions are extra ssh -o options, e.g. "StrictHostKeyChecking=yes".
	SSHOptions []string `json:"ssh_options,omitempty"`
	// Container is the lxc container name for lxc.
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
	NetworkNone = "none" // a new network namespace with loopback down
	NetworkLoopback = "loopback" // a new network namespace with loopback up
	NetworkHost = "host" // the host's network namespace
)

// Network is the network a sandbox gets.
type Network struct {
	// Mode is none (default), loopback or host.
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

// Limits are resource limits. A zero value means the launcher's default
// (see the sandbox package), never "unlimited"; -1 means unlimited where
// the field allows it.
type Limits struct {
	// MemoryBytes is the memory limit (cgroup, no swap; RLIMIT_AS when
	// cgroups are unavailable and the profile accepts that).
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// Pids is the maximum number of processes and threads.
	Pids int64 `json:"pids,omitempty"`
	// CPUSeconds is the CPU time limit of the sandbox (RLIMIT_CPU).
	CPUSeconds int64 `json:"cpu_seconds,omitempty"`
	// WallPerCall bounds one call, as a Go duration string ("5s").
	WallPerCall Duration `json:"wall_per_call,omitempty"`
	// WallPerSandbox bounds the life of one sandbox ("10m").
	WallPerSandbox Duration `json:"wall_per_sandbox,omitempty"`
	// OpenFiles is RLIMIT_NOFILE.
	OpenFiles int64 `json:"open_files,omitempty"`
	// FileSizeBytes is RLIMIT_FSIZE.
	FileSizeBytes int64 `json:"file_size_bytes,omitempty"`
	// OutputBytes bounds what the interpreter may print, in total per
	// sandbox.
	OutputBytes int64 `json:"output_bytes,omitempty"`
	// TmpBytes is the size of the /tmp tmpfs.
	TmpBytes int64 `json:"tmp_bytes,omitempty"`
	// Cgroups is "required" (default: start fails without cgroups) or
	// "optional" (run with rlimits only when cgroups are unavailable,
	// and log that loudly).
	Cgroups string `json:"cgroups,omitempty"`
}

// Seccomp names the syscall filter, in the OCI seccomp JSON format.
type Seccomp struct {
	// Profile is "builtin:NAME" for a profile shipped in profiles/seccomp
	// (builtin:python, builtin:php, builtin:perl, builtin:node,
	// builtin:interpreter), or a path to an OCI seccomp JSON file,
	// relative to the profile file.
	Profile string `json:"profile,omitempty"`
	// Disabled turns the filter off. Only the plain and preset launchers
	// accept it; the container launcher refuses a profile without a filter.
	Disabled bool `json:"disabled,omitempty"`
}

// Protocol bounds the bond protocol.
type Protocol struct {
	// MaxMessageBytes is the longest message the interpreter may send.
	MaxMessageBytes int64 `json:"max_message_bytes,omitempty"`
}

// Pool configures warm workers.
type Pool struct {
	// MinIdle workers are kept started and waiting.
	MinIdle int `json:"min_idle,omitempty"`
	// MaxSize bounds the number of workers.
	MaxSize int `json:"max_size,omitempty"`
	// FreshPerTask gives every task a new sandbox (no state from earlier
	// inputs). When false, workers are recycled after RecycleAfter calls.
	FreshPerTask bool `json:"fresh_per_task,omitempty"`
	// RecycleAfter is the number of calls after which a worker is replaced.
	RecycleAfter int `json:"recycle_after,omitempty"`
	// QueueTimeout bounds how long a call waits for a worker ("1s").
	QueueTimeout Duration `json:"queue_timeout,omitempty"`
}
