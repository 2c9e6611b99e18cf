package main

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

// FuzzParseCallHead: the fast path accepts a request head only if net/http
// reads the same request from it: the same method, path, body length and
// connection handling. Anything it is unsure of goes to net/http anyway.
func FuzzParseCallHead(f *testing.F) {
	for _, s := range []string{
		"POST /v1/call/decode HTTP/1.1\r\nHost: sandboxd\r\nContent-Length: 12\r\n\r\n",
		"POST /v1/call/a.b-c_d HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nConnection: close\r\n\r\n",
		"POST /v1/call/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"POST /v1/call/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"GET /v1/call/x HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /v1/call/%2e%2e HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n",
		"POST /v1/call/x HTTP/1.1\r\nHost: x\r\nContent-Length:  007 \r\nX-A:\tb\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		h, ok := parseCallHead(head)
		if !ok {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("fast path accepted a head net/http refuses (%v):\n%q", err, head)
		}
		if req.Method != http.MethodPost || req.URL.Path != "/v1/call/"+string(h.name) ||
			req.ContentLength != h.body || req.Close != h.close || req.ProtoMajor != 1 || req.ProtoMinor != 1 {
			t.Fatalf("fast path read %+v, net/http %s %s len %d close %v:\n%q",
				h, req.Method, req.URL.Path, req.ContentLength, req.Close, head)
		}
	})
}
