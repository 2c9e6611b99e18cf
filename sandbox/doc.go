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
