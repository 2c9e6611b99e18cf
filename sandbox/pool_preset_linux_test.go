//go:build linux

package sandbox

import (
	"context"
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/policy"
)

// presetPool starts a pool of pyTask workers through a preset launcher
// (no Launcher in the config: NewPool follows the profile).
func presetPool(t *testing.T, l policy.Launcher) *Pool {
	t.Helper()
	prof := presetProfile("python", l)
	prof.Limits.WallPerCall = policy.Duration(2 * time.Second)
	prof.Pool = policy.Pool{MinIdle: 1, MaxSize: 2, QueueTimeout: policy.Duration(5 * time.Second)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := NewPool(ctx, PoolConfig{Profile: prof, Setup: pyTask + "\nimport os\ndef uid(): return os.getuid()\n", Function: "task"})
	if err != nil {
		t.Fatalf("NewPool (%s): %v", l.Type, err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// checkPresetPool runs calls, a remote exception, a timeout (the worker is
// replaced) and a killed worker through a preset pool, and returns the
// workers' uid.
func checkPresetPool(t *testing.T, p *Pool) int {
	t.Helper()
	ctx := testCtx(t)
	if v, err := CallAs[int](ctx, p, "double", 21); err != nil || v != 42 {
		t.Fatalf("double: %v, %v", v, err)
	}
	var re *bond.RemoteError
	if _, err := p.Call(ctx, "raise", "boom"); !errors.As(err, &re) || re.Message != "boom" {
		t.Fatalf("raise: %v", err)
	}
	// wall_per_call is the profile's: a LimitError, then a new worker.
	if _, err := p.Call(ctx, "sleep", 30); !errors.Is(err, ErrWallLimit) {
		t.Fatalf("sleep past wall_per_call: %v", err)
	}
	if v, err := CallAs[int](ctx, p, "double", 2); err != nil || v != 4 {
		t.Fatalf("after the timeout: %v, %v", v, err)
	}
	// A worker killed from outside is replaced.
	pids := p.WorkerPids()
	if len(pids) == 0 || pids[0] <= 0 {
		t.Fatalf("WorkerPids: %v", pids)
	}
	for _, pid := range pids {
		_ = syscallKill(pid)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if v, err := CallAs[int](ctx, p, "double", 3); err == nil && v == 6 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no worker after a kill: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	uid, err := bondEvalUID(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

// bondEvalUID runs os.getuid() in a worker of p.
func bondEvalUID(ctx context.Context, p *Pool) (int, error) {
	var uid int
	err := p.run(ctx, func(b *bond.Bond) (err error) {
		uid, err = bond.CallAs[int](ctx, b, "uid")
		return err
	})
	return uid, err
}

// TestPoolPresetPlain runs a pool through the plain preset: child
// processes of the test, as its user.
func TestPoolPresetPlain(t *testing.T) {
	p := presetPool(t, policy.Launcher{Type: policy.LauncherPlain})
	if uid := checkPresetPool(t, p); uid != os.Getuid() {
		t.Fatalf("plain worker runs as uid %d, want %d", uid, os.Getuid())
	}
	if st := p.Stats(); st.Restarts < 2 || st.Started < 3 {
		t.Errorf("stats after a timeout and a kill: %+v", st)
	}
}

// TestPoolPresetSudo runs a pool through the sudo preset as
// SANDBOND_TEST_USER.
func TestPoolPresetSudo(t *testing.T) {
	needRoot(t)
	u := sudoTestUser(t)
	p := presetPool(t, policy.Launcher{Type: policy.LauncherSudo, User: u.Username})
	if uid := checkPresetPool(t, p); strconv.Itoa(uid) != u.Uid {
		t.Fatalf("sudo worker runs as uid %d, want %s (%s)", uid, u.Uid, u.Username)
	}
}

// TestPoolPresetBadLauncher: a preset that cannot build its command is a
// profile error at NewPool.
func TestPoolPresetBadLauncher(t *testing.T) {
	prof := presetProfile("python", policy.Launcher{Type: policy.LauncherSudo})
	_, err := NewPool(context.Background(), PoolConfig{Profile: prof, Function: "f"})
	if !errors.Is(err, ErrProfile) {
		t.Fatalf("sudo without a user: %v", err)
	}
}

// syscallKill kills pid's process group (a preset's command and the
// interpreter it started), else pid.
func syscallKill(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err == nil {
		return nil
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}
