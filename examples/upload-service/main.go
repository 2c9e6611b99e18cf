// Command upload-service is an HTTP service that decodes untrusted uploads
// with a Python decoder (decoder/decoder.py, standard library only) running
// in sandbond's strictest shipped profile, profiles.Decoder(): each upload
// gets a fresh rootless container with no network, a default-deny seccomp
// filter and small memory, CPU and time limits. The upload crosses as bytes
// over the bond; no host path is visible to the sandbox, and only plain JSON
// comes back.
//
// POST /upload with the file as the request body (at most 4 MiB) answers
// 200 {"result": {"kind": "zip"|"xml"|"png"|"jpeg"|"gif"|"text", ...}}, or
// an error status with {"error": {"kind": KIND, "message": ...}}:
//
//	status  kind            why
//	400     malformed       the upload is truncated or corrupt
//	400     empty           the body is empty
//	413     too_large       the body is over the size limit
//	415     unsupported     binary data of an unknown format
//	422     refused         the decoder refused it (a zip bomb, an XML DTD)
//	422     limit           the decoder hit a sandbox limit (field "limit")
//	502     decoder_failed  the decoder raised an unexpected exception
//	502     sandbox         the sandbox stopped the decoder (seccomp, crash)
//	503     overloaded      no decoder free in time (with Retry-After)
//	504     timeout         the decoder ran past its time limit
//
// Without flags it starts the service on a loopback port, uploads its
// sample files and two hostile ones, prints the answers and exits; with
// -listen ADDR it serves until SIGINT or SIGTERM:
//
//	go run -tags seccomp ./examples/upload-service -listen 127.0.0.1:8080
//	curl --data-binary @archive.zip http://127.0.0.1:8080/upload
package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/profiles"
	"github.com/sandbond/sandbond/sandbox"
)

// decoderPy is the decoder's source, run as setup code in every sandbox.
// sandboxd's shipped config cmd/sandboxd/configs/decoder.json loads the
// same file.
//
//go:embed decoder/decoder.py
var decoderPy string

// samples are the files the demo uploads: three good ones and the classic
// entity-expansion attack on XML parsers.
//
//go:embed testdata/sample.zip testdata/sample.xml testdata/sample.png testdata/billion-laughs.xml
var samples embed.FS

// maxUpload bounds a request body. Bytes cross the bond base64-encoded,
// so 4 MiB stays well under the decoder profile's 8 MiB message limit.
const maxUpload = 4 << 20

// service is the upload service: a warm pool of sandboxed decoders.
type service struct {
	pool *sandbox.Pool
	log  *slog.Logger
}

// newService starts the pool of decoders, each running decoderSrc (which
// must define decode(data)) in the shipped decoder profile. It returns
// once the first decoders are warm.
func newService(ctx context.Context, decoderSrc string, log *slog.Logger) (*service, error) {
	p, err := sandbox.NewPool(ctx, sandbox.PoolConfig{
		Profile:  profiles.Decoder(),
		Language: "python",
		Setup:    decoderSrc,
		Function: "decode",
		Logger:   log,
	})
	if err != nil {
		return nil, err
	}
	return &service{pool: p, log: log}, nil
}

// Close stops the decoders, letting uploads in progress finish.
func (s *service) Close() error { return s.pool.Close() }

// Handler serves POST /upload.
func (s *service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload", s.upload)
	return mux
}

// errorInfo is the "error" object of a failed upload.
type errorInfo struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Type    string `json:"type,omitempty"`  // the exception's type, for decoder_failed
	Limit   string `json:"limit,omitempty"` // memory, pids, cpu, wall, file_size, output
}

func (s *service) upload(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxUpload))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			s.fail(w, r, start, http.StatusRequestEntityTooLarge, errorInfo{Kind: "too_large", Message: fmt.Sprintf("uploads are limited to %d bytes", maxUpload)})
			return
		}
		s.fail(w, r, start, http.StatusBadRequest, errorInfo{Kind: "malformed", Message: "reading the upload: " + err.Error()})
		return
	}
	if len(data) == 0 {
		s.fail(w, r, start, http.StatusBadRequest, errorInfo{Kind: "empty", Message: "the upload is empty"})
		return
	}
	v, err := s.pool.Call(r.Context(), data)
	if err != nil {
		status, info := classify(err)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		s.fail(w, r, start, status, info)
		return
	}
	s.log.Info("upload decoded", "bytes", len(data), "status", http.StatusOK, "took", time.Since(start).Round(time.Millisecond))
	writeJSON(w, http.StatusOK, map[string]any{"result": v})
}

func (s *service) fail(w http.ResponseWriter, r *http.Request, start time.Time, status int, info errorInfo) {
	// The error's kind and type only: never the upload, nor the message a
	// hostile upload may have shaped.
	s.log.Warn("upload refused", "status", status, "kind", info.Kind, "type", info.Type, "limit", info.Limit,
		"remote", r.RemoteAddr, "took", time.Since(start).Round(time.Millisecond))
	writeJSON(w, status, map[string]any{"error": info})
}

