<?php
// Hostile probes for the sandbox battery (sandbox/battery_linux_test.go), PHP.
// Each probe_NAME($h) attempts one behaviour and returns what happened; $h
// holds facts about the host. Failures are reported as PHP's message (the
// strerror text, which the test maps to an errno name) or as an errno number;
// "ok" means the attempt succeeded. Raw system calls go through FFI, which
// PHP's CLI allows by default (ffi.enable=preload).

function sb_ffi() {
    static $f = null;
    if ($f === null) {
        $f = FFI::cdef("
            long syscall(long number, ...);
            int *__errno_location(void);
            int personality(unsigned long persona);
            int ioctl(int fd, unsigned long request, ...);
            void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);
            int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data);
            int unshare(int flags);
            int socket(int domain, int type, int protocol);
            int close(int fd);
        ", "libc.so.6");
    }
    return $f;
}

function sb_errno() { return sb_ffi()->__errno_location()[0]; }

// sb_sys makes a raw system call: its result, or the errno number as "errno N".
function sb_sys($nr, ...$args) {
    $f = sb_ffi();
    $f->__errno_location()[0] = 0;
    $r = $f->syscall($nr, ...$args);
    return $r == -1 ? "errno " . sb_errno() : $r;
}

function sb_last() {
    $e = error_get_last();
    error_clear_last();
    if ($e === null) return "failed";
    $m = $e['message'];
    $i = strrpos($m, ': ');
    return $i === false ? $m : substr($m, $i + 2);
}

// sb_try runs $f; false (PHP's failure value) becomes the last error's message.
function sb_try($f) {
    error_clear_last();
    try {
        $r = @$f();
    } catch (Throwable $e) {
        return get_class($e) . ": " . $e->getMessage();
    }
    if ($r === false) return sb_last();
    return $r === true || $r === null ? "ok" : $r;
}

function sb_note($s) { fwrite(STDERR, $s . "\n"); }

function sb_libc_path() {
    foreach (file("/proc/self/maps") as $l) {
        $f = preg_split('/\s+/', trim($l));
        if (count($f) >= 6 && strpos($f[5], "/libc.so") !== false) return $f[5];
    }
    return "";
}

function sb_read($p) {
    if (is_dir($p)) {
        $d = @scandir($p);
        if ($d === false) return false;
        return "listed: " . implode(",", array_diff($d, [".", ".."]));
    }
    $s = @file_get_contents($p);
    return $s === false ? false : "read " . strlen($s) . " bytes";
}

function probe_read_host($h) {
    $r = [];
    foreach ($h['read'] as $p) $r[$p] = sb_try(fn() => sb_read($p));
    return $r;
}

function probe_write_host($h) {
    $r = [];
    foreach ($h['create'] as $p) $r["create $p"] = sb_try(fn() => file_put_contents($p, "pwned\n"));
    $ini = php_ini_loaded_file();
    $targets = $h['append'];
    if ($ini) $targets[] = $ini;
    $targets[] = sb_libc_path();
    foreach ($targets as $p) $r["append $p"] = sb_try(fn() => file_put_contents($p, "pwned\n", FILE_APPEND));
    $r["mkdir /usr/sandbond-pwned"] = sb_try(fn() => mkdir("/usr/sandbond-pwned"));
    if ($ini) {
        $r["chmod $ini"] = sb_try(fn() => chmod($ini, 0777));
        $r["unlink $ini"] = sb_try(fn() => unlink($ini));
    }
    return $r;
}

function probe_tmp_write($h) {
    file_put_contents("/tmp/" . $h['marker'], "from the first task");
    return array_values(array_diff(scandir("/tmp"), [".", ".."]));
}

function probe_tmp_read($h) {
    return ["marker" => sb_try(fn() => sb_read("/tmp/" . $h['marker'])),
            "tmp" => array_values(array_diff(scandir("/tmp"), [".", ".."]))];
}

