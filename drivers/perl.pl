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
        $body = eval { enc_slow($_[1], 0) };
        return reply_error($id, $@) if !defined $body;
    }
    flush_output() if $pending;
    write_line('{"op":"return","id":' . $id . ',"value":' . $body . "}\n");
}

# -- cold code ------------------------------------------------------------------------
# Slow paths (tags, big integers, the exact encoder, error descriptions) are
# compiled on first use: compiling them costs a millisecond at every start.
my $COLD = <<'COLD';
no warnings 'redefine';

# Decodes a line that may hold tags or integers beyond 64 bits.
sub decode_msg {
    my ($line) = @_;
    my $big = 0;
    if (($line =~ tr/0-9//) >= 19 && index($line =~ tr/0-9/0/r, $DIGITS19) >= 0) {
        $big = $line =~ s~("(?:[^"\\]++|\\.)*+")|([\[,:]\s*)(-?\d{19,})(?=\s*[,\]\}])~
                         defined $1 ? $1 : "$2\"\\u0000$BIG_TAG$3\""~ge;
        $big = 0 if $big && index($line, $BIG_TAG) < 0;
    }
    my $m = eval { $JSON->decode($line) };
    fatal("protocol error: bad JSON from the host: $@") if !defined $m;
    if ($big || index($line, '{"$') >= 0) {
        if (exists $m->{args}) {
            for my $x (@{ $m->{args} }) {
                $x = fix_in($x, $big, 1);
            }
            $m->{refs} = 1;
        }
        $m->{value} = fix_in($m->{value}, $big) if exists $m->{value};
    }
    return $m;
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

# kind, type, message, traceback, token of something died with.
sub describe {
    my ($e) = @_;
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

sub handle {
    my ($m) = @_;
    my $op = $m->{op};
    my @r;
    my $ok = eval {
        local $proto = 0;
        local $user = 1;
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
    reply_value($m->{id}, @r == 1 ? $r[0] : \@r);
}

sub host_call {
    my ($name, $args) = @_;
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
        if ($op eq 'call' && !$m->{refs}) {
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
            return $m->{value} if $op eq 'return';
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
send_msg('{"op":"ready","version":1,"language":"perl","info":' . $JSON->encode($info) . "}\n");
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
