package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/policy"
)

// server is the daemon's core: the pools of the current config (a
// generation), the HTTP API, reload and drain.
type server struct {
	log     *slog.Logger
	metrics *metrics
	newPool poolFactory
	uid     uint32 // the daemon's own uid

	reloading sync.Mutex // one reload at a time

	mu       sync.Mutex
	gen      *generation
	draining bool
	retiring sync.WaitGroup // old generations being drained

	hardStop context.Context // cancelled when a drain times out; the base context of the API servers
	cancel   context.CancelFunc
	attaches sync.WaitGroup
}

// generation is the set of callables of one config, each with its pool.
// Requests hold a reference while they use it; a reload swaps in a new
// generation and releases the old one once its references are gone.
// Pools are shared between generations when a reload leaves a callable's
// definition unchanged.
type generation struct {
	cfg     *config
	entries map[string]*entry // by callable name
	refs    sync.WaitGroup
}

// entry is a callable of a generation, with what a call needs at hand.
type entry struct {
	k    *callable
	pool *sharedPoolRef
	ok   prometheus.Counter  // sandboxd_calls_total{callable, outcome="ok"}
	lat  prometheus.Observer // sandboxd_call_duration_seconds{callable}
}

// sharedPoolRef is a pool and the generations that hold it. A pool is
// closed when the last generation holding it is released.
type sharedPoolRef struct {
	name string
	def  string // poolDefinition of the callable it was built for
	p    workerPool
	gens int // generations holding it (server.mu)
}

