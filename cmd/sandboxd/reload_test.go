package main

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// poolPids returns the host pids of the workers of callable name's
// current pool.
func poolPids(t *testing.T, d *testDaemon, name string) []int {
	t.Helper()
	d.srv.mu.Lock()
	e := d.srv.gen.entries[name]
	d.srv.mu.Unlock()
	if e == nil {
		t.Fatalf("no callable %q", name)
	}
	p, ok := e.pool.p.(interface{ WorkerPids() []int })
	if !ok {
		t.Fatalf("pool of %q: %T has no WorkerPids", name, e.pool.p)
	}
	return p.WorkerPids()
}

const reloadConfig = `{"version": 1, "socket": {"path": "%SOCKET%"},
  "callables": [
    {"name": "same", "profile": "worker", "function": "f", "pool": {"min_idle": 2, "max_size": 2},
     "setup": "import time\ndef f(s):\n    time.sleep(s)\n    return 'same'\n"},
    {"name": "changed", "profile": "worker", "function": "f", "pool": {"min_idle": 1, "max_size": 1},
     "setup": "import time\ndef f(s):\n    time.sleep(s)\n    return 'v1'\n"},
    {"name": "removed", "profile": "worker", "function": "f", "pool": {"min_idle": 1, "max_size": 1},
     "setup": "import time\ndef f(s):\n    time.sleep(s)\n    return 'removed'\n"}
  ]}`

