# Hostile probes for the sandbox battery (sandbox/battery_linux_test.go), Perl.
# Each probe_NAME($h) attempts one behaviour and returns what happened; $h
# holds facts about the host. Errors are errno names ("ENOENT"); "ok" means
# the attempt succeeded. Raw system calls use Perl's syscall().
use POSIX ();
use Errno ();
use Socket ();
use DynaLoader ();

sub sb_en {
    my $n = 0 + $!;
    for my $k (keys %!) { return $k if $!{$k} }
    return "errno $n";
}

sub sb_try {
    my ($f) = @_;
    local $!;
    my $r = eval { $f->() };
    return "died: $@" if $@;
    return sb_en() unless defined $r;
    return $r;
}

sub sb_sys {
    my $nr = shift;
    # syscall() passes strings as pointers to their buffers, which must be
    # writable: copy literals first.
    my @a = map { my $x = $_; $x } @_;
    local $! = 0;
    my $r = syscall($nr, @a);
    return $r == -1 ? sb_en() : $r;
}

sub sb_note { my $s = shift; open(my $e, '>&=', 2); syswrite($e, "$s\n"); }

sub sb_libc_path {
    open(my $m, '<', '/proc/self/maps') or return "";
    while (<$m>) { my @f = split; return $f[5] if @f >= 6 && $f[5] =~ m{/libc\.so} }
    return "";
}

sub sb_read {
    my ($p) = @_;
    if (-d $p) {
        opendir(my $d, $p) or return undef;
        return "listed: " . join(",", sort grep { !/^\.\.?$/ } readdir($d));
    }
    open(my $f, '<', $p) or return undef;
    local $/;
    my $s = <$f>;
    return "read " . length($s) . " bytes";
}

sub probe_read_host {
    my ($h) = @_;
    return { map { my $p = $_; ($p => sb_try(sub { sb_read($p) })) } @{ $h->{read} } };
}

sub sb_open_write {
    my ($mode, $p) = @_;
    open(my $f, $mode, $p) or return undef;
    print $f "pwned\n";
    close($f) or return undef;
    return "ok";
}

sub probe_write_host {
    my ($h) = @_;
    my %r;
    for my $p (@{ $h->{create} }) { $r{"create $p"} = sb_try(sub { sb_open_write('>', $p) }) }
    for my $p (@{ $h->{append} }, $INC{"POSIX.pm"}, sb_libc_path()) {
        $r{"append $p"} = sb_try(sub { sb_open_write('>>', $p) });
    }
    my $pm = $INC{"POSIX.pm"};
    $r{"mkdir /usr/sandbond-pwned"} = sb_try(sub { mkdir("/usr/sandbond-pwned") ? "ok" : undef });
    $r{"chmod $pm"} = sb_try(sub { chmod(0777, $pm) ? "ok" : undef });
    $r{"unlink $pm"} = sb_try(sub { unlink($pm) ? "ok" : undef });
    return \%r;
}

sub sb_tmp { opendir(my $d, "/tmp"); return [sort grep { !/^\.\.?$/ } readdir($d)] }

sub probe_tmp_write {
    my ($h) = @_;
    open(my $f, '>', "/tmp/$h->{marker}") or die "$!";
    print $f "from the first task";
    close $f;
    return sb_tmp();
}

sub probe_tmp_read {
    my ($h) = @_;
    return { marker => sb_try(sub { sb_read("/tmp/$h->{marker}") }), tmp => sb_tmp() };
}

sub sb_connect {
    my ($fam, $addr) = @_;
    socket(my $s, $fam, Socket::SOCK_STREAM(), 0) or return sb_en();
    connect($s, $addr) or return sb_en();
    syswrite($s, "hello from the sandbox\n");
    close $s;
    return "ok";
}

