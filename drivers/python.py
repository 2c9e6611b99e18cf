# sandbond Python driver (stage 2). Protocol: bond/PROTOCOL.md.
# Stage 1 leaves the buffered protocol reader in _sb_r and runs this file in
# __main__; everything here lives inside one function so that user code gets
# a clean global scope.


def _sandbond_main(reader):
    import base64
    import builtins
    import io
    import json
    import os
    import signal
    import sys
    import threading
    import traceback
    import types

    in_fd, out_fd = int(sys.argv[1]), int(sys.argv[2])
    wfd = os.dup(out_fd)
    devnull = os.open(os.devnull, os.O_RDWR)
    if in_fd == 0:
        os.dup2(devnull, 0)
    elif in_fd > 2:
        os.close(in_fd)
    if out_fd == 1:
        os.dup2(2, 1)
    elif out_fd > 2:
        os.close(out_fd)
    os.close(devnull)
    sys.argv = [""]

    write_lock = threading.RLock()
    state = {"user": 0, "proto": 0, "next": 0}
    MAX_REC = 20000

    # -- the module user code sees ------------------------------------------
    mod = types.ModuleType("sandbond", "Errors raised by sandbond's driver.")

    class HostError(Exception):
        """A host (Go) function called from here failed."""

        def __init__(self, message, go_type="", token=""):
            Exception.__init__(self, message)
            self.go_type = go_type
            self.token = token

    class SerializationError(Exception):
        """A value could not be sent to the host."""

    class ProtocolError(Exception):
        pass

    HostError.__module__ = SerializationError.__module__ = "sandbond"
    mod.HostError = HostError
    mod.SerializationError = SerializationError
    sys.modules["sandbond"] = mod

    G = {"__name__": "__main__", "__builtins__": builtins, "__doc__": None}

    class Ref(object):
        __slots__ = ("code",)

        def __init__(self, code):
            self.code = code

    # -- framing ----------------------------------------------------------
    def write_line(data):
        with write_lock:
            n = os.write(wfd, data)
            if n < len(data):
                view = memoryview(data)[n:]
                while view:
                    n = os.write(wfd, view)
                    view = view[n:]

    def send(line):
        """Send one message (bytes ending in newline), output first."""
        state["proto"] += 1
        try:
            with write_lock:
                if out._buf:
                    out.flush()
                if err._buf:
                    err.flush()
                write_line(line)
        finally:
            state["proto"] -= 1

    dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False,
                             separators=(",", ":")).encode

    # -- values -------------------------------------------------------------
    def to_wire(v, depth=0):
        """Copy of v with tags applied; raises SerializationError."""
        if depth > MAX_REC:
            raise SerializationError("value nested too deeply")
        t = type(v)
        if v is None or t is bool or t is str or t is float:
            return v
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            return float(v)
        if isinstance(v, str):
            return str(v)
        if isinstance(v, (bytes, bytearray, memoryview)):
            return {"$bytes": base64.b64encode(bytes(v)).decode("ascii")}
        if isinstance(v, (list, tuple)):
            return [to_wire(x, depth + 1) for x in v]
        if isinstance(v, dict):
            d = {}
            for k, x in v.items():
                if type(k) is not str and not isinstance(k, str):
                    raise SerializationError(
                        "map key %r of type %s is not a string" % (k, type(k).__name__))
                d[str(k)] = to_wire(x, depth + 1)
            if len(d) == 1:
                k = next(iter(d))
                if k[:1] == "$":
                    d = {"$" + k: d[k]}
            return d
        raise SerializationError("cannot serialize value of type %s" % t.__name__)

    def not_plain(o):
        raise TypeError("not plain")

    fast_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False,
                                  separators=(",", ":"), default=not_plain).encode

    def encode_value(v):
        """JSON bytes for v; raises SerializationError."""
        try:
            s = fast_dumps(v)
            if "{" in s:
                raise TypeError("has maps")
        except (TypeError, ValueError, RecursionError):
            try:
                s = dumps(to_wire(v))
            except SerializationError:
                raise
            except ValueError as e:
                raise SerializationError(str(e))
            except RecursionError:
                raise SerializationError("value nested too deeply")
        try:
            return s.encode("utf-8")
        except UnicodeEncodeError:
            raise SerializationError("string is not valid Unicode (lone surrogate)")

    def hook(d):
        if len(d) == 1:
            k = next(iter(d))
            if k[:1] == "$":
                v = d[k]
                if k == "$bytes":
                    return base64.b64decode(v)
                if k == "$ref":
                    return Ref(v)
                if k[:2] == "$$":
                    return {k[1:]: v}
                raise ProtocolError("unknown tag " + k)
        return d

    loads = json.JSONDecoder(object_hook=hook).decode

    def recv():
        state["proto"] += 1
        try:
            line = reader.readline()
        finally:
            state["proto"] -= 1
        if not line:
            out.flush()
            err.flush()
            os._exit(0)
        return loads(line.decode("utf-8"))

    # -- output -------------------------------------------------------------
    class Out(io.TextIOBase):
        def __init__(self, fd):
            self._fd = fd
            self._buf = []
            self._size = 0
            self.buffer = OutBuffer(self)

        encoding = "utf-8"
        errors = "replace"

        def writable(self):
            return True

        def isatty(self):
            return False

        def fileno(self):
            return self._fd

        def write(self, s):
            if not isinstance(s, str):
                raise TypeError("write() argument must be str, not " + type(s).__name__)
            with write_lock:
                other = err if self is out else out
                if other._buf:  # keep stdout and stderr in the order written
                    other.flush()
                self._buf.append(s)
                self._size += len(s)
                if "\n" in s or self._size > 8192:
                    self.flush()
            return len(s)

        def flush(self):
            with write_lock:
                if not self._buf:
                    return
                data = "".join(self._buf)
                self._buf = []
                self._size = 0
                try:
                    body = dumps(data).encode("utf-8")
                except UnicodeEncodeError:
                    data = data.encode("utf-8", "replace").decode("utf-8")
                    body = dumps(data).encode("utf-8")
                write_line(b'{"op":"output","fd":%d,"data":%s}\n' % (self._fd, body))

    class OutBuffer(object):
        def __init__(self, text):
            self._text = text

        def write(self, b):
            self._text.write(bytes(b).decode("utf-8", "replace"))
            return len(b)

        def flush(self):
            self._text.flush()

    out, err = Out(1), Out(2)
    sys.stdout, sys.stderr = out, err
    sys.__stdout__, sys.__stderr__ = out, err
    sys.stdin = open(os.devnull)

    # -- interrupts ---------------------------------------------------------
    def on_sigint(signum, frame):
        if state["user"] > 0 and state["proto"] == 0:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)

    # -- requests -----------------------------------------------------------
    code_cache = {}

    def compiled(code, mode):
        key = (code, mode)
        c = code_cache.get(key)
        if c is None:
            c = compile(code, "<sandbond>", mode)
            if len(code_cache) > 1024:
                code_cache.clear()
            code_cache[key] = c
        return c

    def reply_value(rid, value):
        try:
            body = encode_value(value)
        except SerializationError as e:
            reply_error(rid, "serialization", type(value).__name__, str(e), "")
            return
        send(b'{"op":"return","id":%d,"value":%s}\n' % (rid, body))

    def reply_error(rid, kind, etype, message, tb, token=""):
        e = {"kind": kind, "type": etype, "message": message}
        if tb:
            e["traceback"] = tb
        if token:
            e["token"] = token
        line = dumps({"op": "error", "id": rid, "error": e})
        send(line.encode("utf-8", "replace") + b"\n")

    def handle(m):
        op, rid = m["op"], m["id"]
        state["user"] += 1
        try:
            if op == "eval":
                result = eval(compiled(m["code"], "eval"), G)
            elif op == "exec":
                exec(compiled(m["code"], "exec"), G)
                result = None
            elif op == "call":
                fn = eval(compiled(m["name"], "eval"), G)
                args = [eval(compiled(a.code, "eval"), G) if type(a) is Ref else a
                        for a in m["args"]]
                result = fn(*args)
            elif op == "export":
                G[m["name"]] = exported(m["name"])
                result = None
            else:
                raise ProtocolError("unknown op " + repr(op))
            state["user"] -= 1
        except SystemExit:
            state["user"] -= 1
            raise
        except ProtocolError:
            raise
        except BaseException as e:
            state["user"] -= 1
            tb = "".join(traceback.format_exception(type(e), e, e.__traceback__.tb_next))
            kind = "serialization" if isinstance(e, SerializationError) else "exception"
            reply_error(rid, kind, type(e).__name__, str(e), tb,
                        getattr(e, "token", "") if isinstance(e, HostError) else "")
            return
        reply_value(rid, result)

    def exported(name):
        def call_host(*args):
            return host_call(name, args)
        call_host.__name__ = call_host.__qualname__ = str(name)
        return call_host

    def host_call(name, args):
        try:
            body = encode_value(list(args))
        except SerializationError as e:
            raise SerializationError("cannot send arguments of %s to the host: %s" % (name, e))
        state["next"] += 1
        cid = state["next"]
        send(b'{"op":"call","id":%d,"name":%s,"args":%s}\n'
             % (cid, dumps(name).encode("utf-8"), body))
        return serve(cid)

    def serve(wait_id):
        while True:
            m = recv()
            op = m.get("op")
            if op == "return" or op == "error":
                if m.get("id") != wait_id:
                    raise ProtocolError("reply to %r while waiting for %r" % (m.get("id"), wait_id))
                if op == "return":
                    return m["value"]
                e = m["error"]
                raise HostError(e.get("message", ""), e.get("type", ""), e.get("token", ""))
            handle(m)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), MAX_REC))
    impl = sys.implementation.name
    ver = ".".join(str(x) for x in sys.version_info[:3])
    info = {"pypy": "PyPy", "cpython": "CPython"}.get(impl, impl) + " " + ver
    send(dumps({"op": "ready", "version": 1, "language": "python", "info": info}).encode() + b"\n")
    try:
        serve(None)
    except ProtocolError as e:
        sys.__stderr__ = None
        os.write(2, ("sandbond driver: protocol error: %s\n" % e).encode("utf-8", "replace"))
        os._exit(3)
    except SystemExit as e:
        out.flush()
        err.flush()
        code = e.code
        if code is None:
            code = 0
        elif not isinstance(code, int):
            os.write(2, (str(code) + "\n").encode("utf-8", "replace"))
            code = 1
        os._exit(code)


_sandbond_main(_sb_r)  # noqa: F821 (defined by stage 1)