// newServer builds the pools of cfg. factory nil means newSandboxPool.
func newServer(ctx context.Context, cfg *config, log *slog.Logger, factory poolFactory) (*server, error) {
	if factory == nil {
		factory = newSandboxPool
	}
	s := &server{log: log, newPool: factory, uid: uint32(os.Getuid())}
	s.hardStop, s.cancel = context.WithCancel(context.Background())
	s.metrics = newMetrics(s.poolStats)
	g, _, err := s.build(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.adopt(g)
	s.mu.Unlock()
	return s, nil
}

// poolDefinition identifies what a callable's pool runs: the profile
// (with the callable's language and pool overrides), the language, the
// setup code, the function and, for a seccomp profile given as a file,
// that file's content. Two callables with the same definition can share a
// pool.
func poolDefinition(k *callable) string {
	h := sha256.New()
	prof, _ := json.Marshal(k.Profile)
	for _, part := range [][]byte{prof, []byte(k.Language), []byte(k.Setup), []byte(k.Function)} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	if k.Profile != nil {
		if sc := k.Profile.Seccomp.Profile; sc != "" && !strings.HasPrefix(sc, policy.SeccompBuiltinPrefix) {
			data, err := os.ReadFile(sc)
			if err != nil {
				data = []byte("unreadable: " + err.Error())
			}
			fmt.Fprintf(h, "seccomp %d:", len(data))
			h.Write(data)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// build makes the generation of cfg: the pools of old (the current
// generation, or nil) whose callable kept its definition are reused, the
// others are started, in parallel. On any failure it closes those it
// started. built lists the pools it started.
func (s *server) build(ctx context.Context, cfg *config, old *generation) (g *generation, built []*sharedPoolRef, err error) {
	g = &generation{cfg: cfg, entries: map[string]*entry{}}
	type result struct {
		k   *callable
		ref *sharedPoolRef
		err error
	}
	results := make(chan result, len(cfg.Callables))
	starting := 0
	for _, k := range cfg.Callables {
		def := poolDefinition(k)
		if old != nil {
			if oe := old.entries[k.Name]; oe != nil && oe.pool.def == def {
				g.entries[k.Name] = s.newEntry(k, oe.pool)
				continue
			}
		}
		starting++
		go func() {
			p, err := s.newPool(context.WithoutCancel(ctx), poolSpec{
				Profile: k.Profile, Language: k.Language, Setup: k.Setup, Function: k.Function,
				Logger: s.log.With("callable", k.Name),
			})
			results <- result{k, &sharedPoolRef{name: k.Name, def: def, p: p}, err}
		}()
	}
	var errs []error
	for range starting {
		r := <-results
		if r.err != nil {
			errs = append(errs, fmt.Errorf("callable %q: %w", r.k.Name, r.err))
			continue
		}
		built = append(built, r.ref)
		g.entries[r.k.Name] = s.newEntry(r.k, r.ref)
	}
	if len(errs) > 0 {
		for _, ref := range built {
			_ = ref.p.Close()
		}
		return nil, nil, errors.Join(errs...)
	}
	return g, built, nil
}

// newEntry binds a callable to its pool and its metrics.
func (s *server) newEntry(k *callable, ref *sharedPoolRef) *entry {
	return &entry{k: k, pool: ref, ok: s.metrics.calls.WithLabelValues(k.Name, "ok"), lat: s.metrics.latency.WithLabelValues(k.Name)}
}

// adopt makes g the current generation. s.mu is held.
func (s *server) adopt(g *generation) {
	for _, e := range g.entries {
		e.pool.gens++
	}
	s.gen = g
}

// acquire returns the current generation with a reference held, or
// errDraining.
func (s *server) acquire() (*generation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining || s.gen == nil {
		return nil, errDraining
	}
	s.gen.refs.Add(1)
	return s.gen, nil
}

// config returns the current config.
func (s *server) config() *config {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == nil {
		return nil
	}
	return s.gen.cfg
}

// reload swaps in the generation of cfg. Callables whose definition did
// not change keep their pool (and its warm workers); new and changed ones
// get a new pool; the pools of removed and changed callables are closed
// once the calls in progress on them finish. When a pool cannot be
// started, the old generation stays and the error is returned.
func (s *server) reload(ctx context.Context, cfg *config) error {
	s.reloading.Lock()
	defer s.reloading.Unlock()
	s.mu.Lock()
	old := s.gen
	s.mu.Unlock()
	g, built, err := s.build(ctx, cfg, old)
	if err != nil {
		s.metrics.reloads.WithLabelValues("error").Inc()
		return err
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		for _, ref := range built {
			_ = ref.p.Close()
		}
		return errDraining
	}
	s.adopt(g)
	s.retiring.Add(1)
	s.mu.Unlock()
	s.metrics.reloads.WithLabelValues("ok").Inc()
	kept := len(cfg.Callables) - len(built)
	s.log.Info("pools after the reload", "kept", kept, "started", len(built))
	go func() {
		defer s.retiring.Done()
		s.release(old)
	}()
	return nil
}

// release waits for g's calls and lets go of its pools: a pool no other
// generation holds is closed, and its counters kept for the metrics
// unless it is one of the current generation's (the final drain).
func (s *server) release(g *generation) {
	if g == nil {
		return
	}
	g.refs.Wait()
	var closing []*sharedPoolRef
	s.mu.Lock()
	for _, e := range g.entries {
		e.pool.gens--
		if e.pool.gens == 0 {
			closing = append(closing, e.pool)
		}
	}
	cur := s.gen
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, ref := range closing {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = ref.p.Close()
			if cur != g {
				s.metrics.retire(ref.name, ref.p.Stats())
			}
		}()
	}
	wg.Wait()
}

// drain refuses new calls, waits up to timeout for those in progress
// (then cancels them), and closes every pool.
func (s *server) drain(timeout time.Duration) {
	s.mu.Lock()
	s.draining = true
	g := s.gen
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.retiring.Wait()
		s.release(g)
		s.attaches.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
		s.log.Warn("drain timeout: cancelling the calls still in progress", "timeout", timeout)
		s.cancel()
		<-done
	}
	s.cancel()
}

// poolStats snapshots the current pools, for the metrics.
func (s *server) poolStats() map[string]poolStats {
	s.mu.Lock()
	g := s.gen
	s.mu.Unlock()
	out := map[string]poolStats{}
	if g != nil {
		for name, e := range g.entries {
			out[name] = e.pool.p.Stats()
		}
	}
	return out
}

// handler is the HTTP API:
//
//	POST /v1/call/{callable}    {"args": [...]} -> {"result": ...}
//	GET  /v1/callables          the callables this caller may use
//	POST /v1/attach/{callable}  Upgrade: sandboxd-attach (see attach.go)
//	GET  /healthz               {"status": "ok"} or 503 {"status": "draining"}
//
// The API server (httpconn.go) answers well-formed calls without it; it
// serves everything else, and the calls of the connections it was handed.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/call/{callable}", s.handleCall)
	mux.HandleFunc("/v1/callables", s.handleList)
	mux.HandleFunc("/v1/attach/{callable}", s.handleAttach)
	mux.HandleFunc("/healthz", s.handleHealth)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Kind: kindNotFound, Message: "no such endpoint; the API is POST /v1/call/{callable}, GET /v1/callables, GET /healthz"})
	})
	return mux
}