sub probe_tcp {
    my ($h) = @_;
    return {
        "127.0.0.1" => sb_connect(Socket::AF_INET(), Socket::pack_sockaddr_in($h->{port}, Socket::inet_aton("127.0.0.1"))),
        "::1" => $h->{port6} ? sb_connect(Socket::AF_INET6(), Socket::pack_sockaddr_in6($h->{port6}, Socket::inet_pton(Socket::AF_INET6(), "::1"))) : "no host listener",
    };
}

sub probe_unix_abstract {
    my ($h) = @_;
    return { abstract => sb_connect(Socket::AF_UNIX(), Socket::pack_sockaddr_un("\0" . $h->{abstract})) };
}

sub probe_unix_path {
    my ($h) = @_;
    return { path => sb_connect(Socket::AF_UNIX(), Socket::pack_sockaddr_un($h->{sockpath})) };
}

sub sb_socket {
    my ($fam, $type) = @_;
    socket(my $s, $fam, $type, 0) or return sb_en();
    close $s;
    return "ok";
}

sub probe_vsock {
    return { AF_VSOCK => sb_socket(40, Socket::SOCK_STREAM()), AF_NETLINK => sb_socket(16, Socket::SOCK_RAW()),
             AF_PACKET => sb_socket(17, Socket::SOCK_RAW()) };
}

sub probe_fork_bomb { fork() while 1 }

sub probe_memory_bomb { my @keep; push @keep, "\x01" x (1 << 20) while 1 }

sub probe_cpu_spin { 1 while 1 }

sub probe_output_flood {
    open(my $o, '>&=', 1) or die "$!";
    my $chunk = "A" x (1 << 20);
    for (1 .. 256) { my $off = 0; while ($off < length $chunk) { my $n = syswrite($o, $chunk, length($chunk) - $off, $off); die "$!" unless defined $n; $off += $n } }
    return "flooded 256 MiB";
}

sub probe_fill_tmp {
    my $chunk = "x" x (1 << 20);
    for (my $i = 0; ; $i++) {
        my $err;
        if (open(my $f, '>', "/tmp/fill$i")) {
            my $n = syswrite($f, $chunk);
            $err = sb_en() unless defined $n && $n == length $chunk;
            close $f;
        } else {
            $err = sb_en();
        }
        if ($err) {
            my $total = 0;
            $total += -s $_ for glob("/tmp/fill*");
            return { errno => $err, bytes => $total };
        }
    }
}

sub probe_fd_exhaustion {
    my @fds;
    while (1) { open(my $f, '<', '/dev/null') or last; push @fds, $f }
    my $r = { errno => sb_en(), opened => scalar(@fds) };
    close $_ for @fds;
    return $r;
}

sub probe_ptrace { sb_sys(101, 0, 0, 0, 0) }

sub probe_mount { sb_sys(165, "none", "/tmp", "tmpfs", 0, 0) }

sub probe_userns_mount {
    my $r = sb_sys(272, 0x10000000 | 0x00020000);
    return $r unless $r eq "0";
    return probe_mount();
}

sub probe_clone3_ns {
    my $flags = 0x10000000 | 0x00020000 | 0x20000000 | 0x40000000;
    return { clone3 => sb_sys(435, pack("Q<11", $flags, 0, 0, 0, 17, (0) x 6), 88),
             clone => sb_sys(56, $flags | 17, 0, 0, 0, 0),
             "clone3 no flags" => sb_sys(435, pack("Q<11", 0, 0, 0, 0, 17, (0) x 6), 88) };
}

sub probe_add_key { sb_sys(248, "user", "sandbond", "x", 1, -2) }

sub probe_bpf { sb_sys(321, 5, "\0" x 128, 128) }

sub probe_perf_event_open { sb_sys(298, "\0" x 128, 0, -1, -1, 0) }

sub probe_io_uring { { io_uring_setup => sb_sys(425, 8, "\0" x 120) } }

sub probe_userfaultfd { sb_sys(323, 0) }

