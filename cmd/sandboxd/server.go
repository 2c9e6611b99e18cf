package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/sandbond/sandbond/bond"
)

// server is the daemon's core: the pools of the current config (a
// generation), the HTTP API, reload and drain.
type server struct {
	log     *slog.Logger
	metrics *metrics
	newPool poolFactory
	uid     uint32 // the daemon's own uid

	mu       sync.Mutex
	gen      *generation
	draining bool
	retiring sync.WaitGroup // old generations being drained

	hardStop context.Context // cancelled when a drain times out
	cancel   context.CancelFunc
	attaches sync.WaitGroup
}

// generation is the set of pools built from one config. Requests hold a
// reference while they use it; a reload swaps in a new generation and
// closes the old one once its references are gone.
type generation struct {
	cfg   *config
	pools map[string]workerPool
	refs  sync.WaitGroup
}

// newServer builds the pools of cfg. factory nil means newSandboxPool.
func newServer(ctx context.Context, cfg *config, log *slog.Logger, factory poolFactory) (*server, error) {
	if factory == nil {
		factory = newSandboxPool
	}
	s := &server{log: log, newPool: factory, uid: uint32(os.Getuid())}
	s.hardStop, s.cancel = context.WithCancel(context.Background())
	s.metrics = newMetrics(s.poolStats)
	g, err := s.build(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.gen = g
	return s, nil
}

// build starts a pool per callable of cfg; on any failure it closes those
// it started.
func (s *server) build(ctx context.Context, cfg *config) (*generation, error) {
	g := &generation{cfg: cfg, pools: map[string]workerPool{}}
	type built struct {
		name string
		pool workerPool
		err  error
	}
	results := make(chan built, len(cfg.Callables))
	for _, k := range cfg.Callables {
		go func() {
			p, err := s.newPool(context.WithoutCancel(ctx), poolSpec{
				Profile: k.Profile, Language: k.Language, Setup: k.Setup, Function: k.Function,
				Logger: s.log.With("callable", k.Name),
			})
			results <- built{k.Name, p, err}
		}()
	}
	var errs []error
	for range cfg.Callables {
		b := <-results
		if b.err != nil {
			errs = append(errs, fmt.Errorf("callable %q: %w", b.name, b.err))
			continue
		}
		g.pools[b.name] = b.pool
	}
	if len(errs) > 0 {
		for _, p := range g.pools {
			_ = p.Close()
		}
		return nil, errors.Join(errs...)
	}
	return g, nil
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

// reload builds the pools of cfg and swaps them in; calls in progress
// finish on the old pools, which are then closed. When a pool cannot be
// built, the old generation stays and the error is returned.
func (s *server) reload(ctx context.Context, cfg *config) error {
	g, err := s.build(ctx, cfg)
	if err != nil {
		s.metrics.reloads.WithLabelValues("error").Inc()
		return err
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		s.closeGeneration(g, false)
		return errDraining
	}
	old := s.gen
	s.gen = g
	s.retiring.Add(1)
	s.mu.Unlock()
	s.metrics.reloads.WithLabelValues("ok").Inc()
	go func() {
		defer s.retiring.Done()
		s.closeGeneration(old, true)
	}()
	return nil
}

// closeGeneration waits for g's calls, closes its pools and, when retire
// is set, keeps their counters for the metrics.
func (s *server) closeGeneration(g *generation, retire bool) {
	g.refs.Wait()
	for name, p := range g.pools {
		_ = p.Close()
		if retire {
			s.metrics.retire(name, p.Stats())
		}
	}
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
		if g != nil {
			s.closeGeneration(g, false)
		}
		s.retiring.Wait()
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
		for name, p := range g.pools {
			out[name] = p.Stats()
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

// notFound is the one answer for a callable that is missing or that the
// caller may not use.
func notFound(name string) *apiError {
	return &apiError{Status: http.StatusNotFound, Kind: kindNotFound, Message: fmt.Sprintf("no callable %q for this caller", name)}
}

func (s *server) handleCall(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("callable")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Kind: kindBadRequest, Message: "use POST"})
		return
	}
	who := peerFrom(r.Context())
	g, err := s.acquire()
	if err != nil {
		e := classify(err)
		s.metrics.observe("", e, 0)
		writeError(w, e)
		return
	}
	defer g.refs.Done()
	k := g.cfg.lookup(name)
	if k == nil || !who.mayCall(k, s.uid) {
		s.metrics.observe("", notFound(name), 0)
		if k != nil {
			s.log.Info("caller refused", "callable", name, "uid", who.UID, "gid", who.GID, "pid", who.PID)
		}
		writeError(w, notFound(name))
		return
	}
	s.metrics.inflight.Inc()
	defer s.metrics.inflight.Dec()
	e := s.call(w, r, g, k)
	d := time.Since(start)
	s.metrics.observe(k.Name, e, d)
	if e == nil {
		s.log.Debug("call", "callable", k.Name, "uid", who.UID, "pid", who.PID, "duration", d)
		return
	}
	attrs := []any{"callable", k.Name, "kind", e.Kind, "status", e.Status, "uid", who.UID, "pid", who.PID, "duration", d}
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

// call decodes the arguments, calls the pool and writes the answer.
func (s *server) call(w http.ResponseWriter, r *http.Request, g *generation, k *callable) *apiError {
	body := http.MaxBytesReader(w, r.Body, g.cfg.MaxRequestBytes)
	args, err := decodeCallRequest(body)
	if err != nil {
		e := &apiError{Status: http.StatusBadRequest, Kind: kindBadRequest, Message: err.Error()}
		if errors.As(err, new(*http.MaxBytesError)) {
			e.Status, e.Message = http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes (the config's limits.max_request_bytes)", g.cfg.MaxRequestBytes)
		}
		writeError(w, e)
		return e
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.hardStop, cancel)()
	v, err := g.pools[k.Name].Call(ctx, args...)
	if err != nil {
		if s.hardStop.Err() != nil && errors.Is(err, context.Canceled) {
			err = errDraining
		}
		e := classify(err)
		writeError(w, e)
		return e
	}
	var buf bytes.Buffer
	buf.WriteString(`{"result":`)
	data, err := bond.MarshalValue(v)
	buf.Write(data)
	if err != nil {
		e := &apiError{Status: http.StatusBadGateway, Kind: kindSerialization, Message: "the result cannot be written as JSON: " + err.Error()}
		writeError(w, e)
		return e
	}
	buf.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(buf.Len()))
	_, _ = w.Write(buf.Bytes())
	return nil
}

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
	if e.Kind == kindOverload {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	writeJSON(w, e.Status, errorBody{Error: *e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status, data = http.StatusInternalServerError, []byte(`{"error":{"kind":"internal","message":"cannot encode the answer"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(data)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}
