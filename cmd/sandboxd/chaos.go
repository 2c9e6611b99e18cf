package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sandbond/sandbond/policy"
	"github.com/sandbond/sandbond/sandbox"
)

// chaosOptions configure a load run with random worker kills.
type chaosOptions struct {
	Profile *policy.Profile // the workers' profile (a container profile)
	Lang    string
	Clients int           // concurrent clients
	Kills   int           // worker interpreters to kill
	Pause   time.Duration // between two kills
	MaxTime time.Duration // give up killing after this long
	Log     *slog.Logger
}

// chaosResult is what a chaos run saw.
type chaosResult struct {
	Kills      int            // interpreters killed (SIGKILL that found its process)
	Calls      int            // calls made
	OK         int            // answered with a value
	Typed      map[string]int // answered with a typed error body, by kind
	Unanswered []string       // calls without an answer (transport errors...), first few
	Lost       int            // number of unanswered calls
	Elapsed    time.Duration
	Stats      poolStats
	ServesLate bool     // a call after the kills succeeded and /healthz said ok
	Leftovers  []string // processes, mounts, cgroups or state left after the pool closed
}

func (r *chaosResult) String() string {
	kinds := make([]string, 0, len(r.Typed))
	for k, n := range r.Typed {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(kinds)
	return fmt.Sprintf("%d kills in %v; %d calls: %d values, typed errors: %s; unanswered %d; daemon serving after: %v; "+
		"pool: %d started, %d restarts; leftovers: %d",
		r.Kills, r.Elapsed.Round(time.Millisecond), r.Calls, r.OK, strings.Join(kinds, ", "), r.Lost, r.ServesLate,
		r.Stats.Started, r.Stats.Restarts, len(r.Leftovers))
}

// runChaos serves an identity callable of o.Profile from an in-process
// sandboxd on a temp socket, runs o.Clients clients calling it while
// killing the interpreters of random workers (found by the pool's worker
// pids) o.Kills times, then closes everything and looks for what is left:
// processes in the sandboxes' host uid range, mounts and container state
// under the launcher's state dir, and the sandboxes' cgroups.
func runChaos(ctx context.Context, o chaosOptions) (*chaosResult, error) {
	res := &chaosResult{Typed: map[string]int{}}
	dir, err := os.MkdirTemp("", "sandboxd-chaos-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	_ = os.Chmod(dir, 0o711)
	state := filepath.Join(dir, "state")
	// A host id range of this run's own, so that its processes can be
	// told from any other sandbox's.
	idBase := uint32(0x78000000) + uint32(os.Getpid()%4096)*256
	const idCount = 256
	var pool *sandbox.Pool
	var launcher *sandbox.ContainerLauncher
	factory := func(ctx context.Context, spec poolSpec) (workerPool, error) {
		l, err := sandbox.NewContainerLauncher(spec.Profile, sandbox.WithLogger(spec.Logger), sandbox.WithStateDir(state), sandbox.WithHostIDs(idBase, idCount))
		if err != nil {
			return nil, err
		}
		p, err := sandbox.NewPool(ctx, sandbox.PoolConfig{Profile: spec.Profile, Language: spec.Language, Setup: spec.Setup,
			Function: spec.Function, Logger: spec.Logger, Launcher: l})
		if err != nil {
			_ = l.Close()
			return nil, err
		}
		pool, launcher = p, l
		return sandboxPool{p}, nil
	}
	setup, ok := identitySetup[o.Lang]
	if !ok {
		return nil, fmt.Errorf("no identity function for %q", o.Lang)
	}
	prof := o.Profile.Clone()
	prof.Language = o.Lang
	k := &callable{Name: "ident", ProfileRef: prof.Name, Profile: prof, Language: o.Lang, Setup: setup, Function: "ident"}
	cfg := &config{SocketPath: filepath.Join(dir, "s.sock"), SocketMode: 0o600, SocketGID: -1, MaxRequestBytes: defaultMaxRequestBytes,
		DrainTimeout: 10 * time.Second, Callables: []*callable{k}}
	s, err := newServer(ctx, cfg, o.Log, factory)
	if err != nil {
		return nil, err
	}
	closed := false
	closeAll := func() {
		if !closed {
			closed = true
			s.drain(10 * time.Second)
			_ = launcher.Close()
		}
	}
	defer closeAll()
	ln, err := net.Listen("unix", cfg.SocketPath)
	if err != nil {
		return nil, err
	}
	api := newAPIServer(s, o.Log)
	go func() { _ = api.Serve(ln) }()
	defer api.Close()

	// The clients.
	body, _ := json.Marshal(callRequest{Args: []json.RawMessage{json.RawMessage(`"chaos"`)}})
	var stop atomic.Bool
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newRawClient(cfg.SocketPath)
			defer c.close()
			for !stop.Load() && ctx.Err() == nil {
				cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				out, err := c.call(cctx, k.Name, body)
				cancel()
				var ae *apiError
				mu.Lock()
				res.Calls++
				switch {
				case err == nil && strings.TrimSpace(string(out)) == `{"result":"chaos"}`:
					res.OK++
				case err == nil:
					res.Lost++
					if len(res.Unanswered) < 5 {
						res.Unanswered = append(res.Unanswered, "wrong answer: "+string(out))
					}
				case errors.As(err, &ae):
					res.Typed[ae.Kind]++
				default:
					res.Lost++
					if len(res.Unanswered) < 5 {
						res.Unanswered = append(res.Unanswered, err.Error())
					}
				}
				mu.Unlock()
				if ae != nil && ae.Kind == kindOverload {
					time.Sleep(time.Millisecond) // Retry-After, shortened
				}
			}
		}()
	}

	// The killer: a kill counts when it finds a live worker's process that
	// was not killed before (a killed worker stays listed until its bond
	// notices).
	killed := map[int]bool{}
	for res.Kills < o.Kills && time.Since(start) < o.MaxTime && ctx.Err() == nil {
		var pids []int
		for _, pid := range pool.WorkerPids() {
			if pid > 0 && !killed[pid] {
				pids = append(pids, pid)
			}
		}
		if len(pids) == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		pid := pids[rand.IntN(len(pids))]
		killed[pid] = true
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			res.Kills++
		}
		time.Sleep(o.Pause)
	}
	stop.Store(true)
	wg.Wait()
	res.Elapsed = time.Since(start)

	// The daemon still serves: a value (workers restart) and a healthy
	// status.
	c := newRawClient(cfg.SocketPath)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, err := c.call(ctx, k.Name, body)
		if err == nil && strings.TrimSpace(string(out)) == `{"result":"chaos"}` {
			res.ServesLate = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.close()
	if res.ServesLate {
		hc := newClient(cfg.SocketPath)
		if out, err := hc.get(ctx, "/healthz"); err != nil || !strings.Contains(string(out), `"ok"`) {
			res.ServesLate = false
		}
		hc.http.CloseIdleConnections()
	}
	res.Stats = sandboxPool{pool}.Stats()

	// Close everything, then look for leftovers.
	closeAll()
	res.Leftovers = leftovers(state, idBase, idCount)
	return res, nil
}