sub probe_personality {
    return { PER_LINUX32 => sb_sys(135, 0x0008), READ_IMPLIES_EXEC => sb_sys(135, 0x0400000),
             ADDR_NO_RANDOMIZE => sb_sys(135, 0x0040000) };
}

sub probe_setuid {
    my (@found, $n);
    my @todo = ("/");
    while (@todo) {
        my $d = pop @todo;
        opendir(my $dh, $d) or next;
        for my $e (readdir $dh) {
            next if $e eq "." || $e eq "..";
            next if $d eq "/" && ($e eq "proc" || $e eq "sys" || $e eq "dev");
            my $p = ($d eq "/" ? "" : $d) . "/$e";
            my @st = lstat($p) or next;
            $n++;
            if (-d _) { push @todo, $p; next }
            push @found, $p if $st[2] & 06000;
        }
    }
    open(my $s, '<', '/proc/self/status');
    my ($nnp) = map { /^NoNewPrivs:\s*(\d)/ ? $1 : () } <$s>;
    return { setuid => \@found, scanned => $n, no_new_privs => $nnp };
}

sub sb_kill { my $p = shift; local $!; kill('KILL', $p) ? "ok" : sb_en() }

sub probe_kill {
    my ($h) = @_;
    my %r = ("kill -1" => sb_kill(-1), ppid => getppid());
    $r{"kill ppid"} = sb_kill(getppid()) if getppid() > 0;
    $r{"kill $_"} = sb_kill($_) for @{ $h->{hostpids} };
    return \%r;
}