// httpServer is an http.Server for handler: request contexts carry the
// peer (connContext) and descend from hardStop, so that a drain that times
// out cancels the calls net/http serves too.
func (s *server) httpServer() *http.Server {
	return &http.Server{
		Handler:     s.handler(),
		BaseContext: func(net.Listener) context.Context { return s.hardStop },
		ConnContext: connContext,
	}
}

// notFound is the one answer for a callable that is missing or that the
// caller may not use.
func notFound(name string) *apiError {
	return &apiError{Status: http.StatusNotFound, Kind: kindNotFound, Message: fmt.Sprintf("no callable %q for this caller", name)}
}

// admit checks a call before its body is read: the daemon serves, the
// callable exists and who may call it. On success the generation's
// reference is held (the caller releases it with g.refs.Done); on refusal
// the answer is recorded (metrics, log) and returned.
func (s *server) admit(who peer, name []byte) (*generation, *entry, *apiError) {
	g, err := s.acquire()
	if err != nil {
		e := classify(err)
		s.metrics.observe("", e, 0)
		return nil, nil, e
	}
	ent := g.entries[string(name)]
	if ent == nil || !who.mayCall(ent.k, s.uid) {
		g.refs.Done()
		e := notFound(string(name))
		s.metrics.observe("", e, 0)
		if ent != nil {
			s.log.Info("caller refused", "callable", ent.k.Name, "uid", who.UID, "gid", who.GID, "pid", who.PID)
		}
		return nil, nil, e
	}
	return g, ent, nil
}

// invoke runs an admitted call: it decodes the body (or reports readErr,
// the error reading it), calls the pool under ctx and appends the answer's
// body ({"result": ...} or an error body, and a newline) to out. It
// records the outcome (metrics and log) with the time since start.
func (s *server) invoke(ctx context.Context, who peer, g *generation, ent *entry, body []byte, readErr error, start time.Time, out []byte) ([]byte, *apiError) {
	s.metrics.inflight.Inc()
	out, e := s.run(ctx, g, ent, body, readErr, out)
	s.metrics.inflight.Dec()
	d := time.Since(start)
	if e == nil {
		ent.ok.Inc()
		ent.lat.Observe(d.Seconds())
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.Debug("call", "callable", ent.k.Name, "uid", who.UID, "pid", who.PID, "duration", d)
		}
		return out, nil
	}
	s.metrics.observe(ent.k.Name, e, d)
	s.logFailure(ent.k.Name, who, e, d)
	return appendError(out, e), e
}

// logFailure logs a failed call: its kind and the fields that explain it,
// never a payload.
func (s *server) logFailure(name string, who peer, e *apiError, d time.Duration) {
	attrs := []any{"callable", name, "kind", e.Kind, "status", e.Status, "uid", who.UID, "pid", who.PID, "duration", d}
	for _, kv := range [][2]string{{"type", e.Type}, {"limit", e.Limit}, {"syscall", e.Syscall}} {
		if kv[1] != "" {
			attrs = append(attrs, kv[0], kv[1])
		}
	}
	switch e.Kind {
	case kindInternal:
		// Internal errors are sandboxd's own, never payload: keep the text.
		s.log.Error("call failed", append(attrs, "err", e.Message)...)
	case kindLimit, kindSeccomp, kindTerminated:
		s.log.Warn("call failed", attrs...)
	default:
		s.log.Info("call failed", attrs...)
	}
}

