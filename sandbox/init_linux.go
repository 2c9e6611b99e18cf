//go:build linux

package sandbox

import (
	"fmt"
	"os"
	"strconv"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/opencontainers/runc/libcontainer/exeseal"
	_ "github.com/opencontainers/runc/libcontainer/nsenter" // the C half of "init": namespace setup before the Go runtime starts
	"golang.org/x/sys/unix"
)

// envNoSeal disables the sealed re-exec of Init.
const envNoSeal = "SANDBOND_NO_SEAL"

// envSealed marks a process that Init already re-executed.
const envSealed = "_SANDBOND_SEALED"

// Init must be called first thing in main (and in TestMain) of every program
// that uses the container launcher.
//
// When the program was re-executed by libcontainer as a container's init
// (os.Args[1] == "init"), Init runs libcontainer's init and never returns.
//
// Otherwise, unless SANDBOND_NO_SEAL=1 is set, Init re-executes the program
// once from a sealed memfd copy of its own binary. libcontainer then finds
// /proc/self/exe already sealed and skips its per-start protection against
// CVE-2019-5736 (a full copy of the binary into a memfd for rootless starts,
// an overlayfs mount for root ones). The copy costs a few milliseconds once.
// When sealing is impossible Init returns and starts simply pay that cost.
func Init() {
	if len(os.Args) > 1 && os.Args[1] == "init" && os.Getenv("_LIBCONTAINER_INITPIPE") != "" {
		libcontainer.Init() // never returns
	}
	if len(os.Args) > 1 && os.Args[1] == preflightArg {
		os.Exit(0)
	}
	if os.Getenv(envNoSeal) == "1" || os.Getenv(envSealed) == "1" {
		os.Unsetenv(envSealed)
		return
	}
	if exeseal.IsSelfExeCloned() {
		return
	}
	if err := sealedReexec(); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: sealed re-exec skipped: %v\n", err)
	}
}

func sealedReexec() error {
	self, err := os.Open("/proc/self/exe")
	if err != nil {
		return err
	}
	defer self.Close()
	st, err := self.Stat()
	if err != nil {
		return err
	}
	clone, err := exeseal.CloneBinary(self, st.Size(), "sandbond", os.TempDir())
	if err != nil {
		return err
	}
	if !exeseal.IsCloned(clone) {
		clone.Close()
		return fmt.Errorf("no sealed memfd available")
	}
	// The memfd is O_CLOEXEC: an ELF binary still runs from it.
	path := "/proc/self/fd/" + strconv.Itoa(int(clone.Fd()))
	env := append(os.Environ(), envSealed+"=1")
	err = unix.Exec(path, os.Args, env)
	clone.Close()
	return fmt.Errorf("exec sealed copy: %w", err)
}
