# sandbond Perl driver (stage 2). Protocol: bond/PROTOCOL.md; semantics: perl.go.
#
# Stage 1 (perl.go) opened the protocol input as the bareword handle SANDBOND,
# left what it read past this file in $Sandbond::b and evals this file in
# package main, with the input and output descriptor numbers in @ARGV.
#
# Sandbond::_compile must stay the first statement: it compiles user code,
# which must see none of the driver's lexical variables and must be compiled
# in package main without strict (like `perl -e`).
sub Sandbond::_compile { eval $_[0] }

package Sandbond::Driver;
use strict;
use warnings;
no warnings qw(recursion);

# -- state ------------------------------------------------------------------
# $user is set while user code runs, $proto while the driver reads or writes
# the protocol; SIGINT interrupts user code only ($user && !$proto).
our ($user, $proto) = (0, 0);
my $PID = $$;
my $MAX_DEPTH = 10000;
my $next_id = 0;
my (%calls, %evals, %qname);

# The handle table (PROTOCOL.md, "Handles"): key => live object. Keys count
# up from 1 and are never reused.
my %handles;
my $handle_seq = 0;

# Bytes from this size travel as $blob when the blob pipes are open.
my $BLOB_MIN = 32768;
# $BLOBS collects the blobs of the line being encoded (references to the
# byte strings, in tag order), undef where blobs cannot be sent; $UNBLESS
# makes the encoder send blessed hashes and arrays as plain data (value).
our ($BLOBS, $UNBLESS);

# -- JSON ---------------------------------------------------------------------
# JSON::XS when present (20x faster than pure Perl on large values), else
# the core JSON::PP.
my $JSON_CLASS = eval { require JSON::XS; 'JSON::XS' } || do { require JSON::PP; 'JSON::PP' };
my $JSON = $JSON_CLASS->new->utf8->allow_nonref->max_depth($MAX_DEPTH + 64);