// run decodes the arguments, calls the pool and appends the result.
func (s *server) run(ctx context.Context, g *generation, ent *entry, body []byte, readErr error, out []byte) ([]byte, *apiError) {
	var args []any
	err := readErr
	if err == nil {
		args, err = decodeCallRequest(body)
	}
	if err != nil {
		e := &apiError{Status: http.StatusBadRequest, Kind: kindBadRequest, Message: err.Error()}
		if errors.As(err, new(*http.MaxBytesError)) {
			e.Status, e.Message = http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes (the config's limits.max_request_bytes)", g.cfg.MaxRequestBytes)
		}
		return out, e
	}
	// ctx ends when the client goes away, and when a drain times out
	// (the API server's base context is s.hardStop).
	v, err := ent.pool.p.Call(ctx, args...)
	if err != nil {
		if s.hardStop.Err() != nil && errors.Is(err, context.Canceled) {
			err = errDraining
		}
		return out, classify(err)
	}
	data, err := bond.MarshalValue(v)
	if err != nil {
		return out, &apiError{Status: http.StatusBadGateway, Kind: kindSerialization, Message: "the result cannot be written as JSON: " + err.Error()}
	}
	out = append(out, `{"result":`...)
	out = append(out, data...)
	return append(out, "}\n"...), nil
}

// handleCall serves POST /v1/call/{callable} for net/http: the calls the
// API server hands over (see httpconn.go) and those of tests.
func (s *server) handleCall(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("callable")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Kind: kindBadRequest, Message: "use POST"})
		return
	}
	who := peerFrom(r.Context())
	g, ent, e := s.admit(who, []byte(name))
	if e != nil {
		writeError(w, e)
		return
	}
	defer g.refs.Done()
	bp := bodyBufs.Get().(*[]byte)
	data, readErr := readBody((*bp)[:0], http.MaxBytesReader(w, r.Body, g.cfg.MaxRequestBytes))
	if readErr != nil && !errors.As(readErr, new(*http.MaxBytesError)) {
		readErr = fmt.Errorf("reading the body: %w", readErr)
	}
	op := outBufs.Get().(*[]byte)
	out, e := s.invoke(r.Context(), who, g, ent, data, readErr, start, (*op)[:0])
	putBuf(&bodyBufs, bp, data)
	status := http.StatusOK
	if e != nil {
		status = e.Status
	}
	h := w.Header()
	setRetryAfter(h, e)
	h["Content-Type"] = contentTypeJSON
	h["Content-Length"] = []string{strconv.Itoa(len(out))}
	w.WriteHeader(status)
	_, _ = w.Write(out)
	putBuf(&outBufs, op, out)
}

// contentTypeJSON is the Content-Type of every answer (shared: net/http
// does not change header values).
var contentTypeJSON = []string{"application/json"}

// callableInfo describes a callable in GET /v1/callables.
type callableInfo struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Language    string `json:"language"`
	Function    string `json:"function"`
	Profile     string `json:"profile"`
}

func (s *server) handleList(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Kind: kindBadRequest, Message: "use GET"})
		return
	}
	cfg := s.config()
	who := peerFrom(r.Context())
	list := []callableInfo{}
	if cfg != nil {
		for _, k := range cfg.Callables {
			if who.mayCall(k, s.uid) {
				list = append(list, callableInfo{Name: k.Name, Description: k.Description, Language: k.Language, Function: k.Function, Profile: k.Profile.Name})
			}
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	writeJSON(w, http.StatusOK, map[string]any{"callables": list})
}

func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// writeError writes an error body; overload answers carry Retry-After.
func writeError(w http.ResponseWriter, e *apiError) {
	setRetryAfter(w.Header(), e)
	writeJSON(w, e.Status, errorBody{Error: *e})
}

// appendError appends e's body and a newline to out.
func appendError(out []byte, e *apiError) []byte {
	data, err := json.Marshal(errorBody{Error: *e})
	if err != nil {
		data = []byte(internalErrorBody)
	}
	return append(append(out, data...), '\n')
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(internalErrorBody)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}