function sb_connect($fam, $addr, $port = 0) {
    $s = socket_create($fam, SOCK_STREAM, 0);
    if ($s === false) return "errno " . socket_last_error();
    socket_set_option($s, SOL_SOCKET, SO_SNDTIMEO, ["sec" => 3, "usec" => 0]);
    $ok = @socket_connect($s, $addr, $port);
    $r = $ok ? "ok" : "errno " . socket_last_error($s);
    if ($ok) socket_write($s, "hello from the sandbox\n");
    socket_close($s);
    return $r;
}

function probe_tcp($h) {
    return ["127.0.0.1" => sb_connect(AF_INET, "127.0.0.1", $h['port']),
            "::1" => $h['port6'] ? sb_connect(AF_INET6, "::1", $h['port6']) : "no host listener"];
}

function probe_unix_abstract($h) { return ["abstract" => sb_connect(AF_UNIX, "\0" . $h['abstract'])]; }

function probe_unix_path($h) { return ["path" => sb_connect(AF_UNIX, $h['sockpath'])]; }

// ext/sockets refuses families other than AF_UNIX, AF_INET and AF_INET6
// before any system call, so the attempt goes through FFI.
function sb_socket($fam, $type) {
    $f = sb_ffi();
    $s = $f->socket($fam, $type, 0);
    if ($s == -1) return "errno " . sb_errno();
    $f->close($s);
    return "ok";
}

function probe_vsock($h) {
    return ["AF_VSOCK" => sb_socket(40, SOCK_STREAM), "AF_NETLINK" => sb_socket(16, SOCK_RAW),
            "AF_PACKET" => sb_socket(17, SOCK_RAW)];
}

function probe_fork_bomb($h) {
    while (true) @pcntl_fork();
}

function probe_memory_bomb($h) {
    $keep = [];
    while (true) $keep[] = str_repeat("\x01", 1 << 20);
}

function probe_cpu_spin($h) {
    while (true) {}
}

function probe_output_flood($h) {
    $chunk = str_repeat("A", 1 << 20);
    for ($i = 0; $i < 256; $i++) fwrite(STDOUT, $chunk);
    return "flooded 256 MiB";
}

function probe_fill_tmp($h) {
    $chunk = str_repeat("x", 1 << 20);
    for ($i = 0; ; $i++) {
        error_clear_last();
        $n = @file_put_contents("/tmp/fill$i", $chunk);
        if ($n !== strlen($chunk)) {
            $err = sb_last();
            clearstatcache();
            $total = 0;
            foreach (glob("/tmp/fill*") as $f) $total += filesize($f);
            return ["errno" => $err, "bytes" => $total];
        }
    }
}

function probe_fd_exhaustion($h) {
    $fds = [];
    while (true) {
        error_clear_last();
        $f = @fopen("/dev/null", "r");
        if ($f === false) break;
        $fds[] = $f;
    }
    $r = ["errno" => sb_last(), "opened" => count($fds)];
    foreach ($fds as $f) fclose($f);
    return $r;
}

function probe_ptrace($h) { return sb_sys(101, 0, 0, 0, 0); }

function probe_mount($h) {
    $f = sb_ffi();
    $r = $f->mount("none", "/tmp", "tmpfs", 0, null);
    return $r == -1 ? "errno " . sb_errno() : $r;
}

function probe_userns_mount($h) {
    $f = sb_ffi();
    $r = $f->unshare(0x10000000 | 0x00020000);
    if ($r == -1) return "errno " . sb_errno();
    return probe_mount($h);
}

function sb_clone_args($flags) {
    $a = FFI::new("uint64_t[11]");
    $a[0] = $flags;
    $a[4] = 17;
    return $a;
}

function probe_clone3_ns($h) {
    $flags = 0x10000000 | 0x00020000 | 0x20000000 | 0x40000000;
    $a = sb_clone_args($flags);
    $b = sb_clone_args(0);
    return ["clone3" => sb_sys(435, FFI::addr($a[0]), 88),
            "clone" => sb_sys(56, $flags | 17, 0, 0, 0, 0),
            "clone3 no flags" => sb_sys(435, FFI::addr($b[0]), 88)];
}

function probe_add_key($h) { return sb_sys(248, "user", "sandbond", "x", 1, -2); }