sub sb_slurp { my $p = shift; open(my $f, '<', $p) or return undef; local $/; my $s = <$f>; return $s // "" }

sub probe_proc {
    opendir(my $d, "/proc");
    my @pids = sort { $a <=> $b } grep { /^\d+$/ } readdir $d;
    my (%env, %cmd);
    for my $p (@pids) {
        $env{$p} = sb_try(sub { sb_slurp("/proc/$p/environ") });
        $cmd{$p} = sb_try(sub { sb_slurp("/proc/$p/cmdline") });
    }
    return { pids => [map { 0 + $_ } @pids], environ => \%env, cmdline => \%cmd,
             "/proc/1/root" => sb_try(sub { opendir(my $r, "/proc/1/root") or return undef; [sort grep { !/^\.\.?$/ } readdir $r] }),
             "/proc/1/root/etc/shadow" => sb_try(sub { sb_read("/proc/1/root/etc/shadow") }) };
}

sub probe_fds {
    my ($h) = @_;
    opendir(my $d, "/proc/self/fd");
    my %r;
    for my $fd (grep { /^\d+$/ } readdir $d) { $r{$fd} = sb_try(sub { readlink("/proc/self/fd/$fd") }) }
    return { fds => \%r, canary => sb_try(sub { sb_read($h->{leakpath}) }) };
}

sub probe_symlink_plant {
    return { "/tmp/x -> /etc/shadow" => sb_try(sub { symlink("/etc/shadow", "/tmp/x") ? "ok" : undef }),
             "/tmp/y -> /proc/1/root/etc/shadow" => sb_try(sub { symlink("/proc/1/root/etc/shadow", "/tmp/y") ? "ok" : undef }),
             "/tmp/hard -> /etc/ld.so.cache" => sb_try(sub { link("/etc/ld.so.cache", "/tmp/hard") ? "ok" : undef }),
             "follow inside" => sb_try(sub { sb_read("/tmp/x") }),
             planted => "/tmp/x" };
}

sub probe_devices {
    opendir(my $d, "/dev");
    my %nodes;
    for my $n (grep { !/^\.\.?$/ } readdir $d) {
        my @st = lstat("/dev/$n");
        next unless -c _ || -b _;
        my $dev = $st[6];
        $nodes{"/dev/$n"} = (($dev >> 8) & 0xfff) . "," . (($dev & 0xff) | (($dev >> 12) & 0xfff00));
    }
    # no mknod builtin: the raw system call (mknodat on x86_64 is 259; mknod is 133)
    return { nodes => \%nodes,
             "mknod chr 1,1 (mem)" => sb_sys(133, "/tmp/mem", 0020600, (1 << 8) | 1),
             "mknod blk 8,0" => sb_sys(133, "/tmp/sda", 0060600, 8 << 8),
             "mkfifo" => sb_try(sub { POSIX::mkfifo("/tmp/fifo", 0600) ? "ok" : undef }),
             "open /dev/mem" => sb_try(sub { sb_read("/dev/mem") }),
             "open /dev/kmsg" => sb_try(sub { sb_read("/dev/kmsg") }) };
}

sub probe_env {
    return { environ => {%ENV}, "/proc/self/environ" => sb_slurp("/proc/self/environ") };
}

sub probe_tiocsti {
    my %r;
    for my $fd (0 .. 4) {
        open(my $f, '+<&=', $fd) or open($f, '<&=', $fd) or open($f, '>&=', $fd) or do { $r{"fd$fd"} = "cannot fdopen: $!"; next };
        my $c = "x";
        local $!;
        $r{"fd$fd"} = defined(ioctl($f, 0x5412, $c)) ? "ok" : sb_en();
    }
    $r{"/dev/tty"} = sb_try(sub { open(my $t, '+<', '/dev/tty') ? "ok" : undef });
    return \%r;
}

sub probe_proc_self_exe {
    my $real = readlink("/proc/self/exe");
    my $o = sub { my ($p, $fl) = @_; my $fd = POSIX::open($p, $fl); return undef unless defined $fd; POSIX::close($fd); "ok" };
    return { "/proc/self/exe O_WRONLY" => sb_try(sub { $o->("/proc/self/exe", POSIX::O_WRONLY()) }),
             "/proc/self/exe O_RDWR|O_TRUNC" => sb_try(sub { $o->("/proc/self/exe", POSIX::O_RDWR() | POSIX::O_TRUNC()) }),
             "$real O_WRONLY" => sb_try(sub { $o->($real, POSIX::O_WRONLY()) }),
             exe => $real };
}

sub probe_syscall32 {
    # Perl has no FFI, but syscall() and DynaLoader are enough to run machine
    # code: mmap an RWX page, read the code into it from a pipe, install the
    # page as an XSUB and call it.
    my $code = "\xb8\x14\x00\x00\x00\xcd\x80\xc3";    # mov eax, 20; int 0x80; ret
    my $addr = syscall(9, 0, 4096, 7, 0x22, -1, 0);   # mmap RWX anonymous
    die "mmap: $!" if $addr == -1;
    pipe(my $r, my $w) or die "pipe: $!";
    syswrite($w, $code);
    close $w;
    syscall(0, fileno($r), $addr, length $code) == length $code or die "read: $!";
    DynaLoader::dl_install_xsub("main::sb_code", $addr);
    sb_note(sprintf("int 0x80 from an XSUB at %#x", $addr));
    sb_code();
    return "returned";
}

sub probe_escape {
    sb_note("perl syscall getpid: " . sb_sys(39));
    return sb_sys(310, 1, "\0" x 16, 1, "\0" x 16, 1, 0);
}

sub probe_x32 {
    sb_note("x32 getpid");
    return sb_sys(0x40000000 | 39);    # __X32_SYSCALL_BIT | getpid
}

sub probe_child_syscall {
    my $pid = fork();
    if ($pid == 0) {
        sb_sys(101, 0, 0, 0, 0);    # ptrace(PTRACE_TRACEME): the filter kills this child
        POSIX::_exit(0);
    }
    waitpid($pid, 0);
    sleep(3);    # the parent goes on: the launcher must end the sandbox meanwhile
    return { "child status" => $?, parent => "still running" };
}

1;
