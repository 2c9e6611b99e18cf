package bond

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// The fake's side channel: blobs on fds 5 and 6, descriptors on fd 7, and
// a handle table of JSON values. Verbs (eval "!verb:arg"), for tests:
//
//	keep ops and `value`/`release`/`method` on handles, with "len" giving
//	the kept value's JSON length; call "blobecho" echoes a $blob argument;
//	call "fdread" reads a $fd or $file argument; eval "!blobout:N" replies
//	with N bytes; "!bloblie:N" announces N bytes and writes none;
//	"!released" lists the keys released so far.
type fakeSide struct {
	in, out  *os.File
	sock     int
	nextKey  int64
	objects  map[int64]string
	released []int64
}

func openFakeSide() *fakeSide {
	if os.Getenv("SANDBOND_SIDE") != "5,6,7" {
		return nil
	}
	return &fakeSide{in: os.NewFile(5, "blob-in"), out: os.NewFile(6, "blob-out"), sock: 7, objects: map[int64]string{}}
}

func (f *fake) keepValue(v string) string {
	f.side.nextKey++
	f.side.objects[f.side.nextKey] = v
	return fmt.Sprintf(`{"$handle":%d}`, f.side.nextKey)
}

// sideOp handles the ops and verbs of the side channel; false: not one.
func (f *fake) sideOp(m *fakeMsg) bool {
	if f.side == nil {
		return false
	}
	var h struct {
		Handle int64 `json:"handle"`
	}
	switch m.Op {
	case "eval":
		switch {
		case m.Keep && m.Code == "!nothandle": // a kept result that is no handle
			f.send(fmt.Sprintf(`{"op":"return","id":%d,"value":1}`, m.ID))
		case m.Keep:
			f.send(fmt.Sprintf(`{"op":"return","id":%d,"value":%s}`, m.ID, f.keepValue(m.Code)))
		case m.Code == "!released":
			data, _ := json.Marshal(f.side.released)
			f.send(fmt.Sprintf(`{"op":"return","id":%d,"value":%s}`, m.ID, data))
		case len(m.Code) > 9 && m.Code[:9] == "!blobout:":
			n, _ := strconv.Atoi(m.Code[9:])
			data := make([]byte, n)
			for i := range data {
				data[i] = byte(i % 251)
			}
			f.send(fmt.Sprintf(`{"op":"return","id":%d,"value":{"$blob":%d}}`, m.ID, n))
			_, _ = f.side.out.Write(data)
		case len(m.Code) > 9 && m.Code[:9] == "!bloblie:":
			f.send(fmt.Sprintf(`{"op":"return","id":%d,"value":{"$blob":%s}}`, m.ID, m.Code[9:]))
		default:
			return false
		}
		return true
	case "call":
		switch m.Name {
		case "blobecho":
			var tag struct {
				N *int64 `json:"$blob"`
			}
			if len(m.Args) != 1 || json.Unmarshal(m.Args[0], &tag) != nil || tag.N == nil {
				f.replyError(m.ID, &fakeErr{"exception", "TypeError", "blobecho takes one $blob: " + string(m.Args[0]), ""})
				return true
			}
			data := make([]byte, *tag.N)
			if _, err := io.ReadFull(f.side.in, data); err != nil {
				os.Exit(9)
			}
			f.send(fmt.Sprintf(`{"op":"return","id":%d,"value":{"$blob":%d}}`, m.ID, len(data)))
			_, _ = f.side.out.Write(data)
		case "fdread":
			f.send(fmt.Sprintf(`{"op":"return","id":%d,"value":%s}`, m.ID, jsonString(f.readFD(m.Args))))
		default:
			if !m.Keep {
				return false
			}
			v, e := f.call(m.Name, m.Args)
			if e != nil {
				f.replyError(m.ID, e)
			} else {
				f.send(fmt.Sprintf(`{"op":"return","id":%d,"value":%s}`, m.ID, f.keepValue(v)))
			}
		}
		return true
	case "new", "method", "value", "release", "len":
	default:
		return false
	}
	line := f.lastLine
	_ = json.Unmarshal(line, &h)
	obj, ok := f.side.objects[h.Handle]
	switch {
	case m.Op == "new":
		f.send(fmt.Sprintf(`{"op":"return","id":%d,"value":%s}`, m.ID, f.keepValue(jsonString(m.Name))))
	case m.Op == "release":
		var r struct{ Handles []int64 }
		_ = json.Unmarshal(line, &r)
		for _, k := range r.Handles {
			delete(f.side.objects, k)
		}
		f.side.released = append(f.side.released, r.Handles...)
		f.send(fmt.Sprintf(`{"op":"return","id":%d,"value":null}`, m.ID))
	case !ok:
		f.replyError(m.ID, &fakeErr{"exception", "SandbondHandleError", fmt.Sprintf("unknown handle %d", h.Handle), ""})
	case m.Op == "value":
		f.send(fmt.Sprintf(`{"op":"return","id":%d,"value":%s}`, m.ID, obj))
	case m.Op == "len":
		f.send(fmt.Sprintf(`{"op":"return","id":%d,"value":%d}`, m.ID, len(obj)))
	case m.Op == "method": // "args": the object and the arguments as JSON
		parts := append([]json.RawMessage{json.RawMessage(obj)}, m.Args...)
		data, _ := json.Marshal(parts)
		f.send(fmt.Sprintf(`{"op":"return","id":%d,"value":%s}`, m.ID, jsonString(string(data))))
	}
	return true
}

// readFD returns the contents of a $fd (received on the socket) or $file
// argument, or what went wrong.
func (f *fake) readFD(args []json.RawMessage) string {
	var tag struct {
		FD   *int            `json:"$fd"`
		File json.RawMessage `json:"$file"`
	}
	if len(args) != 1 || json.Unmarshal(args[0], &tag) != nil {
		return "bad argument"
	}
	if tag.File != nil {
		return "file:" + string(tag.File)
	}
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4*4))
	_, oobn, _, _, err := unix.Recvmsg(f.side.sock, buf, oob, 0)
	if err != nil {
		return "recvmsg: " + err.Error()
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return "no control message"
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) <= *tag.FD {
		return "no descriptor"
	}
	file := os.NewFile(uintptr(fds[*tag.FD]), "passed")
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		return "read: " + err.Error()
	}
	// A write through it must fail: the descriptor is read-only.
	if _, err := file.Write([]byte("x")); err == nil {
		return "writable"
	}
	return "fd:" + string(data)
}