# Encoded output that needs the slow, exact encoder: a map whose first key
# starts with "$" (tags and their escape), NaN and infinities (which JSON::XS
# writes as invalid tokens), and UTF-8 for surrogates or code points beyond
# U+10FFFF (which Perl strings hold but JSON cannot carry; JSON::XS refuses
# the latter itself). Cheap index() scans first, regexps on a hit only.
my $XS = $JSON_CLASS eq 'JSON::XS';
my $NONFINITE = qr/(?:\A|[\[,:])-?(?i:nan|inf)/;
my $BAD_UTF8 = qr/\xED[\xA0-\xBF]|\xF4[\x90-\xBF]|[\xF5-\xFF]/;
my $NOT_UNICODE = do { no warnings; qr/[\x{D800}-\x{DFFF}\x{110000}-\x{7FFFFFFFFFFFFFFF}]/ };
my $DIGITS19 = '0' x 19;
# Integers that JSON::XS cannot decode exactly (it keeps some as strings and
# makes others floats) travel through the decoder as marker strings.
my $BIG_TAG = 'sandbond-int-' . join('', map { sprintf '%04x', int rand 65536 } 1 .. 4) . ':';
my $BIG = "\x{0}$BIG_TAG";

# -- channels -------------------------------------------------------------------
my ($in_fd, $out_fd) = @ARGV;
@ARGV = ();

# The side channel, SANDBOND_SIDE=IN,OUT,SOCK: blob input and output pipes
# and the socket that carries descriptors. Opened before the protocol fds
# are duplicated below: a dup could take a number the variable names but
# the host did not pass. A name that is not an open descriptor of the right
# kind disables its part; $BIN/$BOUT are both set or both undef. Receiving
# descriptors needs recvmsg, which core Perl only reaches through syscall()
# with syscall.ph and a struct layout known for 64-bit Linux; syscall.ph
# takes 30 ms to load, so it is only looked for here and loaded on first use.
my ($BIN, $BOUT, $SOCK, @side_held);
if (defined(my $side = delete $ENV{SANDBOND_SIDE})) {
    my @n = split /,/, $side, -1;
    my ($bin, $bout) = (side_fd($n[0], '<'), side_fd($n[1], '>'));
    ($BIN, $BOUT) = ($bin, $bout) if $bin && $bout;
    $SOCK = side_fd($n[2], '+<');
    $SOCK = undef if $SOCK && !(-S $SOCK && $^O eq 'linux' && length(pack 'p', '') == 8
        && grep { !ref && -f "$_/syscall.ph" } @INC);
}

# A handle on descriptor N opened with MODE, marked close-on-exec, if N is
# open with a matching access mode; else undef. Handles stay referenced in
# @side_held so that a descriptor the driver does not use is not closed.
sub side_fd {
    my ($n, $mode) = @_;
    return undef if !defined $n || $n !~ /\A[0-9]{1,9}\z/ || $n < 3 || $n == $in_fd || $n == $out_fd;
    require Fcntl;
    my $h;
    return undef if !open($h, "$mode&=", $n);
    push @side_held, $h;
    my $fl = fcntl($h, Fcntl::F_GETFL(), 0);
    fcntl($h, Fcntl::F_SETFD(), Fcntl::FD_CLOEXEC());
    return undef if !defined $fl;
    my $acc = $fl & Fcntl::O_ACCMODE();
    my $want = $mode eq '<' ? Fcntl::O_RDONLY() : $mode eq '>' ? Fcntl::O_WRONLY() : Fcntl::O_RDWR();
    return undef if $acc != $want && $acc != Fcntl::O_RDWR();
    binmode($h);
    return $h;
}
open(my $IN, '<&', \*main::SANDBOND) or die "sandbond: cannot dup input fd $in_fd: $!\n";
close(main::SANDBOND);
open(my $OUT, '>&', $out_fd) or die "sandbond: cannot dup output fd $out_fd: $!\n";
if ($out_fd > 2) {
    my $h;
    close($h) if open($h, '>&=', $out_fd);
}
# Stdio mode: nothing may reach the protocol through fds 0 and 1 again.
if ($in_fd == 0) {
    open(main::STDIN, '<', '/dev/null') or die "sandbond: /dev/null: $!\n";
}
if ($out_fd == 1) {
    open(main::STDOUT, '>&', \*main::STDERR) or die "sandbond: fd 1 to fd 2: $!\n";
}
my ($RAW1, $RAW2);
open($RAW1, '>&', 1) or open($RAW1, '>', '/dev/null');
open($RAW2, '>&', 2) or open($RAW2, '>', '/dev/null');
binmode($_) for $IN, $OUT, $RAW1, $RAW2;
my $rbuf = defined $Sandbond::b ? $Sandbond::b : '';
$Sandbond::b = undef;
my $scan = 0;

sub fatal {
    my ($msg) = @_;
    syswrite($RAW2, "sandbond driver: $msg\n");
    require POSIX;
    POSIX::_exit(3);
}

# Whether the last system call failed with EINTR (Errno loads on demand:
# writing %! in the code would load it at every start).
sub interrupted {
    my $err = $! + 0;
    require Errno;
    return $err == Errno::EINTR();
}

# The hot path saves and restores $proto by hand (cheaper than local):
# nothing between the two can die.
sub write_line {
    my $was = $proto;
    $proto = 1;
    my $len = length $_[0];
    my $off = 0;
    while ($off < $len) {
        my $n = syswrite($OUT, $_[0], $len - $off, $off);
        if (!defined $n) {
            next if interrupted();
            fatal("write: $!");
        }
        $off += $n;
    }
    $proto = $was;
}

# Lines are cut from $rbuf at $rpos; the buffer is compacted once consumed.
my $rpos = 0;

sub recv_line {
    my $was = $proto;
    $proto = 1;
    while (1) {
        my $i = index($rbuf, "\n", $scan);
        if ($i >= 0) {
            my $line = substr($rbuf, $rpos, $i + 1 - $rpos);
            if ($i + 1 == length $rbuf) {
                $rbuf = '';
                $rpos = $scan = 0;
            }
            else {
                $rpos = $scan = $i + 1;
            }
            $proto = $was;
            return $line;
        }
        if ($rpos) {
            substr($rbuf, 0, $rpos, '');
            $rpos = 0;
        }
        $scan = length $rbuf;
        my $n = sysread($IN, $rbuf, 1 << 18, $scan);
        next if $n;
        if (!defined $n) {
            next if interrupted();
            fatal("read: $!");
        }
        finish();
    }
}

# EOF on the input: the host is done with us.
sub finish {
    flush_output();
    exit 0;
}

# -- output -----------------------------------------------------------------------
my $STDOUT_T = tie *main::STDOUT, 'Sandbond::Output', 1;
my $STDERR_T = tie *main::STDERR, 'Sandbond::Output', 2;

# $pending is set when output may be buffered.
our $pending = 0;

sub flush_output {
    $pending = 0;
    $STDOUT_T->flush if $STDOUT_T->{buf} ne '';
    $STDERR_T->flush if $STDERR_T->{buf} ne '';
}

# A character string with valid Unicode only, from a byte string (decoded as
# UTF-8, bad bytes replaced by U+FFFD) or a character string (surrogates and
# code points beyond U+10FFFF replaced).
sub text {
    my $s = defined $_[0] ? "$_[0]" : '';
    if (utf8::is_utf8($s)) {
        $s =~ s/$NOT_UNICODE/\x{FFFD}/g;
        return $s;
    }
    return $s if $s !~ /[\x80-\xFF]/;
    my $c = $s;
    return $c if utf8::decode($c) && $c !~ $NOT_UNICODE;
    return text_repair($s);
}

sub send_output {
    my ($fd, $bytes) = @_;
    if ($$ != $PID) {
        syswrite($fd == 1 ? $RAW1 : $RAW2, $bytes);
        return;
    }
    write_line('{"op":"output","fd":' . $fd . ',"data":' . $JSON->encode(text($bytes)) . "}\n");
}

sub send_msg {
    flush_output() if $pending;
    write_line($_[0]);
}

END { flush_output() }

# -- values: Perl to host -----------------------------------------------------------
sub ser_error {
    my ($type, $msg) = @_;
    return bless { type => $type, message => $msg }, 'Sandbond::SerializationError';
}

# Whether JSON::XS's (or JSON::PP's) text for a value can go as it is.
sub plain_json {
    my ($s, $isref) = @_;
    if (!$isref) {    # a scalar: a number, a string, null, true or false
        return $s !~ /\A-?(?i:nan|inf)/ if substr($s, 0, 1) ne '"';
    }
    elsif (index($s, '{"$') >= 0
        || ((index($s, 'nan') >= 0 || index($s, 'inf') >= 0 || index($s, 'NaN') >= 0 || index($s, 'Inf') >= 0)
            && $s =~ $NONFINITE))
    {
        return 0;
    }
    return (index($s, "\xED") < 0 && ($XS || $s !~ /[\xF4-\xFF]/)) || $s !~ $BAD_UTF8;
}

# JSON for a value; dies with a Sandbond::SerializationError.
sub encode_value {
    my $s = eval { $JSON->encode($_[0]) };
    return $s if defined $s && plain_json($s, ref $_[0]);
    return enc_slow($_[0], 0);
}

# -- errors ---------------------------------------------------------------------------
sub reply_error {
    my ($id, $e) = @_;
    my ($kind, $type, $msg, $tb, $token) = eval { describe($e) };
    ($kind, $type, $msg) = ('exception', 'die', 'unprintable error') if !defined $kind;
    my %err = (kind => $kind, type => text($type), message => text($msg));
    $err{traceback} = text($tb) if defined $tb && $tb ne '';
    $err{token} = "$token" if defined $token && $token ne '';
    send_msg('{"op":"error","id":' . $id . ',"error":' . $JSON->encode(\%err) . "}\n");
}

# reply_value(ID, VALUE[, JSON]): JSON is VALUE already encoded, if known.
sub reply_value {
    my $id = $_[0];
    my $body = @_ > 2 ? $_[2] : eval { $JSON->encode($_[1]) };
    if (!defined $body
        || (ref $_[1] || substr($body, 0, 1) eq '"' ? !plain_json($body, ref $_[1]) : $body =~ /\A-?(?i:nan|inf)/))
    {
        return reply_slow($id, $_[1]);
    }
    flush_output() if $pending;
    write_line('{"op":"return","id":' . $id . ',"value":' . $body . "}\n");
}

# -- cold code ------------------------------------------------------------------------
# Slow paths (tags, big integers, the exact encoder, error descriptions) are
# compiled on first use: compiling them costs a millisecond at every start.
my $COLD = <<'COLD';
no warnings 'redefine';

# What fix_in resolves while it decodes one message: the message's blobs
# and received descriptors (by index), the descriptors used so far, and the
# first unknown handle key.
our (@in_blobs, @in_fds, %fd_used, $bad_handle);

# Decodes a line that may hold tags or integers beyond 64 bits. Blobs and
# descriptors are taken off the side channel here, whatever becomes of the
# request, so that the streams stay in step: $blob and $fd tags are first
# replaced by marker strings (as big integers are), since the decoded maps
# lose the order in which the tags appear in the line. In valid JSON the
# text {"$blob":N} can only be the tag itself: a string cannot hold an
# unescaped quote, and a plain map with that one key arrives as {"$$blob":N}.
sub decode_msg {
    my ($line) = @_;
    my $big = 0;
    local (@in_blobs, @in_fds, %fd_used, $bad_handle);
    if (index($line, '{"$blob":') >= 0 || index($line, '{"$fd":') >= 0) {
        my (@sizes, $nfd);
        my $marker = sub {    # blobs by position (from 1), descriptors by index
            my ($kind, $n) = @_;
            $kind eq 'blob' ? ($n = push @sizes, $n) : ($nfd = 1);
            return "\"\\u0000$BIG_TAG" . substr($kind, 0, 1) . "$n\"";
        };
        $line =~ s~\{"\$(blob|fd)":([0-9]+)\}~$marker->($1, $2)~ge;
        fatal('protocol error: $blob without the blob pipes') if @sizes && !$BIN;
        fatal('protocol error: $fd without the descriptor socket') if $nfd && !$SOCK;
        @in_fds = recv_fds() if $nfd;    # sent before the line
        @in_blobs = (undef, map { read_blob($_) } @sizes);    # after it; markers count from 1
        $big = 1;
    }
    if (($line =~ tr/0-9//) >= 19 && index($line =~ tr/0-9/0/r, $DIGITS19) >= 0) {
        my $n = $line =~ s~("(?:[^"\\]++|\\.)*+")|([\[,:]\s*)(-?\d{19,})(?=\s*[,\]\}])~
                         defined $1 ? $1 : "$2\"\\u0000$BIG_TAG$3\""~ge;
        $big ||= $n && index($line, $BIG_TAG) >= 0;
    }
    my $m = eval { $JSON->decode($line) };
    fatal("protocol error: bad JSON from the host: $@") if !defined $m;
    release_keys(delete $m->{release}) if exists $m->{release};    # before handles resolve
    if ($big || index($line, '{"$') >= 0) {
        if (exists $m->{args}) {
            my $call = ($m->{op} // '') eq 'call';    # $ref: only in call's args
            for my $x (@{ $m->{args} }) {
                $x = fix_in($x, $big, $call);
            }
            $m->{refs} = 1;
        }
        $m->{value} = fix_in($m->{value}, $big) if exists $m->{value};
        $m->{bad_handle} = $bad_handle if defined $bad_handle;
    }
    for my $i (0 .. $#in_fds) {    # received but not referred to
        next if $fd_used{$i};
        my $h;
        close($h) if open($h, '<&=', $in_fds[$i]);
    }
    return $m;
}

# Reads one N-byte blob. sysread grows the string to its full size on the
# first read (offset + length), so there is one allocation and no copy.
sub read_blob {
    my ($n) = @_;
    my $was = $proto;
    $proto = 1;
    my ($buf, $got) = ('', 0);
    while ($got < $n) {
        my $r = sysread($BIN, $buf, $n - $got, $got);
        if (!$r) {
            next if !defined $r && interrupted();
            fatal(defined $r ? "protocol error: the blob input ended inside a $n-byte blob" : "blob read: $!");
        }
        $got += $r;
    }
    $proto = $was;
    return $buf;
}

# Writes the blobs of the line just sent, in order, with large writes.
sub write_blobs {
    my ($blobs) = @_;
    my $was = $proto;
    $proto = 1;
    for my $ref (@$blobs) {
        my ($len, $off) = (length $$ref, 0);
        while ($off < $len) {
            my $n = syswrite($BOUT, $$ref, $len - $off, $off);
            if (!defined $n) {
                next if interrupted();
                fatal("blob write: $!");
            }
            $off += $n;
        }
    }
    $proto = $was;
}

# The descriptors of one SCM_RIGHTS message: recvmsg(2) through syscall(),
# with struct msghdr, iovec and cmsghdr laid out for 64-bit Linux (pointers
# and size_t of 8 bytes; native byte order). MSG_CMSG_CLOEXEC marks them
# close-on-exec. syscall.ph is loaded into a package of its own and %INC
# restored, so that user code can still require it into its own package.
my $SYS_recvmsg;

sub recv_fds {
    $SYS_recvmsg //= do {
        my %inc = %INC;
        my $ok = eval { package Sandbond::Sys; no warnings; require 'syscall.ph'; 1 };
        %INC = %inc;
        fatal("cannot load syscall.ph for recvmsg: " . ($ok ? 'no SYS_recvmsg' : $@))
          if !$ok || !defined &Sandbond::Sys::SYS_recvmsg;
        Sandbond::Sys::SYS_recvmsg();
    };
    my $was = $proto;
    $proto = 1;
    my ($data, $ctl) = ("\0", "\0" x 4096);
    vec($data, 0, 8) = 0;    # buffers of their own (not shared copy-on-write), as the kernel writes them
    vec($ctl, 0, 8) = 0;
    my $iov = pack('QQ', unpack('Q', pack('p', $data)), 1);
    my $hdr = pack('QLx4QQQQlx4', 0, 0, unpack('Q', pack('p', $iov)), 1, unpack('Q', pack('p', $ctl)), length $ctl, 0);
    my $r;
    while (1) {
        $r = syscall($SYS_recvmsg, fileno($SOCK) + 0, $hdr, 0x40000000);    # MSG_CMSG_CLOEXEC
        last if $r >= 0;
        fatal("recvmsg: $!") if !interrupted();
    }
    fatal('protocol error: the descriptor socket ended') if $r == 0;
    my ($ctllen, $flags) = unpack('x40 Q l', $hdr);
    my @fds;
    my $off = 0;
    while ($off + 16 <= $ctllen) {
        my ($len, $level, $type) = unpack("x$off Q l l", $ctl);
        last if $len < 16 || $off + $len > $ctllen;
        push @fds, unpack('x' . ($off + 16) . ' i' . int(($len - 16) / 4), $ctl) if $level == 1 && $type == 1;    # SOL_SOCKET, SCM_RIGHTS
        $off += ($len + 7) & ~7;
    }
    fatal('protocol error: descriptors truncated (MSG_CTRUNC)') if $flags & 0x8;
    $proto = $was;
    return @fds;
}

# A read-only binary filehandle on received descriptor I; a descriptor that
# appears twice is duplicated, so that closing one handle leaves the other.
sub fd_handle {
    my ($i) = @_;
    fatal("protocol error: \$fd $i out of range") if $i >= @in_fds;
    my $fh;
    open($fh, $fd_used{$i}++ ? '<&' : '<&=', $in_fds[$i]) or fatal("open received descriptor: $!");
    binmode($fh);
    return $fh;
}

sub big_int {
    my ($d) = @_;
    my $neg = substr($d, 0, 1) eq '-' ? 1 : 0;
    my $n = length($d) - $neg;
    my $fits = $neg
      ? ($n < 19 || ($n == 19 && substr($d, 1) le '9223372036854775808'))
      : ($n < 20 || ($n == 20 && $d le '18446744073709551615'));
    return 0 + $d if $fits;
    require Math::BigInt;
    return Math::BigInt->new($d);
}

sub fix_in {
    my ($v, $big, $arg) = @_;
    my $r = ref $v;
    if ($r eq 'HASH') {
        if (keys %$v == 1) {
            my ($k) = keys %$v;
            if (substr($k, 0, 1) eq '$') {
                my $x = $v->{$k};
                if ($k eq '$bytes') {
                    require MIME::Base64;
                    return MIME::Base64::decode_base64($x);
                }
                if ($k eq '$handle') {
                    return $handles{$x} if defined $x && exists $handles{$x};
                    $bad_handle //= $x // 'null';
                    return undef;
                }
                if ($k eq '$file') {    # a read-only in-memory file on the $blob's or $bytes's bytes
                    my $data = fix_in($x, $big);
                    fatal('protocol error: $file holds no bytes') if ref $data || !defined $data;
                    open(my $fh, '<', \$data) or fatal("in-memory file: $!");
                    binmode($fh);
                    return $fh;
                }
                return bless \(my $code = $x), 'Sandbond::Ref' if $k eq '$ref' && $arg;
                return { substr($k, 1) => fix_in($x, $big) } if substr($k, 0, 2) eq '$$';
                fatal("protocol error: unknown tag " . substr($k, 0, 40));
            }
        }
        for my $x (values %$v) {
            $x = fix_in($x, $big) if ref $x || $big;
        }
        return $v;
    }
    if ($r eq 'ARRAY') {
        for my $x (@$v) {
            $x = fix_in($x, $big) if ref $x || $big;
        }
        return $v;
    }
    if ($big && $r eq '' && defined $v && index($v, $BIG) == 0) {
        my $t = substr($v, length $BIG, 1);
        return $in_blobs[ substr($v, length($BIG) + 1) ] if $t eq 'b';
        return fd_handle(substr($v, length($BIG) + 1)) if $t eq 'f';
        return big_int(substr($v, length $BIG));
    }
    return $v;
}

# The exact encoder: the same number/string rules as JSON::XS (it encodes
# every scalar), plus tags, big integers and precise errors.
sub enc_slow {
    my ($v, $depth) = @_;
    die ser_error('depth', "value nested deeper than $MAX_DEPTH levels (a cycle?)") if $depth > $MAX_DEPTH;
    return 'null' if !defined $v;
    my $r = ref $v;
    if ($r eq '') {
        die ser_error('GLOB', 'cannot serialize a glob') if ref \$v eq 'GLOB';
        my $s = eval { $JSON->encode($v) };
        if (!defined $s) {
            my $e = $@;
            die ser_error('string', 'string is not valid Unicode: ' . text($e =~ s/ at \S+ line \d+\.\n\z//r));
        }
        if (substr($s, 0, 1) eq '"') {
            die ser_error('string', 'string holds a surrogate or a code point beyond U+10FFFF') if $s =~ $BAD_UTF8;
        }
        elsif ($s =~ $NONFINITE) {
            die ser_error('NaN', "cannot serialize a non-finite number ($s)");
        }
        return $s;
    }
    if ($r eq 'ARRAY') {
        return '[' . join(',', map { enc_slow($_, $depth + 1) } @$v) . ']';
    }
    if ($r eq 'HASH') {
        my @keys = keys %$v;
        my @parts;
        for my $k (@keys) {
            my $key = @keys == 1 && substr($k, 0, 1) eq '$' ? '$' . $k : $k;
            my $ks = eval { $JSON->encode("$key") };
            die ser_error('string', 'map key is not valid Unicode') if !defined $ks || $ks =~ $BAD_UTF8;
            push @parts, $ks . ':' . enc_slow($v->{$k}, $depth + 1);
        }
        return '{' . join(',', @parts) . '}';
    }
    require Scalar::Util;
    if (defined(my $class = Scalar::Util::blessed($v))) {
        return $v ? 'true' : 'false' if $v->isa('JSON::PP::Boolean') || $v->isa('Types::Serialiser::Boolean');
        if ($v->isa('Sandbond::Bytes')) {
            my $data = \$v->{data};
            die ser_error($class, 'bytes hold a character beyond U+00FF') if !utf8::downgrade($$data, 1);
            if ($BLOBS && length $$data >= $BLOB_MIN) {    # written after the line
                push @$BLOBS, $data;
                return '{"$blob":' . length($$data) . '}';
            }
            require MIME::Base64;
            return '{"$bytes":"' . MIME::Base64::encode_base64($$data, '') . '"}';
        }
        if ($v->isa('Math::BigInt')) {
            die ser_error($class, 'cannot serialize a non-finite number') if $v->is_nan || $v->is_inf;
            return $v->bstr;
        }
        if ($v->isa('Math::BigFloat')) {
            die ser_error($class, 'cannot serialize a non-finite number') if $v->is_nan || $v->is_inf;
            my $s = $v->bsstr;
            return $s =~ /[.eE]/ ? $s : "$s.0";
        }
        if (my $to_json = $v->can('TO_JSON')) {
            my $plain = $v->$to_json();
            return enc_slow($plain, $depth + 1);
        }
        if ($UNBLESS && !$v->isa('Sandbond::Iterator')) {    # the value op: a blessed hash or array as plain data
            my $t = Scalar::Util::reftype($v);
            return enc_slow({%$v}, $depth + 1) if $t eq 'HASH';
            return enc_slow([@$v], $depth + 1) if $t eq 'ARRAY';
        }
        die ser_error($class, "cannot serialize an object of class $class (it has no TO_JSON method)");
    }
    if ($r eq 'SCALAR' && defined $$v && ($$v eq '1' || $$v eq '0')) {
        return $$v ? 'true' : 'false';    # JSON::XS's \1 and \0
    }
    die ser_error($r, "cannot serialize a $r reference");
}

# Invalid UTF-8 bytes become U+FFFD.
sub text_repair {
    my ($s) = @_;
    $s =~ s{([\x00-\x7F]+|[\xC2-\xDF][\x80-\xBF]|\xE0[\xA0-\xBF][\x80-\xBF]|[\xE1-\xEC\xEE\xEF][\x80-\xBF]{2}|\xED[\x80-\x9F][\x80-\xBF]|\xF0[\x90-\xBF][\x80-\xBF]{2}|[\xF1-\xF3][\x80-\xBF]{3}|\xF4[\x80-\x8F][\x80-\xBF]{2})|[\x80-\xFF]}
           {defined $1 ? $1 : "\xEF\xBF\xBD"}ge;
    utf8::decode($s);
    return $s;
}

sub strip_location {
    my ($m) = @_;
    return $1 if $m =~ /\A(.*?) at (?:(?! at )[^\n])+ line \d+(?:, <[^>\n]*> (?:line|chunk) \d+)?\.\n(?:\t[^\n]*\n)*\z/s;
    chomp $m;
    return $m;
}

# The reply to a request whose value JSON::XS (or JSON::PP) cannot encode
# alone; blobs follow the line.
sub reply_slow {
    my ($id, $v) = @_;
    local $BLOBS = $BOUT ? [] : undef;
    my $body = eval { enc_slow($v, 0) };
    return reply_error($id, $@) if !defined $body;
    send_msg('{"op":"return","id":' . $id . ',"value":' . $body . "}\n");
    write_blobs($BLOBS) if $BLOBS && @$BLOBS;
}

# kind, type, message, traceback, token of something died with.
sub describe {
    my ($e) = @_;
    local ($BLOBS, $UNBLESS);    # messages are text
    if (!ref $e) {
        $e = 'Died' if !defined $e || $e eq '';
        return ('exception', 'die', strip_location($e), $e, '');
    }
    require Scalar::Util;
    my $class = Scalar::Util::blessed($e);
    if (!defined $class) {
        my $r = ref $e;
        my $msg = $r eq 'HASH' && defined $e->{message} && !ref $e->{message} ? $e->{message}
          : (eval { enc_slow($e, 0) } // "$e");
        return ('exception', $r, $msg, '', '');
    }
    if ($class eq 'Sandbond::SerializationError') {
        return ('serialization', $e->{type}, $e->{message}, '', '');
    }
    if ($class eq 'Sandbond::HandleError') {
        return ('exception', 'SandbondHandleError', $e->{message}, '', '');
    }
    if ($class eq 'Sandbond::CompileError') {
        return ('exception', 'CompileError', strip_location($e->{message}), $e->{message}, '');
    }
    my $str = eval { "$e" } // $class;
    my $msg = eval {
        return $e->message // $str if $e->can('message');
        require overload;
        return $str if overload::Method($e, '""');
        return $e->{message} if Scalar::Util::reftype($e) eq 'HASH' && defined $e->{message};
        return $str;
    } // $str;
    $msg = strip_location("$msg");
    my $token = $class->isa('Sandbond::HostError') ? $e->{token} : '';
    return ('exception', $class, $msg, $str eq $msg ? '' : $str, $token);
}

# -- ops on objects (PROTOCOL.md, "Handles") ------------------------------------------
sub handle_error {
    my ($k) = @_;
    return bless { message => 'unknown handle ' . ($k // 'null') . ' (released, or never kept)' },
      'Sandbond::HandleError';
}

sub handle_obj {
    my ($k) = @_;
    die handle_error($k) if !defined $k || !exists $handles{$k};
    return $handles{$k};
}

# new, method, get, set, len, op, iter, next, value and release. Runs as
# user code (in handle()'s eval); returns one value (list results follow
# listy(), as call's do).
sub user_op {
    my ($m) = @_;
    require Scalar::Util;
    my $op = $m->{op};
    my $args = ref $m->{args} eq 'ARRAY' ? $m->{args} : [];
    if ($op eq 'release') {
        release_keys($m->{handles});
        return undef;
    }
    return op_new($m->{name}, $args) if $op eq 'new';
    my $obj = handle_obj($m->{handle});
    my $name = $m->{name};
    if ($op eq 'method') {
        die "method: no method name\n" if !defined $name || ref $name;
        return listy($obj->$name(@$args));
    }
    if ($op eq 'get' || $op eq 'set') {
        die "$op: no name\n" if !defined $name || ref $name;
        my $class = Scalar::Util::blessed($obj);
        # A hash's element; for an object, a method of that name when the
        # hash has no such element.
        if ((Scalar::Util::reftype($obj) // '') eq 'HASH'
            && (exists $obj->{$name} || !defined $class || !$obj->can($name)))
        {
            return $obj->{$name} if $op eq 'get';
            $obj->{$name} = $m->{value};
            return undef;
        }
        die "cannot $op \"$name\" on " . operand($obj) . "\n" if !defined $class;
        return listy($obj->$name()) if $op eq 'get';
        $obj->$name($m->{value});
        return undef;
    }
    return op_len($obj)                  if $op eq 'len';
    return op_operator($name, $obj, $args) if $op eq 'op';
    return make_iter($obj)               if $op eq 'iter';
    if ($op eq 'next') {
        my $count = $m->{count} // 1;
        $count = 1 if $count !~ /\A[0-9]+\z/ || $count < 1;
        my $it = Scalar::Util::blessed($obj) && $obj->isa('Sandbond::Iterator') ? $obj : own_iter($obj);
        die "next: " . operand($obj) . " is not an iterator (iter makes one)\n" if !$it;
        return $it->take($count);
    }
    return $obj if $op eq 'value';    # encoded by handle() with $UNBLESS
    die "unknown op $op\n";
}

sub op_new {
    my ($class, $args) = @_;
    die "new: invalid Perl class name \"" . ($class // '') . "\"\n"
      if !defined $class || ref $class || $class !~ /\A[A-Za-z_]\w*(?:::\w+)*\z/a;
    if (!$class->can('new')) {    # load Foo::Bar from Foo/Bar.pm if it is there
        (my $file = "$class.pm") =~ s{::}{/}g;
        if (!eval { require $file; 1 }) {
            my $e = $@;
            die $e if ref $e || $e !~ /\ACan't locate \Q$file\E in \@INC/;
        }
    }
    return listy($class->new(@$args));
}

# A short description of an operand for error messages.
sub operand {
    my ($x) = @_;
    return 'undef' if !defined $x;
    if (my $class = Scalar::Util::blessed($x)) {
        return "an object of class $class";
    }
    return 'an unblessed ' . ref($x) . ' reference' if ref $x;
    my $s = length $x > 40 ? substr($x, 0, 40) . '...' : $x;
    return Scalar::Util::looks_like_number($x) ? "the number $s" : "the string \"$s\"";
}

sub overloaded {
    return Scalar::Util::blessed($_[0]) && overload::Overloaded($_[0]);
}

sub op_len {
    my ($x) = @_;
    my $n;
    my $t = Scalar::Util::reftype($x) // '';
    if (Scalar::Util::blessed($x) && (my ($f) = grep { $x->can($_) } qw(len length size count))) {
        $n = $x->$f();
    }
    elsif ($t eq 'ARRAY') { $n = @$x }
    elsif ($t eq 'HASH')  { $n = keys %$x }
    elsif (!ref $x && defined $x) { $n = length $x }
    else { die "len: " . operand($x) . " has no length\n" }
    my $s = $n // '';
    die "len: the length of " . operand($x) . " is not an integer: " . operand($n) . "\n" if "$s" !~ /\A-?[0-9]+\z/;
    return 0 + "$s";
}

my %NUM_CMP = (eq => '==', ne => '!=', lt => '<', le => '<=', gt => '>', ge => '>=');
my %CMP = (
    '==' => sub { $_[0] == $_[1] }, '!=' => sub { $_[0] != $_[1] },
    '<'  => sub { $_[0] < $_[1] },  '<=' => sub { $_[0] <= $_[1] },
    '>'  => sub { $_[0] > $_[1] },  '>=' => sub { $_[0] >= $_[1] },
    eq   => sub { $_[0] eq $_[1] }, ne   => sub { $_[0] ne $_[1] },
    lt   => sub { $_[0] lt $_[1] }, le   => sub { $_[0] le $_[1] },
    gt   => sub { $_[0] gt $_[1] }, ge   => sub { $_[0] ge $_[1] },
);
my %ARITH = (
    add => sub { $_[0] + $_[1] }, sub => sub { $_[0] - $_[1] }, mul => sub { $_[0] * $_[1] },
    div => sub { $_[0] / $_[1] }, mod => sub { $_[0] % $_[1] },
);

sub json_bool { $_[0] ? ($XS ? $Types::Serialiser::true : $JSON::PP::true) : ($XS ? $Types::Serialiser::false : $JSON::PP::false) }

# A comparison's result: a boolean, or what an overloaded operator returned
# if that is an object.
sub cmp_result { ref $_[0] ? $_[0] : json_bool($_[0]) }

# Comparisons: numeric when both sides are numbers, string comparison
# otherwise; an object with overloading decides by what it overloads
# (numeric operators, <=> or 0+: numeric; string operators, cmp or "":
# string). Other references and undef are only equal to themselves and
# cannot be ordered.
sub compare {
    my ($name, $x, $y) = @_;
    no warnings;
    require overload;
    for my $o ($x, $y) {
        next if !overloaded($o);
        return cmp_result($CMP{ $NUM_CMP{$name} }->($x, $y))
          if overload::Method($o, $NUM_CMP{$name}) || overload::Method($o, '<=>');
        return cmp_result($CMP{$name}->($x, $y)) if overload::Method($o, $name) || overload::Method($o, 'cmp');
        return cmp_result($CMP{ $NUM_CMP{$name} }->($x, $y)) if overload::Method($o, '0+');
        return cmp_result($CMP{$name}->($x, $y)) if overload::Method($o, '""');
    }
    if (ref $x || ref $y || !defined $x || !defined $y) {
        my $same = ref $x && ref $y ? Scalar::Util::refaddr($x) == Scalar::Util::refaddr($y)
          : !defined $x && !defined $y;
        return json_bool($same)  if $name eq 'eq';
        return json_bool(!$same) if $name eq 'ne';
        die "op $name: cannot order " . operand($x) . " and " . operand($y) . "\n";
    }
    my $num = Scalar::Util::looks_like_number($x) && Scalar::Util::looks_like_number($y);
    return json_bool($CMP{ $num ? $NUM_CMP{$name} : $name }->($x, $y));
}

sub op_operator {
    my ($name, $x, $args) = @_;
    $name //= '';
    require overload;
    return defined $x ? "$x" : '' if $name eq 'str';
    die "op: unknown operator \"$name\"\n" if !$NUM_CMP{$name} && !$ARITH{$name} && $name ne 'contains' && $name ne 'getitem';
    die "op $name: no right operand\n" if !@$args;
    my $y = $args->[0];
    return compare($name, $x, $y) if $NUM_CMP{$name};
    if (my $f = $ARITH{$name}) {    # Perl's operators: numbers, or objects that overload them
        if (!overloaded($x) && !overloaded($y)) {
            for my $o ($x, $y) {
                die "op $name: unsupported operand " . operand($o) . "\n"
                  if ref $o || !defined $o || !Scalar::Util::looks_like_number($o);
            }
        }
        no warnings;
        return $f->($x, $y);
    }
    my $t = Scalar::Util::reftype($x) // '';
    if ($name eq 'contains') {
        return json_bool($x->contains($y)) if Scalar::Util::blessed($x) && $x->can('contains');
        if ($t eq 'HASH') {
            die "op contains: a key is a string, not " . operand($y) . "\n" if ref $y || !defined $y;
            return json_bool(exists $x->{$y});
        }
        if ($t eq 'ARRAY') {
            for my $e (@$x) {
                return json_bool(1) if compare('eq', $e, $y);
            }
            return json_bool(0);
        }
        if (!ref $x && defined $x && defined $y && !ref $y) {    # a substring
            return json_bool(index($x, $y) >= 0);
        }
        die "op contains: " . operand($x) . " does not support contains with " . operand($y) . "\n";
    }
    # getitem
    if ($t eq 'ARRAY' || (overloaded($x) && overload::Method($x, '@{}'))) {
        die "op getitem: an index is an integer, not " . operand($y) . "\n"
          if !defined $y || ref $y || $y !~ /\A-?[0-9]+\z/;
        return $x->[$y];
    }
    if ($t eq 'HASH' || (overloaded($x) && overload::Method($x, '%{}'))) {
        die "op getitem: a key is a string, not " . operand($y) . "\n" if ref $y || !defined $y;
        return $x->{$y};
    }
    die "op getitem: " . operand($x) . " is not an array or a hash\n";
}

# Iterators: an object with a next method, a code ref (both called until
# they return undef) and a filehandle (its lines) iterate themselves; an
# array its elements; a hash [key, value] pairs in sorted key order.
sub own_iter {
    my ($x) = @_;
    if (Scalar::Util::blessed($x) && $x->can('next')) {
        return Sandbond::Iterator->new(sub { my $v = $x->next; defined $v ? ($v) : () });
    }
    my $t = Scalar::Util::reftype($x) // '';
    if ($t eq 'CODE') {
        return Sandbond::Iterator->new(sub { my $v = $x->(); defined $v ? ($v) : () });
    }
    if (ref $x && Scalar::Util::openhandle($x)) {
        return Sandbond::Iterator->new(sub { my $v = readline($x); defined $v ? ($v) : () });
    }
    return undef;
}

sub make_iter {
    my ($x) = @_;
    return $x if Scalar::Util::blessed($x) && $x->isa('Sandbond::Iterator');
    my $it = own_iter($x);
    return $it if $it;
    my $t = Scalar::Util::reftype($x) // '';
    if ($t eq 'ARRAY') {
        my $i = 0;
        return Sandbond::Iterator->new(sub { $i < @$x ? ($x->[ $i++ ]) : () });
    }
    if ($t eq 'HASH') {
        my @keys = sort keys %$x;
        my $i = 0;
        return Sandbond::Iterator->new(sub {
            while ($i < @keys) {
                my $k = $keys[ $i++ ];
                return ([ $k, $x->{$k} ]) if exists $x->{$k};
            }
            return;
        });
    }
    die "iter: " . operand($x) . " is not iterable\n";
}

# Stores VALUE (with EACH: each element of the array VALUE) in the handle
# table; returns the JSON of its handle (or of the array of handles).
sub keep {
    my ($v, $each) = @_;
    return '[' . join(',', map { keep($_) } @$v) . ']' if $each;
    $handles{ ++$handle_seq } = $v;
    return '{"$handle":' . $handle_seq . '}';
}

# -- classes of the cold code ----------------------------------------------------------
package Sandbond::HandleError;
# A request named a handle the driver does not hold (type SandbondHandleError).
use overload '""' => sub { "$_[0]{message}\n" }, 'bool' => sub { 1 }, fallback => 1;
sub message { $_[0]{message} }

package Sandbond::Iterator;
# What the iter op makes: next returns the next item, or the empty list
# (undef in scalar context) once exhausted.
sub new { my ($class, $fn) = @_; return bless { fn => $fn }, $class }

sub take {    # an array of up to N items; fewer: exhausted
    my ($self, $n) = @_;
    my @items;
    while (@items < $n && $self->{fn}) {
        my @x = $self->{fn}->();
        if (@x) { push @items, $x[0] }
        else { $self->{fn} = undef }
    }
    return \@items;
}

sub next {
    my ($self) = @_;
    my $items = $self->take(1);
    return @$items ? $items->[0] : ();
}

package Sandbond::Driver;

1;
COLD

sub load_cold {
    return if !defined $COLD;
    my $src = $COLD;
    $COLD = undef;
    eval $src or fatal("cannot compile the driver's cold code: $@");
}
sub decode_msg     { load_cold(); goto &decode_msg }
sub big_int        { load_cold(); goto &big_int }
sub fix_in         { load_cold(); goto &fix_in }
sub enc_slow       { load_cold(); goto &enc_slow }
sub strip_location { load_cold(); goto &strip_location }
sub describe       { load_cold(); goto &describe }
sub text_repair    { load_cold(); goto &text_repair }
sub reply_slow     { load_cold(); goto &reply_slow }
sub write_blobs    { load_cold(); goto &write_blobs }
sub user_op        { load_cold(); goto &user_op }
sub handle_error   { load_cold(); goto &handle_error }
sub keep           { load_cold(); goto &keep }

# -- requests -------------------------------------------------------------------------
sub compile_user {
    my $f = Sandbond::_compile("sub {\n#line 1\n" . $_[0] . "\n}");
    return $f if ref $f eq 'CODE';
    my $e = $@;
    die $e if ref $e;
    die bless { message => ($e eq '' ? 'compilation failed' : $e) }, 'Sandbond::CompileError';
}

sub compiled_expr {
    my ($code) = @_;
    return $evals{$code} ||= do {
        %evals = () if keys %evals > 1024;
        compile_user($code);
    };
}

# The call's name is interpolated as NAME($_[0], ..., $_[n-1]) (NAME(@_)
# beyond 32 arguments), compiled once per name and arity.
sub caller_for {
    my ($name, $n) = @_;
    my $key = "$n\0$name";
    return $calls{$key} ||= do {
        %calls = () if keys %calls > 1024;
        my $args = $n <= 32 ? join(',', map { "\$_[$_]" } 0 .. $n - 1) : '@_';
        compile_user("$name($args)");
    };
}

sub listy {    # one element: itself; else an array
    return @_ == 1 ? $_[0] : [@_];
}

sub export {
    my ($name) = @_;
    die "invalid Perl function name \"$name\"\n" if $name !~ /\A[A-Za-z_]\w*(?:::\w+)*\z/a;
    my $full = $name =~ /::/ ? $name : "main::$name";
    no strict 'refs';
    no warnings 'redefine';
    *{$full} = sub { host_call($name, \@_) };
}

# Ops on objects and handles (cold code: user_op) and those that take keep.
my %OBJ_OPS = map { $_ => 1 } qw(new method get set len op iter next value release);
my %KEEP_OPS = map { $_ => 1 } qw(eval call new method get op next);

sub handle {
    my ($m) = @_;
    my $op = $m->{op};
    my @r;
    my $ok = eval {
        local $proto = 0;
        local $user = 1;
        die handle_error($m->{bad_handle}) if exists $m->{bad_handle};
        if ($op eq 'call') {
            my $args = $m->{args};
            if ($m->{refs}) {
                for my $x (@$args) {
                    $x = listy(compiled_expr($$x)->()) if ref $x eq 'Sandbond::Ref';
                }
            }
            @r = ($calls{@$args . "\0" . $m->{name}} || caller_for($m->{name}, scalar @$args))->(@$args);
        }
        elsif ($op eq 'eval') {
            @r = compiled_expr($m->{code})->();
        }
        elsif ($op eq 'exec') {
            compile_user($m->{code})->();
            @r = (undef);
        }
        elsif ($op eq 'export') {
            export($m->{name});
            @r = (undef);
        }
        elsif ($OBJ_OPS{$op}) {
            @r = (user_op($m));
        }
        else {
            $op = undef;
        }
        1;
    };
    fatal("protocol error: unknown op") if !defined $op;
    if (!$ok) {
        my $e = $@;
        return reply_error($m->{id}, $e);
    }
    my $v = @r == 1 ? $r[0] : \@r;
    if ($op eq 'iter' || ($m->{keep} && $KEEP_OPS{$op})) {    # next: a handle per item
        return send_msg('{"op":"return","id":' . $m->{id} . ',"value":' . keep($v, $op eq 'next') . "}\n");
    }
    if ($op eq 'value') {
        local $UNBLESS = 1;
        # An object goes straight to the exact encoder: JSON::XS would
        # stringify it for its error message, running overloaded "".
        return reply_slow($m->{id}, $v) if ref $v && ref $v ne 'HASH' && ref $v ne 'ARRAY';
        return reply_value($m->{id}, $v);
    }
    reply_value($m->{id}, $v);
}

# Drops handle keys (the release op and member); unknown keys are ignored.
# A dropped object's DESTROY runs here if nothing else holds it.
sub release_keys {
    my ($keys) = @_;
    delete @handles{@$keys} if ref $keys eq 'ARRAY' && @$keys;
}

sub host_call {
    my ($name, $args) = @_;
    local $BLOBS = $BOUT ? [] : undef;
    my $body = eval { encode_value($args) };
    if (!defined $body) {
        my $e = $@;
        die $e if !ref $e || ref $e ne 'Sandbond::SerializationError';
        die ser_error($e->{type}, "cannot send the arguments of $name to the host: $e->{message}");
    }
    my $cid = ++$next_id;
    local $proto = 1;
    send_msg('{"op":"call","id":' . $cid . ',"name":' . ($qname{$name} //= $JSON->encode($name))
          . ',"args":' . $body . "}\n");
    if ($BLOBS && @$BLOBS) {
        write_blobs($BLOBS);
        @$BLOBS = ();
    }
    return serve($cid);
}

# The request loop. Calls without $ref arguments, the hot path, are handled
# inline (handle() does the same, for every request); a Perl sub call costs
# as much as the rest of the path.
sub serve {
    my ($wait) = @_;
    while (1) {
        my $line;
        if ($rbuf eq '') {    # the usual case: read one whole line, inline
            my $was = $proto;
            $proto = 1;
            my $n = sysread($IN, $rbuf, 1 << 18);
            $proto = $was;
            if ($n && substr($rbuf, -1) eq "\n" && index($rbuf, "\n") == $n - 1) {
                $line = $rbuf;
                $rbuf = '';
            }
        }
        $line //= recv_line();
        my $m = ($line =~ tr/0-9//) < 19 && index($line, '{"$') < 0
          ? (eval { $JSON->decode($line) } // decode_msg($line))
          : decode_msg($line);
        my $op = $m->{op} // '';
        release_keys(delete $m->{release}) if exists $m->{release};    # before the request
        if ($op eq 'call' && !$m->{refs} && !$m->{keep}) {
            my $args = $m->{args};
            my @r;
            if (eval {
                local $proto = 0;
                local $user = 1;
                @r = ($calls{@$args . "\0" . $m->{name}} || caller_for($m->{name}, scalar @$args))->(@$args);
                1;
            }) {
                my $v = @r == 1 ? $r[0] : \@r;
                my $body = eval { $JSON->encode($v) };
                if (defined $body && !ref $v && ord($body) >= 48 && ord($body) <= 57) {    # a number
                    flush_output() if $pending;
                    my $out = '{"op":"return","id":' . $m->{id} . ',"value":' . $body . "}\n";
                    my $was = $proto;
                    $proto = 1;
                    my $n = syswrite($OUT, $out) // 0;
                    $proto = $was;
                    write_line(substr($out, $n)) if $n != length $out;    # EINTR, short write
                }
                else {
                    reply_value($m->{id}, $v, $body);
                }
            }
            else {
                reply_error($m->{id}, $@);
            }
            next;
        }
        if ($op eq 'return' || $op eq 'error') {
            fatal("protocol error: reply to $m->{id} while waiting for " . ($wait // 'a request'))
              if !defined $wait || $m->{id} != $wait;
            if ($op eq 'return') {
                die handle_error($m->{bad_handle}) if exists $m->{bad_handle};
                return $m->{value};
            }
            my $e = $m->{error};
            die Sandbond::HostError->new($e->{message}, $e->{type}, $e->{token});
        }
        handle($m);
    }
}

$SIG{INT} = sub {
    die bless({ message => 'interrupted (SIGINT)' }, 'Sandbond::Interrupt') if $user && !$proto;
};

my $info = sprintf('Perl %vd (%s %s)', $^V, $JSON_CLASS, $JSON_CLASS->VERSION);
my @side = (($BIN ? 'blob' : ()), ($SOCK ? 'fd' : ()));
send_msg('{"op":"ready","version":1,"language":"perl","info":' . $JSON->encode($info)
      . (@side ? ',"side":' . $JSON->encode(\@side) : '') . "}\n");
serve(undef);

# -- classes user code sees -------------------------------------------------------------
package Sandbond::HostError;
# A host (Go) function called from Perl failed. Stringifies as its message.
use overload '""' => sub { $_[0]{message} }, 'bool' => sub { 1 }, fallback => 1;

sub new {
    my ($class, $message, $type, $token) = @_;
    return bless { message => $message // '', type => $type // '', token => $token // '' }, $class;
}
sub message { $_[0]{message} }
sub type    { $_[0]{type} }
sub token   { $_[0]{token} }
sub throw   { my $class = shift; die $class->new(@_) }

package Sandbond::SerializationError;
# A value could not be sent to the host.
use overload '""' => sub { "$_[0]{message}\n" }, 'bool' => sub { 1 }, fallback => 1;
sub message { $_[0]{message} }
sub type    { $_[0]{type} }

package Sandbond::Interrupt;
use overload '""' => sub { "$_[0]{message}\n" }, 'bool' => sub { 1 }, fallback => 1;
sub message { $_[0]{message} }

package Sandbond::CompileError;
use overload '""' => sub { $_[0]{message} }, 'bool' => sub { 1 }, fallback => 1;
sub message { $_[0]{message} }

package Sandbond::Bytes;
# A byte string sent to the host as bytes ($bytes; $blob from 32 KiB when
# the blob pipes are open). Plain Perl strings always travel as strings.
# Not overloaded: JSON::XS stringifies objects it cannot encode for its
# error message, which would copy the bytes.

sub new {
    my ($class, $data) = @_;
    $data = '' if !defined $data;
    $data = "$data" if ref $data;
    utf8::downgrade($data, 1) or die "Sandbond::Bytes: wide character (not a byte string)\n";
    return bless { data => $data }, $class;
}
sub data   { $_[0]{data} }
sub length { CORE::length($_[0]{data}) }

package Sandbond::Output;
# STDOUT and STDERR are tied to this class: what user code prints becomes
# output messages, buffered, flushed on newline, past 8 KiB and before any
# other message. Printed strings are bytes (UTF-8 expected), as on a real
# handle; wide characters are written as UTF-8, as is everything after
# binmode(STDOUT, ':utf8').
no warnings;

sub TIEHANDLE { my ($class, $fd) = @_; return bless { fd => $fd, buf => '', utf8 => 0 }, $class }

sub add {
    my ($self, $data) = @_;
    utf8::encode($data) if $self->{utf8} || utf8::is_utf8($data);
    $self->{buf} .= $data;
    $Sandbond::Driver::pending = 1;
    if (length($self->{buf}) > 8192) { $self->flush(1) }
    elsif (index($data, "\n") >= 0) { $self->flush }
    return 1;
}

sub PRINT {
    my $self = shift;
    my $data = join(defined $, ? $, : '', @_);
    $data .= $\ if defined $\;
    return $self->add($data);
}

sub PRINTF {
    my $self = shift;
    my $fmt = shift;
    return $self->add(sprintf($fmt, @_));
}

sub WRITE {
    my ($self, $buf, $len, $off) = @_;
    $off //= 0;
    $len //= length($buf) - $off;
    $self->add(substr($buf, $off, $len));
    return $len;
}

sub flush {
    my ($self, $keep_partial) = @_;
    my $data = $self->{buf};
    $self->{buf} = '';
    if ($keep_partial) {    # do not split a UTF-8 sequence between messages
        my $tail = substr($data, -3);
        if ($tail =~ /([\xC0-\xF7][\x80-\xBF]{0,2})\z/) {
            my $lead = ord $1;
            my $need = $lead >= 0xF0 ? 4 : $lead >= 0xE0 ? 3 : 2;
            if (length($1) < $need) {
                $self->{buf} = substr($data, -length($1), length($1), '');
            }
        }
    }
    Sandbond::Driver::send_output($self->{fd}, $data) if $data ne '';
}

sub BINMODE {
    my ($self, $layer) = @_;
    $self->{utf8} = defined $layer && $layer =~ /utf-?8/i ? 1 : 0;
    return 1;
}
sub FILENO { $_[0]{fd} }
sub CLOSE  { $_[0]->flush if $_[0]{buf} ne ''; 1 }
sub EOF    { 1 }
sub READ   { 0 }
sub READLINE { wantarray ? () : undef }
sub GETC   { undef }
sub SEEK   { 0 }
sub TELL   { -1 }
sub OPEN   { die "sandbond: STDOUT and STDERR are redirected to the host and cannot be reopened (use local *STDOUT first)\n" }
sub UNTIE  { $_[0]->flush if $_[0]{buf} ne '' }
sub DESTROY {}

1;
