# sandbond Python driver (stage 2). Protocol: bond/PROTOCOL.md.
# Stage 1 leaves the buffered protocol reader in _sb_r and runs this file in
# __main__; everything here lives inside one function so that user code gets
# a clean global scope.
#
# Design notes:
# - Requests are decoded by json with an object_hook that turns tags into
#   values as the parser meets them. Tag objects ($blob, $fd, $handle) hold
#   no nested object, so the hook sees them in the order they appear in the
#   line: a $blob is read from the blob pipe right there, the first $fd of a
#   message makes its one recvmsg. Nothing in the hook aborts the parse
#   (an unknown handle is only noted), so a message's blobs are always all
#   consumed and the streams stay in sync.
# - Everything that reads or writes the protocol, blob pipes or socket runs
#   with state["proto"] > 0, where SIGINT is ignored: an interrupt can only
#   stop user code, never leave a stream half read or half written.
# - Outgoing bytes of BLOB_MIN or more become {"$blob":N} when the blob pipes
#   are up; they are written after the line, and only once the whole line is
#   encoded, so a serialization error sends nothing at all.
# - Start-up imports only what every bond needs. Modules that only rare
#   paths use are imported there: traceback when an exception is formatted,
#   base64 for $bytes, array for descriptors; the fd socket uses _socket,
#   signals _signal and the write lock _thread (the C modules behind socket,
#   signal and threading, without their start-up cost).