// classify maps a decode error to the answer's status and error: the
// decoder's own exceptions by type, the sandbox's typed errors by kind.
func classify(err error) (int, errorInfo) {
	var (
		remote *bond.RemoteError
		limit  *sandbox.LimitError
		sc     *sandbox.SeccompError
	)
	isRemote := errors.As(err, &remote)
	switch {
	case isRemote && remote.Type == "Refused":
		return http.StatusUnprocessableEntity, errorInfo{Kind: "refused", Message: remote.Message}
	case isRemote && remote.Type == "Malformed":
		return http.StatusBadRequest, errorInfo{Kind: "malformed", Message: remote.Message}
	case isRemote && remote.Type == "Unsupported":
		return http.StatusUnsupportedMediaType, errorInfo{Kind: "unsupported", Message: remote.Message}
	case errors.Is(err, sandbox.ErrOverloaded):
		return http.StatusServiceUnavailable, errorInfo{Kind: "overloaded", Message: "no decoder became free in time; retry later"}
	case errors.Is(err, sandbox.ErrPoolClosed):
		return http.StatusServiceUnavailable, errorInfo{Kind: "overloaded", Message: "the service is shutting down"}
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, errorInfo{Kind: "timeout", Message: "the decoder ran past its time limit", Limit: sandbox.LimitWall}
	case isRemote && remote.Type == "MemoryError":
		// The address-space rlimit, where the cgroup's memory limit is
		// not there to kill the decoder first.
		return http.StatusUnprocessableEntity, errorInfo{Kind: "limit", Limit: sandbox.LimitMemory, Message: "the decoder ran out of memory"}
	case errors.As(err, &limit):
		return http.StatusUnprocessableEntity, errorInfo{Kind: "limit", Limit: limit.Limit, Message: limit.Error()}
	case errors.Is(err, bond.ErrOutputLimit):
		return http.StatusUnprocessableEntity, errorInfo{Kind: "limit", Limit: "output", Message: "the decoder printed too much"}
	case isRemote:
		return http.StatusBadGateway, errorInfo{Kind: "decoder_failed", Type: remote.Type, Message: remote.Message}
	case errors.As(err, &sc):
		return http.StatusBadGateway, errorInfo{Kind: "sandbox", Message: sc.Error()}
	case errors.Is(err, bond.ErrTerminated), errors.Is(err, bond.ErrProtocol), errors.Is(err, bond.ErrClosed):
		return http.StatusBadGateway, errorInfo{Kind: "sandbox", Message: "the decoder died: " + err.Error()}
	case errors.Is(err, context.Canceled):
		return 499, errorInfo{Kind: "canceled", Message: "the client went away"}
	}
	return http.StatusInternalServerError, errorInfo{Kind: "internal", Message: err.Error()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"error":{"kind":"internal","message":"the result cannot be encoded"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// run starts the service on a loopback port, uploads the samples and two
// hostile files with a plain HTTP client, and prints each answer.
func run(ctx context.Context, w io.Writer) error {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := newService(ctx, decoderPy, log)
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/upload"

	type upload struct {
		name string
		data []byte
		want int
	}
	var uploads []upload
	for _, name := range []string{"sample.zip", "sample.xml", "sample.png", "billion-laughs.xml"} {
		data, err := samples.ReadFile("testdata/" + name)
		if err != nil {
			return err
		}
		want := http.StatusOK
		if name == "billion-laughs.xml" {
			want = http.StatusUnprocessableEntity
		}
		uploads = append(uploads, upload{name, data, want})
	}
	zip := uploads[0].data
	uploads = append(uploads, upload{"truncated.zip", zip[:len(zip)/2], http.StatusBadRequest})
	for _, u := range uploads {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(u.data))
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "POST /upload %-18s -> %d %s", u.name, resp.StatusCode, body)
		if resp.StatusCode != u.want {
			return fmt.Errorf("%s: got status %d, want %d", u.name, resp.StatusCode, u.want)
		}
	}
	return nil
}

// serve runs the service on addr until SIGINT or SIGTERM.
func serve(addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.Default()
	s, err := newService(ctx, decoderPy, log)
	if err != nil {
		return err
	}
	defer s.Close()
	srv := &http.Server{Addr: addr, Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("upload-service listening", "addr", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func main() {
	sandbox.Init() // first thing: a container's init re-executes this binary
	listen := flag.String("listen", "", "serve on this `address` (e.g. 127.0.0.1:8080) until SIGINT or SIGTERM; without it, run the demo and exit")
	flag.Parse()
	if *listen != "" {
		if err := serve(*listen); err != nil {
			log.Fatal(err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		log.Fatal(err)
	}
}
