# Hostile probes for the sandbox battery (sandbox/battery_linux_test.go), Python.
# Each probe_NAME(h) attempts one behaviour and returns what happened; h holds
# facts about the host (ports, paths, pids). Errors are reported as errno
# names ("ENOENT"); "ok" means the attempt succeeded.
import ctypes, errno, mmap, os, socket, stat, struct, sys

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _err(e):
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__ + ": " + str(e)


def _try(f, *a):
    try:
        r = f(*a)
        return "ok" if r is None else r
    except Exception as e:
        return _err(e)


def _arg(a):
    return ctypes.c_long(a) if isinstance(a, int) else a


def _sys(nr, *args):
    """A raw system call through ctypes: its result, or the errno name."""
    ctypes.set_errno(0)
    r = _libc.syscall(ctypes.c_long(nr), *[_arg(a) for a in args])
    if r == -1:
        return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
    return r


def _libcall(f, *args):
    ctypes.set_errno(0)
    r = f(*args)
    if r == -1:
        return errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
    return r


def _note(s):
    os.write(2, (s + "\n").encode())


def _libc_path():
    for line in open("/proc/self/maps"):
        f = line.split()
        if len(f) >= 6 and "/libc.so" in f[5]:
            return f[5]
    return ""


def _read(p):
    if os.path.isdir(p):
        return "listed: " + ",".join(sorted(os.listdir(p)))
    with open(p, "rb") as f:
        return "read %d bytes" % len(f.read())


def probe_read_host(h):
    return {p: _try(_read, p) for p in h["read"]}


def _append(p):
    with open(p, "a") as f:
        f.write("pwned\n")


def _write_new(p):
    with open(p, "w") as f:
        f.write("pwned\n")


def probe_write_host(h):
    r = {}
    for p in h["create"]:
        r["create " + p] = _try(_write_new, p)
    for p in h["append"] + [os.__file__, _libc_path()]:
        r["append " + p] = _try(_append, p)
    r["mkdir /usr/sandbond-pwned"] = _try(os.mkdir, "/usr/sandbond-pwned")
    r["chmod " + os.__file__] = _try(os.chmod, os.__file__, 0o777)
    r["unlink " + os.__file__] = _try(os.unlink, os.__file__)
    return r


def probe_tmp_write(h):
    with open("/tmp/" + h["marker"], "w") as f:
        f.write("from the first task")
    return sorted(os.listdir("/tmp"))


def probe_tmp_read(h):
    return {"marker": _try(_read, "/tmp/" + h["marker"]), "tmp": sorted(os.listdir("/tmp"))}