// TestReloadKeepsUnchangedPools: a reload keeps the pool (the very worker
// processes) of a callable whose definition did not change, replaces the
// pool of a changed one, closes that of a removed one, starts that of a
// new one, and every call in flight during the reload is answered, by the
// pool it started on.
func TestReloadKeepsUnchangedPools(t *testing.T) {
	needRoot(t)
	d := startDaemon(t, reloadConfig, nil)
	same, changed, removed := poolPids(t, d, "same"), poolPids(t, d, "changed"), poolPids(t, d, "removed")
	if len(same) != 2 || len(changed) != 1 || len(removed) != 1 || slices.Contains(same, 0) {
		t.Fatalf("pids: same %v, changed %v, removed %v", same, changed, removed)
	}

	// Calls in flight across the reload, on each pool.
	type answer struct {
		name, body string
		status     int
	}
	answers := make(chan answer, 4)
	var wg sync.WaitGroup
	for _, name := range []string{"same", "changed", "removed"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, _, b := request(t, d.socket, "POST", "/v1/call/"+name, `{"args":[1.5]}`)
			answers <- answer{name, strings.TrimSpace(b), st}
		}()
	}
	time.Sleep(500 * time.Millisecond)

	text, err := os.ReadFile(d.config)
	if err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(string(text), "return 'v1'", "return 'v2'", 1)
	next = strings.Replace(next, `"name": "removed"`, `"name": "added"`, 1)
	if err := os.WriteFile(d.config, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d.run.reload(context.Background(), d.srv) // what SIGHUP runs
	t.Logf("reload took %v", time.Since(start))
	if !strings.Contains(d.logs.String(), `"msg":"pools after the reload","kept":1,"started":2`) {
		t.Errorf("reload not logged as keeping 1 pool and starting 2:\n%s", d.logs)
	}

	// The unchanged callable kept its workers; the changed one has new ones.
	if got := poolPids(t, d, "same"); !slices.Equal(got, same) {
		t.Errorf("unchanged callable: worker pids %v before the reload, %v after", same, got)
	}
	if got := poolPids(t, d, "changed"); len(got) != 1 || slices.Contains(changed, got[0]) {
		t.Errorf("changed callable: worker pids %v before the reload, %v after", changed, got)
	}
	// New calls see the new config.
	if st, _, b := request(t, d.socket, "POST", "/v1/call/changed", `{"args":[0]}`); st != 200 || strings.TrimSpace(b) != `{"result":"v2"}` {
		t.Errorf("changed after the reload: %d %s", st, b)
	}
	if st, _, b := request(t, d.socket, "POST", "/v1/call/added", `{"args":[0]}`); st != 200 || strings.TrimSpace(b) != `{"result":"removed"}` {
		t.Errorf("added after the reload: %d %s", st, b)
	}
	if st, _, _ := request(t, d.socket, "POST", "/v1/call/removed", `{"args":[0]}`); st != 404 {
		t.Errorf("removed after the reload: %d", st)
	}
	if st, _, b := request(t, d.socket, "POST", "/v1/call/same", `{"args":[0]}`); st != 200 || strings.TrimSpace(b) != `{"result":"same"}` {
		t.Errorf("same after the reload: %d %s", st, b)
	}

	// The calls in flight were answered by the pools they started on.
	wg.Wait()
	close(answers)
	want := map[string]string{"same": `{"result":"same"}`, "changed": `{"result":"v1"}`, "removed": `{"result":"removed"}`}
	for a := range answers {
		if a.status != 200 || a.body != want[a.name] {
			t.Errorf("call to %s in flight during the reload: %d %s", a.name, a.status, a.body)
		}
	}
	// The replaced and removed pools' workers end once their calls are done.
	for _, pid := range append(changed, removed...) {
		deadline := time.Now().Add(20 * time.Second)
		for !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			if time.Now().After(deadline) {
				t.Errorf("worker %d of a replaced pool still runs", pid)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, pid := range same {
		if err := syscall.Kill(pid, 0); err != nil {
			t.Errorf("worker %d of the kept pool: %v", pid, err)
		}
	}
	// The metrics keep the retired pools' counters.
	d.srv.retiring.Wait()
	m := metricsText(d)
	for _, w := range []string{`sandboxd_worker_starts_total{callable="changed"} 2`, `sandboxd_worker_starts_total{callable="same"} 2`,
		`sandboxd_config_reloads_total{result="ok"} 1`} {
		if !strings.Contains(m, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}

// TestReloadSharing covers the pools' bookkeeping with fake pools: a pool
// kept by two reloads in a row is closed only when no generation holds it
// any more, a failed reload closes only what it started.
func TestReloadSharing(t *testing.T) {
	d := startDaemon(t, fakeConfig, fakeFactory)
	cur := func() *generation { d.srv.mu.Lock(); defer d.srv.mu.Unlock(); return d.srv.gen }
	echo := cur().entries["echo"].pool
	cfg := d.srv.config()
	next := *cfg
	if err := d.srv.reload(t.Context(), &next); err != nil {
		t.Fatal(err)
	}
	if cur().entries["echo"].pool != echo {
		t.Fatal("an unchanged callable got a new pool")
	}
	// Change echo's function: a new pool; the old one closes once the
	// first generation is released too.
	changed := next
	changed.Callables = slices.Clone(next.Callables)
	k := *changed.Callables[0]
	k.Function = "count"
	changed.Callables[0] = &k
	if err := d.srv.reload(t.Context(), &changed); err != nil {
		t.Fatal(err)
	}
	if cur().entries["echo"].pool == echo {
		t.Fatal("a changed callable kept its pool")
	}
	d.srv.retiring.Wait()
	if !echo.p.(*fakePool).isClosed() {
		t.Error("the replaced pool was not closed")
	}
	if st, _, b := request(t, d.socket, "POST", "/v1/call/echo", `{"args":[1,2]}`); st != 200 || strings.TrimSpace(b) != `{"result":2}` {
		t.Errorf("echo after the change: %d %s", st, b)
	}
	// A reload that fails keeps every pool open.
	bad := changed
	bad.Callables = append(slices.Clone(changed.Callables), &callable{Name: "broken", Function: "fail_to_start", Profile: cfg.Callables[0].Profile})
	if err := d.srv.reload(t.Context(), &bad); err == nil {
		t.Fatal("a config whose pool cannot start was swapped in")
	}
	for name, e := range cur().entries {
		if e.pool.p.(*fakePool).isClosed() {
			t.Errorf("%s: pool closed by a failed reload", name)
		}
	}
}