def _sandbond_main(reader):
    import _signal
    import builtins
    import io
    import json
    import operator
    import os
    import stat
    import sys
    import types
    try:
        from _thread import RLock
    except ImportError:
        from threading import RLock

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

    write_lock = RLock()
    state = {"user": 0, "proto": 0, "next": 0, "handle": 0}
    MAX_REC = 20000
    BLOB_MIN = 32768      # bytes this long or longer travel as $blob
    CHUNK = 1 << 20       # blob reads (PyPy), and slices of a short write
    MAX_FDS = 253         # SCM_MAX_FD: the most one SCM_RIGHTS message holds

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

    class SandbondHandleError(Exception):
        """The host named a handle that is not (or no longer) in the table."""

    class ProtocolError(BaseException):
        """Fatal: the driver exits. A BaseException so that user code that
        catches Exception around a host call cannot swallow it."""

    HostError.__module__ = SerializationError.__module__ = "sandbond"
    SandbondHandleError.__module__ = "sandbond"
    mod.HostError = HostError
    mod.SerializationError = SerializationError
    mod.SandbondHandleError = mod.HandleError = SandbondHandleError
    sys.modules["sandbond"] = mod

    G = {"__name__": "__main__", "__builtins__": builtins, "__doc__": None}

    class Ref(object):
        __slots__ = ("code",)

        def __init__(self, code):
            self.code = code

    # -- side channel (SANDBOND_SIDE=IN,OUT,SOCK) ------------------------------
    # Each named fd is used only if it is open with the right access mode, is
    # a pipe (or socket) for the blobs and a socket for SOCK, and is none of
    # our own descriptors: a number the host named without passing it may
    # since have been reused by stage 1's dup of the protocol input.
    def side_fd(field, own, modes, want_sock=False):
        try:
            fd = int(field)
            if fd < 0 or fd in own:
                return None
            mode = os.fstat(fd).st_mode
            if not (stat.S_ISSOCK(mode) or (not want_sock and stat.S_ISFIFO(mode))):
                return None
            import fcntl
            accmode = getattr(os, "O_ACCMODE", 3)  # PyPy lacks the constant
            if fcntl.fcntl(fd, fcntl.F_GETFL) & accmode not in modes:
                return None
            os.set_inheritable(fd, False)
            os.set_blocking(fd, True)
            return fd
        except Exception:  # whatever goes wrong, no side channel
            return None

    def open_side():
        spec = os.environ.pop("SANDBOND_SIDE", None)  # also unsets it
        if spec is None:
            return None, None, None
        fields = (spec.split(",") + ["", "", ""])[:3]
        own = {0, 1, 2, wfd, reader.fileno()}
        bin_ = side_fd(fields[0], own, (os.O_RDONLY, os.O_RDWR))
        bout = side_fd(fields[1], own | {bin_}, (os.O_WRONLY, os.O_RDWR))
        if bin_ is None or bout is None:
            bin_ = bout = None  # blobs need both directions
        sock = None
        fd = side_fd(fields[2], own | {bin_, bout}, (os.O_RDWR,), True)
        if fd is not None:
            try:
                import _socket
                s = _socket.socket(fileno=fd)
                if s.family == _socket.AF_UNIX and hasattr(s, "recvmsg"):
                    s.setblocking(True)
                    sock = s
                else:
                    s.detach()
            except Exception:
                sock = None
        return bin_, bout, sock

    blob_in, blob_out, fd_sock = open_side()

    def read_blob(n):
        """Exactly n bytes from the blob input, as bytes."""
        if blob_reader is not None:
            # CPython: BufferedReader.read(n) allocates the result once and
            # reads straight into it, looping over short pipe reads: no
            # copy, no join. What it reads ahead belongs to the next blobs
            # and stays in its buffer; nothing else reads this pipe.
            b = blob_reader.read(n)
        else:
            # PyPy copies either way; big reads and one join measure best.
            parts = []
            left = n
            while left:
                x = os.read(blob_in, min(left, CHUNK))
                if not x:
                    break
                parts.append(x)
                left -= len(x)
            b = b"".join(parts)
        if len(b) != n:
            raise ProtocolError("blob input closed")
        return b

    blob_reader = None
    if blob_in is not None and sys.implementation.name == "cpython":
        blob_reader = io.BufferedReader(io.FileIO(blob_in, "rb", closefd=False), 1 << 16)

    def recv_fds():
        """The descriptors of one SCM_RIGHTS message from the host."""
        import _socket as socket
        import array
        cloexec = getattr(socket, "MSG_CMSG_CLOEXEC", 0)
        if not cloexec and sys.platform.startswith("linux"):
            cloexec = 0x40000000  # PyPy lacks the constant
        fds = array.array("i")
        msg, anc, _, _ = fd_sock.recvmsg(1, socket.CMSG_LEN(MAX_FDS * fds.itemsize), cloexec)
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
        for fd in fds:
            os.set_inheritable(fd, False)
        if not msg and not fds:
            raise ProtocolError("fd socket closed")
        return list(fds)

    # -- handles ------------------------------------------------------------
    handles = {}

    def keep(obj):
        state["handle"] += 1
        k = state["handle"]
        handles[k] = obj
        return k

    def handle_error(message):
        e = SandbondHandleError(message)
        e.quiet = True  # the driver's own check: no traceback to show
        return e

    def lookup(k):
        if type(k) is int and k in handles:
            return handles[k]
        raise handle_error("unknown handle %r" % (k,))

    def release(keys):
        if type(keys) is list:
            for k in keys:
                if type(k) is int:
                    handles.pop(k, None)

    # -- framing ----------------------------------------------------------
    def write_all(fd, data):
        """Write bytes data: one write, which on a blocking pipe returns
        short only on a signal; the rest in CHUNK slices, so that even a
        runtime that copies what it writes (PyPy) stays linear."""
        n = os.write(fd, data)
        while n < len(data):
            n += os.write(fd, data[n:n + CHUNK])

    def write_line(data):
        with write_lock:
            write_all(wfd, data)

    def send(line, blobs=None):
        """Send one message (bytes ending in newline), output first, then
        its blobs on the blob output."""
        state["proto"] += 1
        try:
            with write_lock:
                if out._buf:
                    out.flush()
                if err._buf:
                    err.flush()
                write_line(line)
                if blobs:
                    for b in blobs:
                        write_all(blob_out, b)
        finally:
            state["proto"] -= 1

    dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False,
                             separators=(",", ":")).encode

    # -- values -------------------------------------------------------------
    def to_wire(v, blobs, depth=0):
        """Copy of v with tags applied; bytes that go as $blob are appended
        to blobs (None: no blob pipe). Raises SerializationError."""
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
            if t is not bytes:
                v = bytes(v)  # a snapshot: the length in the line must hold
            if blobs is not None and len(v) >= BLOB_MIN:
                blobs.append(v)
                return {"$blob": len(v)}
            import base64
            return {"$bytes": base64.b64encode(v).decode("ascii")}
        if isinstance(v, (list, tuple)):
            return [to_wire(x, blobs, depth + 1) for x in v]
        if isinstance(v, dict):
            d = {}
            for k, x in v.items():
                if type(k) is not str and not isinstance(k, str):
                    raise SerializationError(
                        "map key %r of type %s is not a string" % (k, type(k).__name__))
                d[str(k)] = to_wire(x, blobs, depth + 1)
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

    def encode_value(v, blobs):
        """JSON bytes for v, its $blob payloads appended to blobs; raises
        SerializationError."""
        try:
            s = fast_dumps(v)
            if "{" in s:
                raise TypeError("has maps")
        except (TypeError, ValueError, RecursionError):
            try:
                s = dumps(to_wire(v, blobs if blob_out is not None else None))
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

    # Per-message decoding state, reset by recv: the descriptors of the
    # message's SCM_RIGHTS message (None until its first $fd), the indexes
    # used, the handle keys used, and the first unknown handle key.
    dec = {"fds": None, "used_fds": set(), "keys": [], "bad": None}

    def tag_bytes(v):
        import base64
        return base64.b64decode(v)

    def tag_blob(n):
        if blob_in is None:
            raise ProtocolError("$blob without a blob pipe")
        if type(n) is not int or n < 0:
            raise ProtocolError("bad $blob %r" % (n,))
        return read_blob(n) if n else b""

    def tag_fd(i):
        if fd_sock is None:
            raise ProtocolError("$fd without an fd socket")
        if dec["fds"] is None:
            dec["fds"] = recv_fds()
        fds = dec["fds"]
        if type(i) is not int or not 0 <= i < len(fds):
            raise ProtocolError("bad $fd %r (%d descriptors received)" % (i, len(fds)))
        if i in dec["used_fds"]:  # the same index twice: a file object each
            return os.fdopen(os.dup(fds[i]), "rb")
        dec["used_fds"].add(i)
        return os.fdopen(fds[i], "rb")

    def tag_file(v):
        if type(v) is not bytes:
            raise ProtocolError("$file holds neither $bytes nor $blob")
        return io.BytesIO(v)

    def tag_handle(k):
        if type(k) is int and k in handles:
            dec["keys"].append(k)
            return handles[k]
        if dec["bad"] is None:
            dec["bad"] = "unknown handle %r" % (k,)
        return None

    tags = {"$bytes": tag_bytes, "$ref": Ref, "$blob": tag_blob, "$fd": tag_fd,
            "$file": tag_file, "$handle": tag_handle}

    def hook(d):
        if len(d) == 1:
            k = next(iter(d))
            if k[:1] == "$":
                v = d[k]
                f = tags.get(k)
                if f is not None:
                    return f(v)
                if k[:2] == "$$":
                    return {k[1:]: v}
                raise ProtocolError("unknown tag " + k)
        return d

    loads = json.JSONDecoder(object_hook=hook).decode

    def recv():
        """The next message, with its "release" applied. A handle it used
        that was unknown or is released by the same message is reported in
        dec["bad"]."""
        state["proto"] += 1
        try:
            line = reader.readline()
            if not line:
                out.flush()
                err.flush()
                os._exit(0)
            dec["fds"] = None
            dec["used_fds"] = set()
            dec["keys"] = []
            dec["bad"] = None
            try:
                m = loads(line.decode("utf-8"))
            finally:
                fds = dec["fds"]
                if fds:  # descriptors no tag took
                    for i, fd in enumerate(fds):
                        if i not in dec["used_fds"]:
                            os.close(fd)
            if type(m) is not dict:
                raise ProtocolError("message is not an object")
            rel = m.get("release")
            if rel is not None:
                release(rel)
                if dec["bad"] is None:
                    for k in dec["keys"]:
                        if k not in handles:
                            dec["bad"] = "handle %d released by the same message" % k
                            break
            return m
        finally:
            state["proto"] -= 1

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

    _signal.signal(_signal.SIGINT, on_sigint)

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
        blobs = []
        try:
            body = encode_value(value, blobs)
        except SerializationError as e:
            reply_error(rid, "serialization", type(value).__name__, str(e), "")
            return
        send(b'{"op":"return","id":%d,"value":%s}\n' % (rid, body), blobs)

    def reply_error(rid, kind, etype, message, tb, token=""):
        e = {"kind": kind, "type": etype, "message": message}
        if tb:
            e["traceback"] = tb
        if token:
            e["token"] = token
        line = dumps({"op": "error", "id": rid, "error": e})
        send(line.encode("utf-8", "replace") + b"\n")

    class Kept(object):
        """A result to store in the handle table and reply with as
        {"$handle":K}: obj itself, or (many) each item of the list obj."""
        __slots__ = ("obj", "many")

        def __init__(self, obj, many=False):
            self.obj = obj
            self.many = many

    class ValueFailure(SerializationError):
        """value: the object has no plain form; type_name is its type."""

        def __init__(self, message, type_name):
            SerializationError.__init__(self, message)
            self.type_name = type_name

    def resolve(name):
        return eval(compiled(name, "eval"), G)

    def call_args(args):
        return [eval(compiled(a.code, "eval"), G) if type(a) is Ref else a
                for a in args]

    def op_eval(m):
        return eval(compiled(m["code"], "eval"), G)

    def op_exec(m):
        exec(compiled(m["code"], "exec"), G)

    def op_call(m):  # also new: a Python class is called like a function
        fn = resolve(m["name"])
        return fn(*call_args(m["args"]))

    def op_export(m):
        G[m["name"]] = exported(m["name"])

    def op_method(m):
        obj = lookup(m["handle"])
        return getattr(obj, m["name"])(*call_args(m.get("args") or ()))

    def op_get(m):
        return getattr(lookup(m["handle"]), m["name"])

    def op_set(m):
        setattr(lookup(m["handle"]), m["name"], m["value"])

    def op_len(m):
        return len(lookup(m["handle"]))

    binary = {
        "add": operator.add, "sub": operator.sub, "mul": operator.mul,
        "div": operator.truediv, "mod": operator.mod,
        "eq": operator.eq, "ne": operator.ne, "lt": operator.lt,
        "le": operator.le, "gt": operator.gt, "ge": operator.ge,
        "contains": operator.contains,  # contains(obj, right): right in obj
        "getitem": operator.getitem,    # obj[right]
    }

    def op_op(m):
        obj = lookup(m["handle"])
        name = m["name"]
        args = call_args(m.get("args") or ())
        if name == "str":
            if args:
                raise TypeError("operator str takes no right operand")
            return str(obj)
        f = binary.get(name) if type(name) is str else None
        if f is None:
            raise TypeError("unknown operator %r" % (name,))
        if len(args) != 1:
            raise TypeError("operator %s takes one right operand, got %d" % (name, len(args)))
        return f(obj, args[0])

    def op_iter(m):
        return Kept(iter(lookup(m["handle"])))

    def op_next(m):
        it = lookup(m["handle"])
        count = m["count"]
        if type(count) is not int or not 1 <= count <= 65536:
            raise ValueError("next: count must be an integer from 1 to 65536, not %r" % (count,))
        items = []
        end = items  # a sentinel no iterator can yield
        add = items.append
        for _ in range(count):
            x = next(it, end)
            if x is end:
                break
            add(x)
        return items

    def op_value(m):
        obj = lookup(m["handle"])
        try:
            return plain(obj, set(), 0)
        except RecursionError:
            raise ValueFailure("value nested too deeply", type(obj).__name__)
        except ValueFailure as e:
            e.type_name = type(obj).__name__
            raise

    def op_release(m):
        release(m.get("handles"))

    def plain(v, path, depth):
        """v as plain data, converting what is not to its JSON form, at any
        depth (like json's default hook). path holds the ids of the
        containers being converted, to report cycles."""
        t = type(v)
        if v is None or t is bool or t is int or t is float or t is str or t is bytes:
            return v
        if isinstance(v, (int, float, str, bytes, bytearray, memoryview)):
            return v
        if depth > MAX_REC:
            raise ValueFailure("value nested too deeply", "")
        if id(v) in path:
            raise ValueFailure("value contains a reference cycle (%s)" % t.__name__, "")
        path.add(id(v))
        try:
            is_class = isinstance(v, type)
            f = None if is_class else getattr(v, "__json__", None)
            if callable(f):
                return plain(f(), path, depth + 1)
            if isinstance(v, tuple) and callable(getattr(v, "_asdict", None)):
                return plain(v._asdict(), path, depth + 1)  # namedtuple
            if isinstance(v, (list, tuple)):
                return [plain(x, path, depth + 1) for x in v]
            if isinstance(v, dict):
                d = {}
                for k, x in v.items():
                    if not isinstance(k, str):
                        raise ValueFailure("map key %r of type %s is not a string"
                                           % (k, type(k).__name__), "")
                    d[k] = plain(x, path, depth + 1)
                return d
            if not is_class:
                f = getattr(v, "isoformat", None)
                if callable(f):  # date, time, datetime
                    return plain(f(), path, depth + 1)
                if hasattr(t, "__dataclass_fields__"):
                    import dataclasses
                    return plain(dataclasses.asdict(v), path, depth + 1)
            try:
                d = vars(v)
            except TypeError:
                d = None
            if d and not is_class and not isinstance(v, types.ModuleType):
                return plain(dict(d), path, depth + 1)
            raise ValueFailure("cannot convert value of type %s to plain data" % t.__name__, "")
        finally:
            path.discard(id(v))

    ops = {"eval": op_eval, "exec": op_exec, "call": op_call, "export": op_export,
           "new": op_call, "method": op_method, "get": op_get, "set": op_set,
           "len": op_len, "op": op_op, "iter": op_iter, "next": op_next,
           "value": op_value, "release": op_release}
    keeps = {"eval", "call", "new", "method", "get", "op", "next"}

    def format_traceback(e):
        try:
            import traceback
        except Exception:  # user code broke the import system
            return ""
        return "".join(traceback.format_exception(type(e), e, e.__traceback__.tb_next))

    def handle(m):
        op, rid = m["op"], m["id"]
        run = ops.get(op) if type(op) is str else None
        if run is None:
            raise ProtocolError("unknown op " + repr(op))
        state["user"] += 1
        try:
            if dec["bad"] is not None:
                raise handle_error(dec["bad"])
            result = run(m)
            if m.get("keep") is True and op in keeps:
                result = Kept(result, op == "next")
            state["user"] -= 1
        except SystemExit:
            state["user"] -= 1
            raise
        except ProtocolError:
            raise
        except BaseException as e:
            state["user"] -= 1
            if isinstance(e, ValueFailure):
                reply_error(rid, "serialization", e.type_name, str(e), "")
                return
            if getattr(e, "quiet", False) and isinstance(e, SandbondHandleError):
                tb = ""
            else:
                tb = format_traceback(e)
            kind = "serialization" if isinstance(e, SerializationError) else "exception"
            reply_error(rid, kind, type(e).__name__, str(e), tb,
                        getattr(e, "token", "") if isinstance(e, HostError) else "")
            return
        if type(result) is Kept:
            # Stored only now, out of user code: an interrupt cannot leave
            # an entry behind that the host never heard of.
            if result.many:
                body = b"[" + b",".join(b'{"$handle":%d}' % keep(x) for x in result.obj) + b"]"
            else:
                body = b'{"$handle":%d}' % keep(result.obj)
            send(b'{"op":"return","id":%d,"value":%s}\n' % (rid, body))
            return
        reply_value(rid, result)

    def exported(name):
        def call_host(*args):
            return host_call(name, args)
        call_host.__name__ = call_host.__qualname__ = str(name)
        return call_host

    def host_call(name, args):
        blobs = []
        try:
            body = encode_value(list(args), blobs)
        except SerializationError as e:
            raise SerializationError("cannot send arguments of %s to the host: %s" % (name, e))
        state["next"] += 1
        cid = state["next"]
        send(b'{"op":"call","id":%d,"name":%s,"args":%s}\n'
             % (cid, dumps(name).encode("utf-8"), body), blobs)
        return serve(cid)

    def serve(wait_id):
        while True:
            m = recv()
            op = m.get("op")
            if op == "return" or op == "error":
                if m.get("id") != wait_id:
                    raise ProtocolError("reply to %r while waiting for %r" % (m.get("id"), wait_id))
                if op == "return":
                    if dec["bad"] is not None:
                        raise SandbondHandleError(dec["bad"])
                    return m["value"]
                e = m["error"]
                raise HostError(e.get("message", ""), e.get("type", ""), e.get("token", ""))
            handle(m)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), MAX_REC))
    impl = sys.implementation.name
    ver = ".".join(str(x) for x in sys.version_info[:3])
    info = {"pypy": "PyPy", "cpython": "CPython"}.get(impl, impl) + " " + ver
    ready = {"op": "ready", "version": 1, "language": "python", "info": info}
    side = (["blob"] if blob_in is not None else []) + (["fd"] if fd_sock is not None else [])
    if side:
        ready["side"] = side
    send(dumps(ready).encode() + b"\n")
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