def _connect(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(addr)
        s.sendall(b"hello from the sandbox\n")
    finally:
        s.close()


def probe_tcp(h):
    return {"127.0.0.1": _try(_connect, socket.AF_INET, ("127.0.0.1", h["port"])),
            "::1": _try(_connect, socket.AF_INET6, ("::1", h["port6"])) if h["port6"] else "no host listener"}


def probe_unix_abstract(h):
    return {"abstract": _try(_connect, socket.AF_UNIX, "\0" + h["abstract"])}


def probe_unix_path(h):
    return {"path": _try(_connect, socket.AF_UNIX, h["sockpath"])}


def _socket(fam, typ):
    socket.socket(fam, typ).close()


def probe_vsock(h):
    return {"AF_VSOCK": _try(_socket, 40, socket.SOCK_STREAM),
            "AF_NETLINK": _try(_socket, 16, socket.SOCK_RAW),
            "AF_PACKET": _try(_socket, 17, socket.SOCK_RAW)}


def probe_fork_bomb(h):
    while True:
        try:
            os.fork()
        except OSError:
            pass


def probe_memory_bomb(h):
    keep = []
    while True:
        keep.append(b"\x01" * (1 << 20))


def probe_cpu_spin(h):
    while True:
        pass


def probe_output_flood(h):
    chunk = b"A" * (1 << 20)
    for _ in range(256):
        os.write(1, chunk)
    return "flooded 256 MiB"


def probe_fill_tmp(h):
    total, i, chunk = 0, 0, b"x" * (1 << 20)
    while True:
        try:
            with open("/tmp/fill%d" % i, "wb") as f:
                total += f.write(chunk)
                f.flush()
        except OSError as e:
            total = sum(os.path.getsize("/tmp/" + n) for n in os.listdir("/tmp"))
            return {"errno": _err(e), "bytes": total}
        i += 1


def probe_fd_exhaustion(h):
    fds = []
    try:
        while True:
            fds.append(os.open("/dev/null", os.O_RDONLY))
    except OSError as e:
        r = {"errno": _err(e), "opened": len(fds), "highest": max(fds) if fds else -1}
    for fd in fds:
        os.close(fd)
    return r


def probe_ptrace(h):
    return _sys(101, 0, 0, 0, 0)  # PTRACE_TRACEME


def probe_mount(h):
    return _libcall(_libc.mount, b"none", b"/tmp", b"tmpfs", ctypes.c_ulong(0), None)


def probe_userns_mount(h):
    r = _libcall(_libc.unshare, 0x10000000 | 0x00020000)  # CLONE_NEWUSER|CLONE_NEWNS
    if r == 0:
        r = _libcall(_libc.mount, b"none", b"/tmp", b"tmpfs", ctypes.c_ulong(0), None)
    return r


def probe_clone3_ns(h):
    flags = 0x10000000 | 0x00020000 | 0x20000000 | 0x40000000  # NEWUSER|NEWNS|NEWPID|NEWNET
    args = ctypes.create_string_buffer(struct.pack("<11Q", flags, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0), 88)
    return {"clone3": _sys(435, args, 88),
            "clone": _sys(56, flags | 17, 0, 0, 0, 0),
            "clone3 no flags": _sys(435, ctypes.create_string_buffer(struct.pack("<11Q", 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0), 88), 88)}


def probe_add_key(h):
    return _sys(248, b"user", b"sandbond", b"x", 1, -2)  # KEY_SPEC_PROCESS_KEYRING


def probe_bpf(h):
    return _sys(321, 5, ctypes.create_string_buffer(128), 128)  # BPF_PROG_LOAD


def probe_perf_event_open(h):
    return _sys(298, ctypes.create_string_buffer(128), 0, -1, -1, 0)


def probe_io_uring(h):
    return {"io_uring_setup": _sys(425, 8, ctypes.create_string_buffer(120))}


def probe_userfaultfd(h):
    return _sys(323, 0)


def probe_personality(h):
    _libc.personality.restype = ctypes.c_int
    return {"PER_LINUX32": _libcall(_libc.personality, ctypes.c_ulong(0x0008)),
            "READ_IMPLIES_EXEC": _libcall(_libc.personality, ctypes.c_ulong(0x0400000)),
            "ADDR_NO_RANDOMIZE": _libcall(_libc.personality, ctypes.c_ulong(0x0040000))}


def probe_setuid(h):
    found, files = [], 0
    for root, dirs, names in os.walk("/"):
        if root == "/":
            dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
        for n in names + dirs:
            p = os.path.join(root, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            files += 1
            if st.st_mode & (stat.S_ISUID | stat.S_ISGID) and not stat.S_ISDIR(st.st_mode):
                found.append(p)
    nnp = [l.split()[1] for l in open("/proc/self/status") if l.startswith("NoNewPrivs")]
    return {"setuid": found, "scanned": files, "no_new_privs": nnp[0] if nnp else "?"}


def probe_kill(h):
    r = {"kill -1": _try(os.kill, -1, 9), "ppid": os.getppid()}
    if os.getppid() > 0:
        r["kill ppid"] = _try(os.kill, os.getppid(), 9)
    for p in h["hostpids"]:
        r["kill %d" % p] = _try(os.kill, p, 9)
    return r


def probe_proc(h):
    pids = sorted(int(d) for d in os.listdir("/proc") if d.isdigit())
    env = {}
    for p in pids:
        env[str(p)] = _try(lambda: open("/proc/%d/environ" % p, "rb").read().decode("utf-8", "replace"))
    return {"pids": pids, "environ": env,
            "cmdline": {str(p): _try(lambda: open("/proc/%d/cmdline" % p, "rb").read().decode("utf-8", "replace")) for p in pids},
            "/proc/1/root": _try(lambda: sorted(os.listdir("/proc/1/root"))),
            "/proc/1/root/etc/shadow": _try(_read, "/proc/1/root/etc/shadow")}


def probe_fds(h):
    r = {}
    for fd in sorted(os.listdir("/proc/self/fd"), key=int):
        r[fd] = _try(os.readlink, "/proc/self/fd/" + fd)
    return {"fds": r, "canary": _try(_read, h["leakpath"])}


def probe_symlink_plant(h):
    r = {}
    r["/tmp/x -> /etc/shadow"] = _try(os.symlink, "/etc/shadow", "/tmp/x")
    r["/tmp/y -> /proc/1/root/etc/shadow"] = _try(os.symlink, "/proc/1/root/etc/shadow", "/tmp/y")
    r["/tmp/hard -> /etc/ld.so.cache"] = _try(os.link, "/etc/ld.so.cache", "/tmp/hard")
    r["follow inside"] = _try(_read, "/tmp/x")
    r["planted"] = "/tmp/x"
    return r


def probe_devices(h):
    nodes = {}
    for n in sorted(os.listdir("/dev")):
        st = os.lstat("/dev/" + n)
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            nodes["/dev/" + n] = "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    return {"nodes": nodes,
            "mknod chr 1,1 (mem)": _try(os.mknod, "/tmp/mem", 0o600 | stat.S_IFCHR, os.makedev(1, 1)),
            "mknod blk 8,0": _try(os.mknod, "/tmp/sda", 0o600 | stat.S_IFBLK, os.makedev(8, 0)),
            "mkfifo": _try(os.mkfifo, "/tmp/fifo"),
            "open /dev/mem": _try(_read, "/dev/mem"),
            "open /dev/kmsg": _try(_read, "/dev/kmsg")}


def probe_env(h):
    return {"environ": dict(os.environ),
            "/proc/self/environ": open("/proc/self/environ", "rb").read().decode("utf-8", "replace")}


def probe_tiocsti(h):
    import fcntl, termios
    r = {}
    for fd in (0, 1, 2, 3, 4):
        r["fd%d" % fd] = _try(fcntl.ioctl, fd, termios.TIOCSTI, b"x")
    r["/dev/tty"] = _try(os.open, "/dev/tty", os.O_RDWR)
    return r


def probe_proc_self_exe(h):
    real = os.path.realpath("/proc/self/exe")
    return {"/proc/self/exe O_WRONLY": _try(os.open, "/proc/self/exe", os.O_WRONLY),
            "/proc/self/exe O_RDWR|O_TRUNC": _try(os.open, "/proc/self/exe", os.O_RDWR | os.O_TRUNC),
            real + " O_WRONLY": _try(os.open, real, os.O_WRONLY),
            "exe": real}


def probe_syscall32(h):
    # From a multithreaded process (as Node always is): a system call of
    # another ABI kills only the calling thread, unless the launcher ends
    # the sandbox.
    import threading, time
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
    # mov eax, 20 (getpid in the i386 table); int 0x80; ret
    code = b"\xb8\x14\x00\x00\x00\xcd\x80\xc3"
    m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    m.write(code)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    f = ctypes.CFUNCTYPE(ctypes.c_long)(addr)
    _note("int 0x80 from ctypes at %#x" % addr)
    return f()


def probe_escape(h):
    _note("ctypes raw getpid: %s" % _sys(39))
    iov = ctypes.create_string_buffer(16)
    return _sys(310, 1, iov, 1, iov, 1, 0)  # process_vm_readv


def probe_x32(h):
    _note("x32 getpid")
    return _sys(0x40000000 | 39)  # __X32_SYSCALL_BIT | getpid


def probe_child_syscall(h):
    pid = os.fork()
    if pid == 0:
        _sys(101, 0, 0, 0, 0)  # ptrace(PTRACE_TRACEME): the filter kills this child
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    import time
    time.sleep(3)  # the parent goes on: the launcher must end the sandbox meanwhile
    return {"child status": status, "parent": "still running"}
