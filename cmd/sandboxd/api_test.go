package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

const fakeConfig = `{
  "version": 1,
  "socket": {"path": "%SOCKET%", "mode": "0666"},
  "limits": {"max_request_bytes": 2048, "drain_timeout": "10s"},
  "callables": [
    {"name": "echo", "profile": "worker", "function": "echo"},
    {"name": "count", "profile": "worker", "function": "count"},
    {"name": "raise", "profile": "worker", "function": "raise"},
    {"name": "overload", "profile": "worker", "function": "overload"},
    {"name": "memory", "profile": "worker", "function": "memory"},
    {"name": "seccomp", "profile": "worker", "function": "seccomp"},
    {"name": "timeout", "profile": "worker", "function": "timeout"},
    {"name": "die", "profile": "worker", "function": "die"},
    {"name": "bytes", "profile": "worker", "function": "bytes"},
    {"name": "sleep", "profile": "worker", "function": "sleep"}
  ]
}`

// TestAPIFake checks the wire format and the status of every error kind
// against a fake pool.
func TestAPIFake(t *testing.T) {
	d := startDaemon(t, fakeConfig, fakeFactory)
	type want struct {
		status int
		has    []string
	}
	cases := []struct {
		name, method, path, body string
		want
	}{
		{"echo", "POST", "/v1/call/echo", `{"args":[{"a":[1,2.5,"x",null,true]}]}`, want{200, []string{`{"result":{"a":[1,2.5,"x",null,true]}}`}}},
		{"big int exact", "POST", "/v1/call/echo", `{"args":[123456789012345678901234567890]}`, want{200, []string{`{"result":123456789012345678901234567890}`}}},
		{"no args", "POST", "/v1/call/count", `{}`, want{200, []string{`{"result":0}`}}},
		{"three args", "POST", "/v1/call/count", `{"args":[1,"2",[3]]}`, want{200, []string{`{"result":3}`}}},
		{"bytes result", "POST", "/v1/call/bytes", `{"args":[]}`, want{200, []string{`{"result":{"$bytes":"aGk="}}`}}},
		{"remote", "POST", "/v1/call/raise", `{"args":[]}`, want{502, []string{`"kind":"remote"`, `"type":"ValueError"`, `"message":"bad input"`, `"language":"python"`}}},
		{"overload", "POST", "/v1/call/overload", `{"args":[]}`, want{503, []string{`"kind":"overload"`}}},
		{"memory limit", "POST", "/v1/call/memory", `{"args":[]}`, want{502, []string{`"kind":"limit"`, `"limit":"memory"`}}},
		{"seccomp", "POST", "/v1/call/seccomp", `{"args":[]}`, want{502, []string{`"kind":"seccomp"`, `"syscall":"socket"`}}},
		{"timeout", "POST", "/v1/call/timeout", `{"args":[]}`, want{504, []string{`"kind":"timeout"`, `"limit":"wall"`}}},
		{"terminated", "POST", "/v1/call/die", `{"args":[]}`, want{502, []string{`"kind":"terminated"`, "Segmentation fault"}}},
		{"bad json", "POST", "/v1/call/echo", `{"args":[1,}`, want{400, []string{`"kind":"bad_request"`}}},
		{"not an array", "POST", "/v1/call/echo", `{"args":{"a":1}}`, want{400, []string{`"kind":"bad_request"`}}},
		{"unknown field", "POST", "/v1/call/echo", `{"args":[],"kwargs":{}}`, want{400, []string{`"kind":"bad_request"`, `unknown field \"kwargs\"`}}},
		{"trailing data", "POST", "/v1/call/echo", `{"args":[]} {}`, want{400, []string{`"kind":"bad_request"`, "after the JSON object"}}},
		{"empty body", "POST", "/v1/call/echo", ``, want{400, []string{`"kind":"bad_request"`, "empty body"}}},
		{"too large", "POST", "/v1/call/echo", `{"args":["` + strings.Repeat("x", 4000) + `"]}`, want{413, []string{`"kind":"bad_request"`, "max_request_bytes"}}},
		{"missing", "POST", "/v1/call/nope", `{"args":[]}`, want{404, []string{`"kind":"not_found"`, `no callable \"nope\" for this caller`}}},
		{"wrong method", "GET", "/v1/call/echo", ``, want{405, []string{`"kind":"bad_request"`}}},
		{"no endpoint", "GET", "/v2/x", ``, want{404, []string{`"kind":"not_found"`}}},
		{"health", "GET", "/healthz", ``, want{200, []string{`{"status":"ok"}`}}},
		{"attach off", "POST", "/v1/attach/echo", ``, want{404, []string{"attach is not enabled"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, h, body := request(t, d.socket, c.method, c.path, c.body)
			if status != c.status {
				t.Errorf("status %d, want %d; body %s", status, c.status, body)
			}
			for _, w := range c.has {
				if !strings.Contains(body, w) {
					t.Errorf("body %s lacks %s", body, w)
				}
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if (status == 503) != (h.Get("Retry-After") != "") {
				t.Errorf("status %d with Retry-After %q", status, h.Get("Retry-After"))
			}
		})
	}
	// The error body is one object {"error": {...}} with a kind.
	_, _, body := request(t, d.socket, "POST", "/v1/call/raise", `{"args":[]}`)
	var eb errorBody
	if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error.Kind != kindRemote || eb.Error.Traceback == "" {
		t.Errorf("error body %s: %v", body, err)
	}
	// Payloads never reach the logs.
	if strings.Contains(d.logs.String(), "123456789012345678901234567890") || strings.Contains(d.logs.String(), "bad input") {
		t.Errorf("payload or remote message in the logs:\n%s", d.logs)
	}
	if !strings.Contains(d.logs.String(), `"kind":"remote"`) || !strings.Contains(d.logs.String(), `"type":"ValueError"`) {
		t.Errorf("failed call not logged with its kind:\n%s", d.logs)
	}
}

// TestMetrics checks the counters the registry exposes.
func TestMetrics(t *testing.T) {
	d := startDaemon(t, fakeConfig, fakeFactory)
	for _, c := range []string{"echo", "echo", "raise", "memory", "seccomp", "nope"} {
		request(t, d.socket, "POST", "/v1/call/"+c, `{"args":[1]}`)
	}
	rec := httptest.NewRecorder()
	d.srv.metrics.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	out := rec.Body.String()
	for _, w := range []string{
		`sandboxd_calls_total{callable="echo",outcome="ok"} 2`,
		`sandboxd_calls_total{callable="raise",outcome="remote"} 1`,
		`sandboxd_calls_total{callable="",outcome="not_found"} 1`,
		`sandboxd_limit_violations_total{callable="memory",limit="memory"} 1`,
		`sandboxd_seccomp_violations_total{callable="seccomp",syscall="socket"} 1`,
		`sandboxd_call_duration_seconds_count{callable="echo"} 2`,
		`sandboxd_workers{callable="echo",state="idle"} 1`,
		`sandboxd_worker_starts_total{callable="echo"} 1`,
		`sandboxd_worker_restarts_total{callable="echo"} 0`,
		`sandboxd_calls_in_flight 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
	if strings.Contains(out, `callable="nope"`) {
		t.Error("an unknown callable's name became a label")
	}
}

// TestDrainInProcess: a call in progress finishes, a new one gets 503.
func TestDrainInProcess(t *testing.T) {
	d := startDaemon(t, fakeConfig, fakeFactory)
	var wg sync.WaitGroup
	wg.Add(1)
	var status int
	var body string
	go func() {
		defer wg.Done()
		status, _, body = request(t, d.socket, "POST", "/v1/call/sleep", `{"args":[]}`)
	}()
	time.Sleep(100 * time.Millisecond)
	go d.srv.drain(10 * time.Second)
	time.Sleep(50 * time.Millisecond)
	st, h, b := request(t, d.socket, "POST", "/v1/call/echo", `{"args":[1]}`)
	if st != http.StatusServiceUnavailable || h.Get("Retry-After") == "" || !strings.Contains(b, "shutting down") {
		t.Errorf("call while draining: %d %s", st, b)
	}
	if st, _, b := request(t, d.socket, "GET", "/healthz", ""); st != 503 || !strings.Contains(b, "draining") {
		t.Errorf("healthz while draining: %d %s", st, b)
	}
	wg.Wait()
	if status != 200 || !strings.Contains(body, "slept") {
		t.Errorf("call in progress: %d %s", status, body)
	}
}

// TestReloadInProcess: a new config adds a callable; one whose pools
// cannot start keeps the old config.
func TestReloadInProcess(t *testing.T) {
	d := startDaemon(t, fakeConfig, fakeFactory)
	cfg := d.srv.config()
	next := *cfg
	next.Callables = append(append([]*callable{}, cfg.Callables...), &callable{Name: "added", Function: "echo", Profile: cfg.Callables[0].Profile})
	if err := d.srv.reload(t.Context(), &next); err != nil {
		t.Fatal(err)
	}
	if st, _, b := request(t, d.socket, "POST", "/v1/call/added", `{"args":[7]}`); st != 200 || !strings.Contains(b, "7") {
		t.Errorf("added callable: %d %s", st, b)
	}
	bad := next
	bad.Callables = []*callable{{Name: "broken", Function: "fail_to_start", Profile: cfg.Callables[0].Profile}}
	if err := d.srv.reload(t.Context(), &bad); err == nil {
		t.Error("a config whose pool cannot start was swapped in")
	}
	if st, _, _ := request(t, d.socket, "POST", "/v1/call/added", `{"args":[7]}`); st != 200 {
		t.Errorf("old config lost: %d", st)
	}
}

// TestSocketMode checks the socket file's mode from the config.
func TestSocketMode(t *testing.T) {
	d := startDaemon(t, fakeConfig, fakeFactory)
	fi, err := os.Stat(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o666 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v", fi.Mode())
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		fn     string
		status int
		kind   string
	}{
		{"raise", 502, kindRemote}, {"overload", 503, kindOverload}, {"memory", 502, kindLimit},
		{"seccomp", 502, kindSeccomp}, {"timeout", 504, kindTimeout}, {"die", 502, kindTerminated},
	} {
		_, err := (&fakePool{fn: c.fn}).Call(t.Context())
		e := classify(err)
		if e.Status != c.status || e.Kind != c.kind {
			t.Errorf("%s: %d %s, want %d %s", c.fn, e.Status, e.Kind, c.status, c.kind)
		}
	}
}
