// Package sandbox runs bond interpreters (python3, php, perl, node) inside
// rootless containers built with runc's libcontainer, configured by a
// [policy.Profile].
//
// [NewContainerLauncher] returns a [bond.Launcher] whose processes run in a
// new user namespace (container root is mapped to a dedicated unprivileged
// host uid per live sandbox when the daemon runs as root, or to the daemon's
// own uid when it does not), new mount, pid, ipc, uts, cgroup and network
// namespaces, on a read-only root filesystem made of bind mounts of exactly
// what the interpreter needs, a sized tmpfs /tmp, a fresh /proc and a minimal
// /dev, with no capabilities, no_new_privs, a seccomp filter from an OCI
// seccomp JSON profile, and the limits of the profile (cgroup memory and pids,
// rlimits for CPU time, open files and file size, a wall-clock timer).
//
// # Pools and callables
//
// [NewPool] keeps warm sandboxed workers for one remote function and
// [Callable] turns one into a plain, typed Go function:
//
//	decode, err := sandbox.Callable[Result](ctx, profiles.Decoder(), "python",
//		"from mylib import decode_file", "decode_file")
//	res, err := decode(ctx, data)
//
// A pool starts pool.min_idle workers ahead of need, gives each task a fresh
// sandbox (pool.fresh_per_task) or recycles workers after
// pool.recycle_after calls, replaces dead workers with backoff, makes a call
// wait at most pool.queue_timeout for a worker (then [ErrOverloaded]) and
// answers every call, with a value or a typed error, even when its worker
// is killed mid-call. [Gather] scatters inputs over a pool.
//
// # Presets
//
// [PresetOptions] starts an interpreter without a container: as a plain
// child, through sudo as another user, over ssh on another host (nothing
// installed there but the interpreter), or in an lxc application container.
// They isolate only as much as the command they name.
//
// # What ends a sandbox
//
// Besides the interpreter's own exit, a sandbox ends when it reaches a
// limit (the first fork refused by the pids limit ends it, as does the
// memory limit's OOM kill, RLIMIT_CPU, or the wall-clock timer) or when any
// of its threads or processes makes a syscall the filter kills, in any ABI
// (x86-64, i386, x32). With a root daemon the syscall is named from the
// kernel's audit records; otherwise from the kernel log when readable.
//
// # Building
//
// The package needs cgo and the build tag "seccomp" (libseccomp-dev must be
// installed): libcontainer only compiles its seccomp support with that tag,
// and without it every start fails at run time. Build and test with
//
//	go build -tags seccomp ./...
//	go test -tags seccomp ./sandbox/
//
// The tests that start containers need root (they skip otherwise); the
// rootless test runs the test binary again as the user named by
// SANDBOND_TEST_USER.
//
// # Init
//
// libcontainer starts a container by re-executing the current binary with
// the argument "init". Every program that uses this package must therefore
// call [Init] first thing in main (and a test binary in TestMain):
//
//	func main() {
//		sandbox.Init()
//		...
//	}
//
// Importing the package pins the main goroutine to the main thread (see
// mainthread_linux.go: libcontainer's namespace-joining goroutines must
// never run there). A pinned goroutine wakes up more slowly than others, so
// make frequent bond calls from other goroutines (HTTP handlers, workers),
// not from main itself.
//
// Init also re-executes the program once from a sealed in-memory copy of its
// own binary, so that libcontainer does not have to copy the whole binary at
// every start (its protection against CVE-2019-5736). Set
// SANDBOND_NO_SEAL=1 to skip that (each start then pays for a copy or an
// overlay mount).
//
// # Errors
//
// [Process.Wait] reports why a sandboxed process ended: a [*LimitError]
// (matching [ErrMemoryLimit], [ErrPidsLimit], [ErrCPULimit], [ErrWallLimit]
// or [ErrFileSizeLimit] with errors.Is), a [*SeccompError] (matching
// [ErrSeccomp]), or the plain *exec.ExitError of the interpreter.
package sandbox
