//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
)

// preflightArg makes Init exit at once: Preflight starts the binary in new
// namespaces with it to see whether that works.
const preflightArg = "sandbond-preflight"

var preflightOnce = sync.OnceValue(preflight)

// Preflight checks that this process can create the namespaces a sandbox
// needs (user, mount, pid, ipc, uts, net). When it cannot, the error wraps
// [ErrUserns] and says what blocks it and how to fix it: the sysctls
// user.max_user_namespaces and kernel.unprivileged_userns_clone, Ubuntu's
// AppArmor restriction kernel.apparmor_restrict_unprivileged_userns, or a
// container runtime (docker, podman) that forbids unshare without
// --privileged or a seccomp profile allowing it. The result is computed
// once per process.
func Preflight() error { return preflightOnce() }

func preflight() error {
	var hints []string
	if v, ok := sysctl("user/max_user_namespaces"); ok && v == "0" {
		hints = append(hints, "user.max_user_namespaces is 0: run `sysctl -w user.max_user_namespaces=15000` (and set it in /etc/sysctl.d/)")
	}
	if os.Geteuid() != 0 {
		if v, ok := sysctl("kernel/unprivileged_userns_clone"); ok && v == "0" {
			hints = append(hints, "kernel.unprivileged_userns_clone is 0: run `sysctl -w kernel.unprivileged_userns_clone=1` (and set it in /etc/sysctl.d/), or run the daemon as root")
		}
		if v, ok := sysctl("kernel/apparmor_restrict_unprivileged_userns"); ok && v == "1" {
			hints = append(hints, "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1): give the daemon's binary an AppArmor profile with the `userns,` rule (see /etc/apparmor.d/ on Ubuntu 23.10+), run it as root, or set the sysctl to 0")
		}
	}
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	cmd := exec.Command("/proc/self/exe", preflightArg)
	cmd.Args[0] = exe
	cmd.Env = []string{envNoSeal + "=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
			syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	var reason string
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno) && (errno == syscall.EPERM || errno == syscall.EACCES):
		reason = "creating a user namespace is not permitted"
		if len(hints) == 0 {
			hints = append(hints, "inside a container (docker, podman, kubernetes) the default seccomp profile forbids unshare/clone with namespace flags: run the daemon with --security-opt seccomp=unconfined plus --security-opt apparmor=unconfined, or --privileged; on a host, check the sysctls user.max_user_namespaces and kernel.unprivileged_userns_clone")
		}
	case errors.As(err, &errno) && errno == syscall.ENOSPC:
		reason = "the user namespace limit is reached"
		hints = append(hints, "raise user.max_user_namespaces")
	default:
		reason = fmt.Sprintf("%v %s", err, strings.TrimSpace(string(out)))
	}
	msg := reason
	if len(hints) > 0 {
		msg += "; " + strings.Join(hints, "; ")
	}
	return fmt.Errorf("%w: %s", ErrUserns, msg)
}

func sysctl(name string) (string, bool) {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}