function probe_bpf($h) {
    $attr = FFI::new("char[128]");
    return sb_sys(321, 5, FFI::addr($attr[0]), 128);
}

function probe_perf_event_open($h) {
    $attr = FFI::new("char[128]");
    return sb_sys(298, FFI::addr($attr[0]), 0, -1, -1, 0);
}

function probe_io_uring($h) {
    $p = FFI::new("char[120]");
    return ["io_uring_setup" => sb_sys(425, 8, FFI::addr($p[0]))];
}

function probe_userfaultfd($h) { return sb_sys(323, 0); }

function probe_personality($h) {
    $f = sb_ffi();
    $r = [];
    foreach (["PER_LINUX32" => 0x0008, "READ_IMPLIES_EXEC" => 0x0400000, "ADDR_NO_RANDOMIZE" => 0x0040000] as $k => $v) {
        $x = $f->personality($v);
        $r[$k] = $x == -1 ? "errno " . sb_errno() : $x;
    }
    return $r;
}

function probe_setuid($h) {
    $found = [];
    $n = 0;
    $todo = ["/"];
    while ($todo) {
        $d = array_pop($todo);
        $ents = @scandir($d);
        if ($ents === false) continue;
        foreach ($ents as $e) {
            if ($e === "." || $e === "..") continue;
            $p = ($d === "/" ? "" : $d) . "/" . $e;
            if ($d === "/" && in_array($e, ["proc", "sys", "dev"])) continue;
            $st = @lstat($p);
            if ($st === false) continue;
            $n++;
            $type = $st['mode'] & 0170000;
            if ($type === 0040000) { $todo[] = $p; continue; }
            if ($st['mode'] & 06000) $found[] = $p;
        }
    }
    preg_match('/NoNewPrivs:\s*(\d)/', file_get_contents("/proc/self/status"), $m);
    return ["setuid" => $found, "scanned" => $n, "no_new_privs" => $m[1] ?? "?"];
}

function sb_kill($pid) {
    return posix_kill($pid, 9) ? "ok" : "errno " . posix_get_last_error();
}

function probe_kill($h) {
    $r = ["kill -1" => sb_kill(-1), "ppid" => posix_getppid()];
    if (posix_getppid() > 0) $r["kill ppid"] = sb_kill(posix_getppid());
    foreach ($h['hostpids'] as $p) $r["kill $p"] = sb_kill($p);
    return $r;
}

function probe_proc($h) {
    $pids = [];
    foreach (scandir("/proc") as $d) if (ctype_digit($d)) $pids[] = (int)$d;
    sort($pids);
    $env = [];
    $cmd = [];
    foreach ($pids as $p) {
        $env["$p"] = sb_try(fn() => file_get_contents("/proc/$p/environ"));
        $cmd["$p"] = sb_try(fn() => file_get_contents("/proc/$p/cmdline"));
    }
    return ["pids" => $pids, "environ" => $env, "cmdline" => $cmd,
            "/proc/1/root" => sb_try(fn() => array_values(array_diff(scandir("/proc/1/root"), [".", ".."]))),
            "/proc/1/root/etc/shadow" => sb_try(fn() => sb_read("/proc/1/root/etc/shadow"))];
}

function probe_fds($h) {
    $r = [];
    $fds = array_diff(scandir("/proc/self/fd"), [".", ".."]);
    sort($fds, SORT_NUMERIC);
    foreach ($fds as $fd) $r[$fd] = sb_try(fn() => readlink("/proc/self/fd/$fd"));
    return ["fds" => (object)$r, "canary" => sb_try(fn() => sb_read($h['leakpath']))];
}

function probe_symlink_plant($h) {
    return ["/tmp/x -> /etc/shadow" => sb_try(fn() => symlink("/etc/shadow", "/tmp/x")),
            "/tmp/y -> /proc/1/root/etc/shadow" => sb_try(fn() => symlink("/proc/1/root/etc/shadow", "/tmp/y")),
            "/tmp/hard -> /etc/ld.so.cache" => sb_try(fn() => link("/etc/ld.so.cache", "/tmp/hard")),
            "follow inside" => sb_try(fn() => sb_read("/tmp/x")),
            "planted" => "/tmp/x"];
}