// leftovers lists what sandboxes of this process left behind: processes
// whose uid is in [idBase, idBase+idCount), mounts under state, container
// state directories, and cgroups named by this process's container ids.
func leftovers(state string, idBase, idCount uint32) []string {
	var out []string
	// Processes in the run's host uid range (their exit may lag the
	// pool's Close by the kernel's reaping: give them a moment).
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		procs := sandbox.ProcessesInIDRange(idBase, idCount)
		if len(procs) == 0 || time.Now().After(deadline) {
			out = append(out, procs...)
			break
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, state) {
				self, _ := os.Readlink("/proc/self/ns/mnt")
				thread, _ := os.Readlink("/proc/thread-self/ns/mnt")
				out = append(out, fmt.Sprintf("mount (namespace %s, thread's %s): %s", self, thread, line))
			}
		}
	}
	tag := strconv.Itoa(os.Getpid()) + "."
	if ents, err := os.ReadDir(filepath.Join(state, "containers")); err == nil {
		for _, e := range ents {
			out = append(out, "container state: "+filepath.Join(state, "containers", e.Name()))
		}
	}
	// cgroups: …/sandbond/ID directories whose id is this process's.
	_ = filepath.WalkDir("/sys/fs/cgroup", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Count(path, "/") > 10 {
			return fs.SkipDir
		}
		if filepath.Base(filepath.Dir(path)) == "sandbond" && strings.HasPrefix(d.Name(), tag) {
			out = append(out, "cgroup: "+path)
			return fs.SkipDir
		}
		return nil
	})
	return out
}
