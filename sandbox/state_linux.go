//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// State layout under the state directory:
//
//	containers/ID   libcontainer state of one sandbox
//	rootfs/ID       the root directory of one launcher and interpreter
//	                command (a private mount with the interpreter's
//	                files bound read-only in it, when the daemon is root)
//
// Every ID starts with OWNERPID.OWNERSTART. (the daemon's pid and its start
// time in clock ticks), so a daemon can tell its own entries from those of
// a daemon that is gone.

var (
	selfTag = sync.OnceValue(func() string { return strconv.Itoa(os.Getpid()) + "." + procStartTime(os.Getpid()) })
	idSeq   atomic.Uint64
	cleaned sync.Map // state dir -> struct{}
)

// newID returns a fresh id owned by this process.
func newID() string {
	return selfTag() + "." + strconv.FormatUint(idSeq.Add(1), 10)
}

// procStartTime returns field 22 of /proc/PID/stat, or "" when pid is gone.
func procStartTime(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// ownerAlive says whether the daemon that created id still runs.
func ownerAlive(id string) bool {
	parts := strings.SplitN(id, ".", 3)
	if len(parts) < 3 {
		return false
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil {
		return false
	}
	st := procStartTime(pid)
	return st != "" && st == parts[1]
}

// cleanStale removes what daemons that are gone left in dir: it kills
// their containers, removes their cgroups and state, and removes their root
// filesystems. It runs once per state directory and process.
func cleanStale(dir string, log *slog.Logger) {
	if _, done := cleaned.LoadOrStore(dir, struct{}{}); done {
		return
	}
	croot := filepath.Join(dir, "containers")
	ents, _ := os.ReadDir(croot)
	for _, e := range ents {
		id := e.Name()
		if ownerAlive(id) {
			continue
		}
		if err := destroyStale(croot, id); err != nil {
			log.Warn("sandbox: removing stale container", "id", id, "err", err)
			_ = os.RemoveAll(filepath.Join(croot, id))
		} else {
			log.Info("sandbox: removed stale container", "id", id)
		}
	}
	rroot := filepath.Join(dir, "rootfs")
	ents, _ = os.ReadDir(rroot)
	for _, e := range ents {
		if !ownerAlive(e.Name()) {
			// Unmounts what the launcher bound there first (see
			// rootfs.prebind): RemoveAll never descends into a mount.
			if err := removeRootDir(filepath.Join(rroot, e.Name())); err != nil {
				log.Warn("sandbox: removing stale root filesystem", "dir", e.Name(), "err", err)
			}
		}
	}
}

func destroyStale(root, id string) error {
	c, err := libcontainer.Load(root, id)
	if err != nil {
		return err
	}
	_ = c.Signal(unix.SIGKILL)
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, err := c.Status()
		if err != nil || st == libcontainer.Stopped || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Destroy(); err != nil {
		return fmt.Errorf("destroy: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, id)); !errors.Is(err, os.ErrNotExist) {
		return os.RemoveAll(filepath.Join(root, id))
	}
	return nil
}