function probe_devices($h) {
    $nodes = [];
    foreach (scandir("/dev") as $n) {
        if ($n === "." || $n === "..") continue;
        $st = lstat("/dev/$n");
        $t = $st['mode'] & 0170000;
        if ($t === 0020000 || $t === 0060000) $nodes["/dev/$n"] = (($st['rdev'] >> 8) & 0xfff) . "," . (($st['rdev'] & 0xff) | (($st['rdev'] >> 12) & 0xfff00));
    }
    return ["nodes" => (object)$nodes,
            "mknod chr 1,1 (mem)" => posix_mknod("/tmp/mem", POSIX_S_IFCHR | 0600, 1, 1) ? "ok" : "errno " . posix_get_last_error(),
            "mknod blk 8,0" => posix_mknod("/tmp/sda", POSIX_S_IFBLK | 0600, 8, 0) ? "ok" : "errno " . posix_get_last_error(),
            "mkfifo" => posix_mkfifo("/tmp/fifo", 0600) ? "ok" : "errno " . posix_get_last_error(),
            "open /dev/mem" => sb_try(fn() => sb_read("/dev/mem")),
            "open /dev/kmsg" => sb_try(fn() => sb_read("/dev/kmsg"))];
}

function probe_env($h) {
    return ["environ" => (object)getenv(), "/proc/self/environ" => file_get_contents("/proc/self/environ")];
}

function probe_tiocsti($h) {
    $f = sb_ffi();
    $c = FFI::new("char[1]");
    $c[0] = "x";
    $r = [];
    foreach ([0, 1, 2, 3, 4] as $fd) {
        $x = $f->ioctl($fd, 0x5412, FFI::addr($c[0]));
        $r["fd$fd"] = $x == -1 ? "errno " . sb_errno() : $x;
    }
    $r["/dev/tty"] = sb_try(fn() => fopen("/dev/tty", "r+"));
    if (is_resource($r["/dev/tty"])) $r["/dev/tty"] = "ok";
    return $r;
}

function probe_proc_self_exe($h) {
    $real = realpath("/proc/self/exe");
    $o = function ($p, $m) { $f = fopen($p, $m); if ($f === false) return false; fclose($f); return "ok"; };
    return ["/proc/self/exe O_WRONLY" => sb_try(fn() => $o("/proc/self/exe", "c")),
            "/proc/self/exe O_RDWR|O_TRUNC" => sb_try(fn() => $o("/proc/self/exe", "w+")),
            "$real O_WRONLY" => sb_try(fn() => $o($real, "c")),
            "exe" => $real];
}

function probe_syscall32($h) {
    $f = sb_ffi();
    $p = $f->mmap(null, 4096, 7, 0x22, -1, 0); // PROT_READ|WRITE|EXEC, MAP_PRIVATE|ANONYMOUS
    $code = "\xb8\x14\x00\x00\x00\xcd\x80\xc3"; // mov eax, 20; int 0x80; ret
    FFI::memcpy($p, $code, strlen($code));
    $fn = FFI::cast("long (*)(void)", $p);
    sb_note("int 0x80 from FFI");
    return $fn();
}

function probe_escape($h) {
    sb_note("FFI raw getpid: " . sb_sys(39));
    $iov = FFI::new("char[16]");
    return sb_sys(310, 1, FFI::addr($iov[0]), 1, FFI::addr($iov[0]), 1, 0);
}

function probe_x32($h) {
    sb_note("x32 getpid");
    return sb_sys(0x40000000 | 39); // __X32_SYSCALL_BIT | getpid
}

function probe_child_syscall($h) {
    $pid = pcntl_fork();
    if ($pid === 0) {
        sb_sys(101, 0, 0, 0, 0); // ptrace(PTRACE_TRACEME): the filter kills this child
        exit(0);
    }
    pcntl_waitpid($pid, $status);
    sleep(3); // the parent goes on: the launcher must end the sandbox meanwhile
    return ["child status" => $status, "parent" => "still running"];
}
