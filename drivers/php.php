<?php
// sandbond PHP driver (stage 2). Protocol: bond/PROTOCOL.md; Go side: php.go.
// Needs PHP >= 8.0 and nothing but the core (json, pcre, spl, standard);
// pcntl, when present, makes interrupts work; sockets, passing files as
// descriptors ($fd); FFI, closing the side channel on exec.
//
// Stage 1 (php -r, see php.go) opens the protocol input as $__sb_in, reads
// this file through that stream (length-prefixed) and evals it, without its
// leading "<?php", in the global scope. The driver keeps reading from the
// same stream, so no byte stage 1 buffered is lost.
//
// What user code sees (all of it in the global namespace unless noted):
//  - eval and exec run in the global scope: `$x = 1;` in one block is
//    visible to later ones. A top-level request is evaluated by the main
//    loop, which runs in the real global scope. A request that arrives while
//    PHP waits for the host (a nested call) runs in a helper that imports
//    every global by reference and, at the end, makes the variables it
//    created global and removes the ones it unset.
//  - eval evaluates `return (CODE);` (trailing semicolons dropped); exec
//    runs the statements as they are (a leading "<?php" is dropped, and a
//    final ";" is added so that a last statement may omit it).
//  - call NAME: a function name (`explode`, `\Foo\bar`) or "Class::method"
//    is called directly. Anything else is a PHP expression, evaluated in the
//    global scope, whose value must be callable: `$f` (a closure),
//    `[$obj, 'method']`, `$obj->method(...)`, `fn($x) => $x * 2`.
//    Language constructs (echo, print, isset, empty, ...) are not functions:
//    calling them by name fails with an Error that says so.
//  - export NAME defines `function NAME(...$args)` that calls the host.
//    PHP cannot redefine a function: exporting a name again is a no-op (the
//    host decides what runs), exporting over an existing PHP function fails.
//  - Sandbond\HostError (extends \Exception): a host function failed; its
//    $goType names the Go error's type. Sandbond\SerializationError (extends
//    \Exception): a value could not be sent. Sandbond\Interrupt (extends
//    \Error, so `catch (\Exception $e)` does not swallow it): the host
//    cancelled the call (SIGINT). Sandbond\Bytes: wrap a binary string in it
//    to send it as bytes.
//  - Output: echo, print, printf, var_dump... go through an output buffer
//    whose handler turns them into output messages; SANDBOND_STDOUT and
//    SANDBOND_STDERR are streams that do the same (fwrite, fprintf);
//    warnings, notices and deprecations are written the same way to stderr.
//    STDOUT, STDERR, php://stdout and php://stderr are the raw descriptors 1
//    and 2: they reach the host's writers, unordered with respect to
//    messages. In stdio mode (protocol on fds 0 and 1) the driver moves the
//    protocol off fds 0 and 1, which then are /dev/null and a copy of fd 2;
//    the STDIN and STDOUT constants are closed there.
//  - Fatal errors (memory exhausted, redeclared function, E_USER_ERROR...)
//    cannot be caught in PHP: PHP prints them on stderr and exits with
//    status 255, and the host reports a terminated bond with that message.
//  - Interrupts (needs pcntl; without it SIGINT ends PHP and the host
//    reports a terminated bond): SIGINT throws Sandbond\Interrupt where user
//    code runs, at the next point PHP checks for signals: PHP code, sleep,
//    usleep, stream_select and other waits the signal cuts short. A read
//    blocked on a pipe, a file or a socket is not cut short (PHP retries an
//    interrupted read, and polls a socket until default_socket_timeout):
//    then the host kills the interpreter after its grace period. A signal
//    that arrives while the driver itself works (sending, waiting for the
//    host) is thrown when control returns to user code. When it lands in
//    the output handler, PHP disables the handler for that one write (which
//    goes raw to fd 1) and the driver installs it again.
//  - Children of user code inherit the protocol descriptors (PHP cannot
//    mark them close-on-exec); only a child that writes to them on purpose
//    can disturb the protocol. The side channel's descriptors (below) are
//    made close-on-exec through FFI where it is enabled (the CLI default).
//
// Handles, blobs and files (bond/PROTOCOL.md):
//  - keep stores any result, scalars and arrays too (an array as a copy:
//    PHP arrays are values). A {"$handle":K} argument is the kept value.
//  - new: `new $name(...$args)` (a class name, with or without a leading
//    backslash; autoloading as usual). method: `$obj->$name(...$args)`
//    (__call works; a closure is called through its method __invoke).
//    get/set: `$obj->$name`, `$obj->$name = $value` (__get/__set work; an
//    undefined property reads as null with PHP's warning on stderr, and an
//    array has no properties: getitem reads its elements). len: strlen for
//    a string, else count() (arrays, Countable; a TypeError otherwise).
//  - op: PHP's operators, so that numbers, numeric strings, arrays (+ is
//    the union) and objects with native operators (GMP, DateTime
//    comparisons) work: add + , sub - , mul * , div / , mod % , eq == ,
//    ne != , lt < , le <= , gt > , ge >= (loose comparisons), getitem
//    $obj[$right] (arrays, ArrayAccess, strings), str (string) (__toString;
//    an Error for objects without it). contains: for an array, whether a
//    value equals $right (in_array, loose like ==); for an ArrayAccess,
//    offsetExists($right) (the keys of ArrayObject, the members of
//    SplObjectStorage); for another Traversable, whether an item == $right
//    (this consumes an Iterator); for a string, str_contains. An unknown
//    operator is a ValueError, a missing right operand an ArgumentCountError.
//  - iter, as foreach walks: an array gives an ArrayIterator over a copy,
//    an Iterator is its own iterator (rewound, except a Generator, which
//    goes on from where it is), an IteratorAggregate gives getIterator().
//    Anything else is a TypeError. next returns values (keys are dropped)
//    and advances lazily: a generator runs only as far as the items sent.
//  - value: plain data as usual; with JsonSerializable, stdClass,
//    ArrayObject and backed enums also (at any depth) DateTimeInterface as
//    ISO 8601 text (Y-m-d\TH:i:sP, with .u microseconds when not zero),
//    other enums as their name, and other objects as their public
//    properties (get_object_vars) when they have some. Anything else (a
//    closure, a resource, an object without public properties) is a
//    serialization error.
//  - An unknown handle fails the request with type SandbondHandleError
//    (Sandbond\HandleError in PHP, which a host reply naming an unknown
//    handle raises where PHP called the host).
//  - Bytes: {"$blob":N} arrives, like {"$bytes":...}, as a string;
//    Sandbond\Bytes of 32 KiB or more go as blobs when the side channel is
//    open, as base64 below that or without it (plain strings go as text, as
//    always). $fd arrives as a stream on the read-only descriptor (a
//    socket too becomes a stream); $file as a php://memory stream at offset
//    0 (a private, writable copy). The fd part needs ext/sockets.
//
// Values (bond/PROTOCOL.md's table): a JSON array is a PHP list; a JSON
// object is an associative array, except an empty one, which is an empty
// \ArrayObject so that it goes back as {} (an empty PHP array is a list).
// PHP arrays whose keys are 0..n-1 in order are lists, so an object with
// such keys ({"0": ...}) comes back as an array, and integer keys of other
// arrays become strings. {"$bytes":...} and {"$blob":N} arrive as (binary) strings;
// strings that are not valid UTF-8 cannot be sent (Sandbond\Bytes can).
// Integers beyond 64 bits arrive as floats (json_decode's choice; PHP has
// no big integers without gmp). Floats keep their ".0". stdClass,
// \ArrayObject, \JsonSerializable and backed enums are sent as data; other
// objects, closures, resources, NaN and infinities are serialization errors.
// PHP's JSON parser gives up at about 2500 nested objects (5000 arrays): a
// request nested deeper is answered with a serialization error, and such a
// reply from the host raises Sandbond\SerializationError.
//
// Opcache: when the host starts PHP itself, stage 2 may come from opcache's
// file cache (php_local.go): get_included_files() then lists that file, and
// opcache is off (opcache.enable=0) for user code, as in a plain CLI.
//
// Names beginning with __sb_ (variables) are reserved for the driver.

namespace Sandbond {

/** A host (Go) function called from PHP failed. */
class HostError extends \Exception
{
    /** @var string the Go error's type as the host names it */
    public $goType;
    /** @var string lets the host find the Go error again if this comes back uncaught */
    public $token;

    public function __construct(string $message, string $goType = '', string $token = '', ?\Throwable $previous = null)
    {
        parent::__construct($message, 0, $previous);
        $this->goType = $goType;
        $this->token = $token;
    }
}

/** A value could not be sent to the host. */
class SerializationError extends \Exception
{
    /** @var string the type that could not be sent */
    public $typeName;

    public function __construct(string $message, string $typeName = '', ?\Throwable $previous = null)
    {
        parent::__construct($message, 0, $previous);
        $this->typeName = $typeName;
    }
}

/** The host interrupted the call in progress (it was cancelled or timed out). */
final class Interrupt extends \Error
{
}

/**
 * A request named a handle that is not in the table (released, or never
 * created by this bond). Replies name its type SandbondHandleError.
 */
final class HandleError extends \Exception
{
}

/** A binary string sent as bytes ({"$bytes": base64}). */
final class Bytes
{
    /** @var string */
    public $data;

    public function __construct(string $data)
    {
        $this->data = $data;
    }
}

/** @internal a {"$ref": CODE} argument, evaluated before the call. */
final class Ref
{
    /** @var string */
    public $code;

    public function __construct(string $code)
    {
        $this->code = $code;
    }
}

/** @internal the stream wrapper behind SANDBOND_STDOUT and SANDBOND_STDERR. */
final class OutputStream
{
    /** @var resource|null */
    public $context;
    /** @var int */
    private $fd = 1;

    public function stream_open(string $path, string $mode, int $options, ?string &$opened): bool
    {
        $which = strtolower(substr($path, strlen('sandbond://')));
        if ($which === 'stdout') {
            $this->fd = 1;
        } elseif ($which === 'stderr') {
            $this->fd = 2;
        } else {
            return false;
        }
        return true;
    }

    public function stream_write(string $data): int
    {
        Driver::write($this->fd, $data);
        return strlen($data);
    }

    public function stream_flush(): bool
    {
        Driver::flushOutput();
        return true;
    }

    public function stream_read(int $count)
    {
        return false;
    }

    public function stream_eof(): bool
    {
        return false;
    }

    public function stream_stat()
    {
        return [];
    }

    public function stream_close(): void
    {
    }
}

if (!\function_exists('array_is_list')) {
    function array_is_list(array $a): bool
    {
        $i = 0;
        foreach ($a as $k => $_) {
            if ($k !== $i++) {
                return false;
            }
        }
        return true;
    }
}

/**
 * @internal Runs code for a nested request in an emulation of the global
 * scope (see the header). Its own variables begin with __sb_.
 */
function eval_global(string $__sb_code)
{
    // (extract($GLOBALS, EXTR_REFS) would bind to a copy since PHP 8.1)
    $__sb_keys = \array_flip(\array_keys($GLOBALS));
    foreach ($__sb_keys as $__sb_k => $__sb_v) {
        if ($__sb_k !== 'GLOBALS' && $__sb_k !== 'this' && \strncmp($__sb_k, '__sb_', 5) !== 0) {
            $$__sb_k = &$GLOBALS[$__sb_k];
        }
    }
    unset($__sb_k, $__sb_v);
    try {
        return eval($__sb_code);
    } finally {
        $__sb_now = \get_defined_vars();
        foreach ($__sb_now as $__sb_k => $__sb_v) {
            if (!isset($__sb_keys[$__sb_k]) && \strncmp($__sb_k, '__sb_', 5) !== 0) {
                $GLOBALS[$__sb_k] = &$$__sb_k;
            }
        }
        foreach ($__sb_keys as $__sb_k => $__sb_v) {
            if (!\array_key_exists($__sb_k, $__sb_now) && $__sb_k !== 'GLOBALS' && \strncmp($__sb_k, '__sb_', 5) !== 0) {
                unset($GLOBALS[$__sb_k]);
            }
        }
    }
}

/** @internal The driver. */
final class Driver
{
    // Values: exact floats, raw UTF-8, errors as exceptions.
    const ENC = \JSON_UNESCAPED_UNICODE | \JSON_UNESCAPED_SLASHES | \JSON_PRESERVE_ZERO_FRACTION | \JSON_THROW_ON_ERROR;
    // Text the driver produces (output, messages): bad bytes become U+FFFD.
    const TXT = \JSON_UNESCAPED_UNICODE | \JSON_UNESCAPED_SLASHES | \JSON_INVALID_UTF8_SUBSTITUTE;
    const MAX_DEPTH = 10000; // value nesting, as on the host
    const JSON_DEPTH = 10010; // MAX_DEPTH plus the envelope
    const NAME_RE = '/^\\\\?[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*(?:\\\\[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)*(?:::[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?$/D';
    const CONSTRUCTS = [
        'echo' => 1, 'print' => 1, 'isset' => 1, 'unset' => 1, 'empty' => 1, 'eval' => 1, 'exit' => 1,
        'die' => 1, 'include' => 1, 'include_once' => 1, 'require' => 1, 'require_once' => 1,
        'list' => 1, 'array' => 1, '__halt_compiler' => 1, 'new' => 1, 'clone' => 1, 'return' => 1,
        'throw' => 1, 'match' => 1, 'fn' => 1, 'function' => 1, 'yield' => 1, 'static' => 1, 'global' => 1,
    ];
    const OB_DISABLED = 0x2000; // PHP_OUTPUT_HANDLER_DISABLED (not exported to PHP code)
    const BLOB_MIN = 32768;     // Bytes this long or longer go as {"$blob":N} when we can
    const MAX_FDS = 253;        // SCM_MAX_FD: the most descriptors one message can carry
    // What next() does first with an iterator: rewind it (fresh from iter,
    // as foreach does), nothing (positioned on an item not yet sent), or
    // advance it (the last item sent is still current: advancing only then
    // keeps a generator from running ahead of what the host asked for).
    const ITER_FRESH = 0;
    const ITER_AT = 1;
    const ITER_ADVANCE = 2;
    // The requests on kept objects, and the ones that take "keep"
    const OBJECT_OPS = ['new' => 1, 'method' => 1, 'get' => 1, 'set' => 1, 'len' => 1, 'op' => 1,
        'iter' => 1, 'next' => 1, 'value' => 1, 'release' => 1];
    const BAD = "\0bad"; // a message's member: the unknown handle it named (set by recv)
    const KEEPS = ['eval' => 1, 'call' => 1, 'new' => 1, 'method' => 1, 'get' => 1, 'op' => 1, 'next' => 1];

    /** @internal true while user code runs: an interrupt may be thrown then. */
    public static $inUser = false;

    /** @var resource */
    private static $in;
    /** @var resource */
    private static $out;
    private static $broken = false;   // the protocol output failed: drop what we write
    private static $keep = [];        // streams that own the descriptors stdio mode rearranged
    private static $out1 = '';        // pending output, fd 1
    private static $out2 = '';        // pending output, fd 2
    private static $depth = 0;        // host requests being handled
    private static $pending = false;  // an interrupt arrived outside user code
    private static $obCheck = false;  // the output handler may have been disabled
    private static $next = 0;         // last id of our calls to the host
    private static $tagged = false;   // the last message had tags (may hold Refs)
    private static $top = [0, '', '']; // id, op, name of the request the main loop evaluates
    private static $plain = [];       // name => is a plain function or method name
    private static $stash = [];       // request id => args of a call evaluated as code
    private static $exported = [];    // lowercased names of exported functions
    // Handles (see "Handles, blobs and files" in PROTOCOL.md)
    private static $handles = [];     // key => kept value
    private static $lastKey = 0;      // keys are never reused
    private static $iterState;        // \WeakMap: iterator => ITER_* (how next() resumes it)
    private static $badHandle = null; // an unknown {"$handle":K} met while decoding a message
    // The side channel (SANDBOND_SIDE): null when absent
    private static $blobIn = null;    // stream: bytes of {"$blob":N} from the host
    private static $blobOut = null;   // stream: bytes of our {"$blob":N}
    private static $fdSock = null;    // \Socket: descriptors for {"$fd":N}
    private static $fds = null;       // descriptors received for the message being decoded

    // -- start ----------------------------------------------------------------

    /** @param resource $in the protocol input stage 1 opened */
    public static function init($in, array $argv): void
    {
        $inFd = (int)($argv[1] ?? 3);
        $outFd = (int)($argv[2] ?? 4);
        self::$in = $in;
        stream_set_chunk_size($in, 1 << 16); // read a pipe's worth at a time, not 8 KiB
        $out = @fopen('php://fd/' . $outFd, 'wb');
        if ($out === false) {
            self::fatal("cannot open the protocol output (descriptor $outFd)");
        }
        self::$out = $out;
        if ($outFd === 1) {
            // Nothing the interpreter or its children write to fd 1 may
            // reach the protocol: free fd 1 and give the number to stderr.
            self::redirect(1, 'php://fd/2', 'wb');
        }
        if ($inFd === 0) {
            self::redirect(0, '/dev/null', 'rb');
        }
        self::$iterState = new \WeakMap();
        $side = self::openSide(); // after redirect(): it needs the lowest free numbers
        ini_set('display_errors', 'stderr');
        ini_set('html_errors', '0');
        if ((string)ini_get('error_log') === '') {
            ini_set('log_errors', '0'); // it would print fatal errors on stderr twice
        }
        $GLOBALS['argv'] = $_SERVER['argv'] = [''];
        $GLOBALS['argc'] = $_SERVER['argc'] = 1;

        set_error_handler([self::class, 'onError']);
        stream_wrapper_register('sandbond', OutputStream::class);
        define('SANDBOND_STDOUT', fopen('sandbond://stdout', 'w'));
        define('SANDBOND_STDERR', fopen('sandbond://stderr', 'w'));
        self::startOb();
        register_shutdown_function([self::class, 'flushOutput']);
        if (\function_exists('pcntl_async_signals') && \function_exists('pcntl_signal')) {
            pcntl_async_signals(true);
            // Not restarting system calls, so that more of the waits user
            // code makes end (flock, a write to a full pipe...) and the
            // interrupt is thrown when they return. The driver's own reads
            // and writes retry (recv, writeRaw).
            pcntl_signal(\SIGINT, [self::class, 'onSigint'], false);
        }
        self::send('{"op":"ready","version":1,"language":"php","info":'
            . json_encode('PHP ' . \PHP_VERSION, self::TXT)
            . ($side ? ',"side":' . json_encode($side) : '') . "}\n");
    }

    /**
     * Opens the side channel SANDBOND_SIDE=IN,OUT,SOCK names and returns
     * what it enables ("blob", "fd"). The variable is removed from the
     * environment user code and its children see. A missing or closed
     * descriptor, or a missing extension (sockets for "fd"), leaves that
     * part off. The descriptors are made close-on-exec through FFI when
     * it is available (PHP has no fcntl of its own); without it they stay
     * inheritable, like the protocol's.
     */
    private static function openSide(): array
    {
        $spec = getenv('SANDBOND_SIDE');
        if ($spec === false) {
            return [];
        }
        putenv('SANDBOND_SIDE');
        unset($_SERVER['SANDBOND_SIDE'], $_ENV['SANDBOND_SIDE']);
        $n = explode(',', $spec);
        if (count($n) !== 3) {
            return [];
        }
        $ffi = null;
        if (\extension_loaded('ffi')) {
            try {
                $ffi = \FFI::cdef('int fcntl(int fd, int cmd, ...); int close(int fd);');
            } catch (\Throwable $e) { // ffi.enable=0, or no fcntl to find
                $ffi = null;
            }
        }
        $side = [];
        $in = self::openFd($ffi, $n[0], 'rb');
        $out = self::openFd($ffi, $n[1], 'wb');
        if ($in && $out) {
            // Reads straight into the string being filled, as large as
            // the pipe gives; fwrite of a plain stream is one write().
            stream_set_read_buffer($in, 0);
            stream_set_write_buffer($out, 0);
            self::$blobIn = $in;
            self::$blobOut = $out;
            $side[] = 'blob';
        } else {
            $in && fclose($in);
            $out && fclose($out);
        }
        $s = self::openFd($ffi, $n[2], 'r+b');
        if ($s) {
            $st = fstat($s);
            if ($st && ($st['mode'] & 0170000) === 0140000 // a socket
                && \function_exists('socket_recvmsg') && \function_exists('socket_import_stream') && \defined('SCM_RIGHTS')
                && ($sock = @socket_import_stream($s))) {
                self::$keep[] = $s; // owns the descriptor the Socket uses
                self::$fdSock = $sock;
                $side[] = 'fd';
            } else {
                fclose($s);
            }
        }
        return $side;
    }

    /**
     * A stream on descriptor $n (a decimal string), or null when it is not
     * open or is one of the protocol's: a number the host did not fill
     * may hold the dup of the protocol input that stage 1 made, or of the
     * output. php://fd/N dups N; with FFI both N and the dup (which takes
     * the lowest free number, found beforehand) become close-on-exec.
     *
     * @return resource|null
     */
    private static function openFd(?\FFI $ffi, string $n, string $mode)
    {
        if (!preg_match('/^\d{1,9}$/D', $n) || (int)$n < 3) {
            return null;
        }
        $fd = (int)$n;
        $dup = -1;
        if ($ffi !== null) {
            if ($ffi->fcntl($fd, 1 /* F_GETFD */) < 0) {
                return null;
            }
            $dup = $ffi->fcntl($fd, 0 /* F_DUPFD */, 0);
            if ($dup >= 0) {
                $ffi->close($dup);
            }
        }
        $s = @fopen('php://fd/' . $fd, $mode);
        if ($s === false) {
            return null;
        }
        $st = fstat($s);
        foreach ([self::$in, self::$out] as $p) {
            $pt = fstat($p);
            if (!$st || !$pt || ($st['dev'] === $pt['dev'] && $st['ino'] === $pt['ino'])) {
                fclose($s);
                return null;
            }
        }
        if ($ffi !== null) {
            $ffi->fcntl($fd, 2 /* F_SETFD */, 1 /* FD_CLOEXEC */);
            if ($dup >= 0) {
                $ffi->fcntl($dup, 2 /* F_SETFD */, 1 /* FD_CLOEXEC */);
            }
        }
        return $s;
    }

    /**
     * Points descriptor $fd (0 or 1, whose stream constant owns it) at
     * $path: PHP has no dup2, but open and dup return the lowest free
     * number, so closing the constant's stream and opening $path at once
     * gives it $fd. Checked, because the protocol depends on it.
     */
    private static function redirect(int $fd, string $path, string $mode): void
    {
        $name = $fd === 0 ? 'STDIN' : 'STDOUT';
        if (!\defined($name) || !@fclose(\constant($name))) {
            self::fatal("stdio mode: cannot close $name to free descriptor $fd");
        }
        $f = @fopen($path, $mode);
        if ($f === false) {
            self::fatal("stdio mode: cannot open $path");
        }
        self::$keep[] = $f;
        $probe = @fopen('php://fd/' . $fd, $mode);
        $a = $probe ? fstat($probe) : false;
        if ($probe) {
            fclose($probe);
        }
        $b = fstat($f);
        if (!$a || !$b || $a['dev'] !== $b['dev'] || $a['ino'] !== $b['ino']) {
            self::fatal("stdio mode: could not point descriptor $fd at $path");
        }
    }

    /** Ends the process on a broken start or a broken protocol. */
    private static function fatal(string $msg): void
    {
        self::$broken = true;
        @fwrite(\defined('STDERR') ? \STDERR : fopen('php://stderr', 'wb'), "sandbond php driver: $msg\n");
        exit(3);
    }

    // -- the main loop ----------------------------------------------------------

    /**
     * Serves requests until one needs PHP code evaluated in the global scope
     * and returns that code; the main loop (at the end of this file, in the
     * global scope) evaluates it and calls done() or failed().
     */
    public static function next(): string
    {
        for (;;) {
            $m = self::recv();
            $op = $m['op'];
            if (isset($m[self::BAD])) {
                self::handle($m); // answers with the SandbondHandleError
                continue;
            }
            if ($op === 'call') {
                if (self::isPlain($m['name']) && !(self::$tagged && self::hasRef($m['args']))) {
                    self::handle($m, true);
                    continue;
                }
            } elseif ($op === 'export' || $op === 'undecodable' || isset(self::OBJECT_OPS[$op])) {
                self::handle($m);
                continue;
            } elseif ($op !== 'eval' && $op !== 'exec') {
                self::fatal('protocol error: unexpected ' . json_encode($op, self::TXT) . ' message with no call outstanding');
            }
            self::$top = [$m['id'], $op, $m['name'] ?? '', ($m['keep'] ?? false) === true];
            self::$depth = 1;
            self::$inUser = true;
            return self::code($m);
        }
    }

    /** The main loop's code returned $v. */
    public static function done($v): void
    {
        self::$inUser = false;
        [$id, $op, , $keep] = self::$top;
        self::$depth = 0;
        self::$pending = false;
        unset(self::$stash[$id]);
        self::answer($id, $op, $v, $keep);
    }

    /** The main loop's code threw $e. */
    public static function failed(\Throwable $e): void
    {
        self::$inUser = false;
        [$id, $op, $name] = self::$top;
        self::$depth = 0;
        self::$pending = false;
        unset(self::$stash[$id]);
        self::replyException($id, $e, $op === 'call' ? $name : '');
    }

    /**
     * Handles one request completely: a direct call (a plain name, no Refs:
     * $direct when the caller checked), an export, a request on kept
     * objects, or any nested request.
     */
    private static function handle(array $m, bool $direct = false): void
    {
        $id = $m['id'];
        $op = $m['op'];
        self::$depth++;
        try {
            self::$inUser = true;
            if (self::$pending) {
                self::$pending = false;
                throw new Interrupt('interrupted by the host');
            }
            if (isset($m[self::BAD])) {
                throw self::unknownHandle($m[self::BAD][0]);
            }
            if ($op === 'undecodable') {
                if ($m['of'] === 'return' || $m['of'] === 'error') {
                    self::fatal('protocol error: a reply to ' . $m['id'] . ' with no call outstanding');
                }
                throw new SerializationError($m['why'], 'array');
            }
            if ($direct || ($op === 'call' && self::isPlain($m['name']) && !(self::$tagged && self::hasRef($m['args'])))) {
                $r = $m['name'](...$m['args']);
            } elseif ($op === 'export') {
                self::export($m['name']);
                $r = null;
            } elseif (isset(self::OBJECT_OPS[$op])) {
                $r = self::objectOp($m);
            } else {
                $r = eval_global(self::code($m));
                if ($op === 'exec') {
                    $r = null;
                }
            }
            self::$inUser = false;
        } catch (\Throwable $e) {
            self::$inUser = false;
            if (--self::$depth === 0) {
                self::$pending = false;
            }
            unset(self::$stash[$id]);
            self::replyException($id, $e, $op === 'call' ? $m['name'] : '');
            return;
        }
        if (--self::$depth === 0) {
            self::$pending = false;
        }
        self::answer($id, $op, $r, ($m['keep'] ?? false) === true);
    }

    /** Replies to request $id (of type $op) with its result $r. */
    private static function answer(int $id, string $op, $r, bool $keep): void
    {
        if ($op === 'iter' || ($keep && isset(self::KEEPS[$op]))) {
            if (self::$obCheck || ob_get_level() === 0) {
                self::startOb();
            }
            if ($op === 'next') {
                $t = [];
                foreach ($r as $x) {
                    $t[] = '{"$handle":' . self::keep($x) . '}';
                }
                $body = '[' . implode(',', $t) . ']';
            } else {
                $body = '{"$handle":' . self::keep($r) . '}';
            }
            self::send('{"op":"return","id":' . $id . ',"value":' . $body . "}\n");
            return;
        }
        self::reply($id, $op === 'exec' ? null : $r, $op === 'value');
    }

    /** The PHP code that runs an eval, exec or call request. */
    private static function code(array $m): string
    {
        switch ($m['op']) {
            case 'eval':
                return 'return (' . rtrim(self::stripTag($m['code']), " \t\n\r\0\x0B;") . "\n);";
            case 'exec':
                $code = self::stripTag($m['code']);
                return strpos($code, '?>') === false ? $code . "\n;" : $code;
            case 'call':
                $id = $m['id'];
                $name = $m['name'];
                self::$stash[$id] = $m['args'];
                $refs = [];
                if (self::$tagged) {
                    foreach ($m['args'] as $a) {
                        if ($a instanceof Ref) {
                            $refs[] = '(' . $a->code . "\n)";
                        }
                    }
                }
                $fn = self::isPlain($name) ? var_export($name, true) : '(' . $name . "\n)";
                return 'return \Sandbond\Driver::apply(' . $id . ', ' . $fn . ', [' . implode(', ', $refs) . ']);';
        }
        self::fatal('protocol error: unknown op ' . json_encode($m['op'], self::TXT));
    }

    private static function stripTag(string $code): string
    {
        $t = ltrim($code);
        return strncasecmp($t, '<?php', 5) === 0 ? substr($t, 5) : $code;
    }

    /** @internal Calls request $id's target with its arguments, Refs replaced by $refs. */
    public static function apply(int $id, $fn, array $refs)
    {
        $args = self::$stash[$id] ?? [];
        unset(self::$stash[$id]);
        if ($refs) {
            $j = 0;
            foreach ($args as $i => $a) {
                if ($a instanceof Ref) {
                    $args[$i] = $refs[$j++];
                }
            }
        }
        if (!is_callable($fn)) {
            if (is_string($fn) && isset(self::CONSTRUCTS[strtolower(ltrim($fn, '\\'))])) {
                throw new \Error(self::constructMessage($fn));
            }
            throw new \TypeError('call: the target is not callable (it is ' . get_debug_type($fn) . '); give a function'
                . ' name, "Class::method", or an expression that yields a callable, such as $f,'
                . ' [$obj, \'method\'] or $obj->method(...)');
        }
        return $fn(...$args);
    }

    private static function constructMessage(string $name): string
    {
        return "$name is a PHP language construct, not a function, so it cannot be called by name;"
            . " run it with eval or exec (EvalBlock), or call a function that wraps it";
    }

    private static function isPlain(string $name): bool
    {
        $p = self::$plain[$name] ?? null;
        if ($p === null) {
            if (count(self::$plain) >= 4096) {
                self::$plain = [];
            }
            $p = self::$plain[$name] = preg_match(self::NAME_RE, $name) === 1;
        }
        return $p;
    }

    private static function hasRef(array $args): bool
    {
        foreach ($args as $a) {
            if ($a instanceof Ref) {
                return true;
            }
        }
        return false;
    }

    private static function export(string $name): void
    {
        $key = strtolower($name);
        if (isset(self::$exported[$key])) {
            return; // the host replaced the Go function; the PHP side is the same
        }
        if (!preg_match('/^[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*$/D', $name) || isset(self::CONSTRUCTS[$key])) {
            throw new \Error("cannot export \"$name\": not a valid PHP function name");
        }
        if (\function_exists($name)) {
            throw new \Error("cannot export $name: a PHP function $name() already exists, and PHP cannot redefine functions");
        }
        eval('function ' . $name . '(...$args) { return \Sandbond\Driver::hostCall(' . var_export($name, true) . ', $args); }');
        self::$exported[$key] = true;
    }

    // -- handles ------------------------------------------------------------------

    /** Stores $v in the handle table under a fresh key. */
    private static function keep($v): int
    {
        self::$handles[++self::$lastKey] = $v;
        return self::$lastKey;
    }

    /** Drops the keys in $keys (a "release" member or op); unknown keys are ignored. */
    private static function release($keys): void
    {
        if (!is_array($keys)) {
            return;
        }
        $interrupt = null;
        foreach ($keys as $k) {
            if (!is_int($k) || !array_key_exists($k, self::$handles)) {
                continue;
            }
            try {
                unset(self::$handles[$k]); // may run a destructor
            } catch (Interrupt $e) {
                $interrupt = $e; // thrown once every key is dropped
            } catch (\Throwable $e) {
                // not the request's failure: it asked for nothing more
                self::write(2, 'PHP Warning:  ' . get_class($e) . ' in the destructor of released handle '
                    . $k . ': ' . $e->getMessage() . "\n");
            }
        }
        if ($interrupt !== null) {
            throw $interrupt;
        }
    }

    private static function unknownHandle($k): HandleError
    {
        return new HandleError('unknown handle ' . json_encode($k, self::TXT)
            . ' (released, or not created by this bond)');
    }

    /** The value kept under the request's "handle". */
    private static function target(array $m)
    {
        $k = $m['handle'] ?? null;
        if (!is_int($k) || !array_key_exists($k, self::$handles)) {
            throw self::unknownHandle($k);
        }
        return self::$handles[$k];
    }

    private static function stringMember(array $m, string $key): string
    {
        $v = $m[$key] ?? null;
        if (!is_string($v)) {
            throw new \TypeError($m['op'] . ": the \"$key\" member must be a string");
        }
        return $v;
    }

    private static function argsMember(array $m): array
    {
        $v = $m['args'] ?? [];
        if (!is_array($v) || !array_is_list($v)) {
            throw new \TypeError($m['op'] . ': the "args" member must be an array');
        }
        return $v;
    }

    /** Runs a request on kept objects (OBJECT_OPS) and returns its result. */
    private static function objectOp(array $m)
    {
        switch ($m['op']) {
            case 'new':
                $class = self::stringMember($m, 'name');
                return new $class(...self::argsMember($m));
            case 'release':
                self::release($m['handles'] ?? null);
                return null;
        }
        $x = self::target($m);
        switch ($m['op']) {
            case 'method':
                $name = self::stringMember($m, 'name');
                return $x->$name(...self::argsMember($m));
            case 'get':
                $name = self::stringMember($m, 'name');
                return $x->$name;
            case 'set':
                $name = self::stringMember($m, 'name');
                $x->$name = $m['value'] ?? null;
                return null;
            case 'len':
                return is_string($x) ? strlen($x) : count($x); // count: a TypeError if not Countable
            case 'op':
                return self::operator(self::stringMember($m, 'name'), $x, self::argsMember($m));
            case 'iter':
                return self::iterator($x);
            case 'next':
                $n = $m['count'] ?? null;
                if (!is_int($n) || $n < 1 || $n > 65536) {
                    throw new \ValueError('next: "count" must be an integer from 1 to 65536');
                }
                return self::take($x, $n);
            default: // value: answer() sends it in value mode
                return $x;
        }
    }

    /** The "op" request: PHP's operator $name on $a and $args[0]. */
    private static function operator(string $name, $a, array $args)
    {
        if ($name === 'str') {
            return (string)$a; // __toString; an Error for objects without it
        }
        static $binary = ['add' => 1, 'sub' => 1, 'mul' => 1, 'div' => 1, 'mod' => 1, 'eq' => 1, 'ne' => 1,
            'lt' => 1, 'le' => 1, 'gt' => 1, 'ge' => 1, 'contains' => 1, 'getitem' => 1];
        if (!isset($binary[$name])) {
            throw new \ValueError('op: unknown operator ' . json_encode($name, self::TXT) . ' (add, sub, mul, div, mod,'
                . ' eq, ne, lt, le, gt, ge, contains, getitem, str)');
        }
        if (!$args) {
            throw new \ArgumentCountError("op $name: the right operand (args[0]) is missing");
        }
        $b = $args[0];
        switch ($name) {
            case 'add':
                return $a + $b;
            case 'sub':
                return $a - $b;
            case 'mul':
                return $a * $b;
            case 'div':
                return $a / $b;
            case 'mod':
                return $a % $b;
            case 'eq':
                return $a == $b;
            case 'ne':
                return $a != $b;
            case 'lt':
                return $a < $b;
            case 'le':
                return $a <= $b;
            case 'gt':
                return $a > $b;
            case 'ge':
                return $a >= $b;
            case 'getitem':
                return $a[$b];
        }
        // contains: an array's values (in_array, loose like ==), an
        // ArrayAccess's offsets (offsetExists: ArrayObject keys,
        // SplObjectStorage members), a Traversable's values, a substring
        if (is_array($a)) {
            return in_array($b, $a);
        }
        if ($a instanceof \ArrayAccess) {
            return (bool)$a->offsetExists($b);
        }
        if ($a instanceof \Traversable) {
            foreach ($a as $x) {
                if ($x == $b) {
                    return true;
                }
            }
            return false;
        }
        if (is_string($a)) {
            return str_contains($a, (string)$b);
        }
        throw new \TypeError('op contains: ' . get_debug_type($a) . ' is not a container (arrays, ArrayAccess,'
            . ' Traversable and strings are)');
    }

    /** The "iter" request: an Iterator over $x, as foreach would walk it. */
    private static function iterator($x): \Iterator
    {
        if (is_array($x)) {
            $it = new \ArrayIterator($x);
        } elseif ($x instanceof \Iterator) {
            $it = $x; // a generator is its own iterator
        } elseif ($x instanceof \IteratorAggregate) {
            for ($it = $x->getIterator(), $i = 0; $it instanceof \IteratorAggregate && $i < 32; $i++) {
                $it = $it->getIterator();
            }
            if (!$it instanceof \Iterator) {
                $it = new \IteratorIterator($it);
            }
        } elseif ($x instanceof \Traversable) {
            $it = new \IteratorIterator($x);
        } else {
            throw new \TypeError('iter: ' . get_debug_type($x) . ' is not iterable (arrays and Traversable objects are)');
        }
        // A generator cannot rewind once it has run: it goes on from where
        // it is (and where an earlier next left it).
        self::$iterState[$it] = $it instanceof \Generator ? self::$iterState[$it] ?? self::ITER_AT : self::ITER_FRESH;
        return $it;
    }

    /** The "next" request: up to $n values of iterator $it (keys are dropped). */
    private static function take($it, int $n): array
    {
        if (!$it instanceof \Iterator) {
            throw new \TypeError('next: ' . get_debug_type($it) . ' is not an iterator (iter gives one)');
        }
        $st = self::$iterState[$it] ?? self::ITER_AT; // an Iterator the host did not get from iter
        if ($st === self::ITER_FRESH) {
            $it->rewind();
        } elseif ($st === self::ITER_ADVANCE) {
            $it->next();
        }
        self::$iterState[$it] = self::ITER_AT;
        $items = [];
        while ($it->valid()) {
            $items[] = $it->current();
            self::$iterState[$it] = self::ITER_ADVANCE;
            if (count($items) >= $n) {
                break;
            }
            $it->next();
            self::$iterState[$it] = self::ITER_AT;
        }
        return $items;
    }

    // -- calls to the host --------------------------------------------------------

    /** @internal The body of every exported function. */
    public static function hostCall(string $name, array $args)
    {
        try {
            $body = self::encode(array_values($args), $blobs);
        } catch (SerializationError $e) {
            throw new SerializationError("cannot send the arguments of $name to the host: " . $e->getMessage(), $e->typeName, $e);
        }
        $cid = ++self::$next;
        $saved = self::$inUser;
        self::$inUser = false;
        try {
            self::sendBlobs('{"op":"call","id":' . $cid . ',"name":' . json_encode($name, self::TXT) . ',"args":' . $body . "}\n", $blobs);
            $r = self::serve($cid);
        } catch (HostError $e) {
            self::$inUser = $saved;
            if ($saved && self::$pending) {
                self::$pending = false;
                throw new Interrupt('interrupted by the host', 0, $e);
            }
            throw $e;
        } finally {
            self::$inUser = $saved;
        }
        if ($saved && self::$pending) {
            self::$pending = false;
            throw new Interrupt('interrupted by the host');
        }
        return $r;
    }

    /** Serves host requests until the reply to our call $wait arrives. */
    private static function serve(int $wait)
    {
        for (;;) {
            $m = self::recv();
            $op = $m['op'];
            if ($op === 'undecodable' && ($m['of'] === 'return' || $m['of'] === 'error')) {
                if ($m['id'] !== $wait) {
                    self::fatal('protocol error: reply to ' . $m['id'] . " while waiting for $wait");
                }
                throw new SerializationError('the reply of the host: ' . $m['why'], 'array');
            }
            if ($op === 'return' || $op === 'error') {
                if ($m['id'] !== $wait) {
                    self::fatal('protocol error: reply to ' . json_encode($m['id']) . " while waiting for $wait");
                }
                if ($op === 'return') {
                    if (isset($m[self::BAD])) {
                        throw self::unknownHandle($m[self::BAD][0]);
                    }
                    return $m['value'];
                }
                $e = $m['error'];
                throw new HostError((string)($e['message'] ?? ''), (string)($e['type'] ?? ''), (string)($e['token'] ?? ''));
            }
            self::handle($m);
        }
    }

    // -- framing ------------------------------------------------------------------

    private static function recv(): array
    {
        $line = fgets(self::$in);
        if ($line === false || $line[-1] !== "\n") {
            // EOF, or a read cut short by a signal (fgets then returns
            // false, or the part of the line it had)
            for ($i = 0; !feof(self::$in); $i++) {
                $more = fgets(self::$in);
                if ($more !== false) {
                    $line = $line === false ? $more : $line . $more;
                    if ($line[-1] === "\n") {
                        break;
                    }
                } elseif ($i > 1000) {
                    self::fatal('cannot read the protocol input');
                }
            }
            if ($line === false || $line[-1] !== "\n") {
                self::flushOutput();
                exit(0); // the host closed the bond
            }
        }
        try {
            if (strpos($line, '"$') === false && strpos($line, '{}') === false) {
                $m = json_decode($line, true, self::JSON_DEPTH, \JSON_THROW_ON_ERROR);
                if (isset($m['release'])) {
                    self::release($m['release']);
                }
                self::$tagged = false; // (after release: a destructor may call the host)
                return $m;
            }
            try {
                // objects, so that {} can be told from []
                $o = json_decode($line, false, self::JSON_DEPTH, \JSON_THROW_ON_ERROR);
                $rel = $o->release ?? null;
            } catch (\JsonException $e) {
                if ($e->getCode() !== \JSON_ERROR_INVALID_PROPERTY_NAME) {
                    throw $e;
                }
                // a key starting with NUL cannot be a property: arrays it
                // is, and an empty map is then an empty array
                $o = json_decode($line, true, self::JSON_DEPTH, \JSON_THROW_ON_ERROR);
                $rel = $o['release'] ?? null;
            }
        } catch (\JsonException $e) {
            // The host sends valid JSON, but PHP's parser gives up on deep
            // nesting (about 2500 objects or 5000 arrays): answer the
            // message, whose head the host always writes the same way.
            if (!preg_match('/^\{"op":"(call|eval|exec|export|return|error|new|method|get|set|len|op|iter|next|value|release)","id":(\d+)/', $line, $g)) {
                self::fatal('protocol error: cannot decode a message from the host: ' . $e->getMessage());
            }
            self::$tagged = false;
            self::skipSide($line);
            return ['op' => 'undecodable', 'of' => $g[1], 'id' => (int)$g[2],
                'why' => 'PHP cannot decode the message (' . $e->getMessage() . '; PHP\'s JSON parser'
                    . ' handles about 2500 nested objects or 5000 nested arrays)'];
        }
        if ($rel !== null) {
            self::release($rel); // before the message's own handles are looked up
        }
        self::$tagged = true;
        // untag reads the blobs and receives the descriptors as it meets
        // their tags (in the line's order); an unknown handle does not stop
        // it, so that the side streams stay in step with the line
        self::$badHandle = null;
        self::$fds = null;
        $m = self::untag($o);
        self::$fds = null; // descriptors the message did not use close with their streams
        if (self::$badHandle !== null) {
            $m[self::BAD] = self::$badHandle;
            self::$badHandle = null;
        }
        return $m;
    }

    /**
     * Consumes the blobs and descriptors of a message PHP cannot decode. A
     * raw {"$blob":N} or {"$fd":N} in a line can only be a tag: quotes in
     * strings are escaped, and a plain map with one $-key has its key escaped.
     */
    private static function skipSide(string $line): void
    {
        if (self::$blobIn !== null && preg_match_all('/\{"\$blob":(\d+)\}/', $line, $g)) {
            foreach ($g[1] as $n) {
                self::readBlob((int)$n);
            }
        }
        if (self::$fdSock !== null && strpos($line, '{"$fd":') !== false) {
            self::recvFds();
        }
    }

    /** Reads the $n bytes of a blob. */
    private static function readBlob(int $n): string
    {
        $s = '';
        for ($i = 0; ($have = strlen($s)) < $n; $i++) {
            // one allocation of the size asked for, filled by reads as
            // large as the pipe gives (the stream has no read buffer)
            $more = @stream_get_contents(self::$blobIn, $n - $have);
            if ($more === false || $more === '') {
                if (feof(self::$blobIn)) {
                    self::flushOutput();
                    exit(0); // the host is gone
                }
                if ($i > 1000) {
                    self::fatal('cannot read the blob input');
                }
                continue; // cut short by a signal
            }
            $s = $have === 0 ? $more : $s . $more;
        }
        return $s;
    }

    /** The descriptors that came with the message being decoded (one recvmsg). */
    private static function recvFds(): array
    {
        $flags = \PHP_OS_FAMILY === 'Linux' ? 0x40000000 : 0; // MSG_CMSG_CLOEXEC
        for ($i = 0;; $i++) {
            $msg = ['name' => [], 'buffer_size' => 1, 'controllen' => socket_cmsg_space(\SOL_SOCKET, \SCM_RIGHTS, self::MAX_FDS)];
            $r = @socket_recvmsg(self::$fdSock, $msg, $flags);
            if ($r !== false) {
                break;
            }
            $err = socket_last_error(self::$fdSock);
            if ($err !== \SOCKET_EINTR || $i > 1000) {
                self::fatal('cannot receive descriptors: ' . socket_strerror($err));
            }
        }
        if ($r === 0) {
            self::flushOutput();
            exit(0); // the host is gone
        }
        $fds = [];
        foreach ($msg['control'] ?? [] as $c) {
            if ($c['level'] === \SOL_SOCKET && $c['type'] === \SCM_RIGHTS) {
                foreach ($c['data'] as $f) {
                    // PHP makes a stream of a file, a \Socket of a socket
                    $fds[] = $f instanceof \Socket ? socket_export_stream($f) : $f;
                }
            }
        }
        return $fds;
    }

    /** Turns json_decode's objects into arrays, applying tags bottom-up. */
    private static function untag($v)
    {
        if ($v instanceof \stdClass) {
            $v = (array)$v;
            if (!$v) {
                return new \ArrayObject();
            }
        } elseif (!is_array($v)) {
            return $v;
        }
        if (count($v) === 1) {
            $k = array_key_first($v);
            if (is_string($k) && $k !== '' && $k[0] === '$') {
                $x = $v[$k];
                switch ($k) {
                    case '$bytes':
                        $s = is_string($x) ? base64_decode($x, true) : false;
                        if ($s === false) {
                            self::fatal('protocol error: bad $bytes value');
                        }
                        return $s;
                    case '$ref':
                        if (is_string($x)) {
                            return new Ref($x);
                        }
                        break;
                    case '$handle':
                        if (is_int($x) && array_key_exists($x, self::$handles)) {
                            return self::$handles[$x];
                        }
                        if (self::$badHandle === null) {
                            self::$badHandle = [$x]; // the first one (which may be null)
                        }
                        return null;
                    case '$blob':
                        if (self::$blobIn === null || !is_int($x) || $x < 0) {
                            self::fatal('protocol error: ' . (self::$blobIn === null ? 'a $blob, but blobs are off' : 'bad $blob value'));
                        }
                        return self::readBlob($x);
                    case '$fd':
                        if (self::$fdSock === null || !is_int($x) || $x < 0) {
                            self::fatal('protocol error: ' . (self::$fdSock === null ? 'a $fd, but descriptors are off' : 'bad $fd value'));
                        }
                        if (self::$fds === null) {
                            self::$fds = self::recvFds();
                        }
                        if (!isset(self::$fds[$x])) {
                            self::fatal("protocol error: {\"\$fd\":$x}, but the message came with " . count(self::$fds) . ' descriptors');
                        }
                        return self::$fds[$x];
                    case '$file':
                        $t = is_object($x) ? (array)$x : $x;
                        if (!is_array($t) || count($t) !== 1 || !isset($t['$bytes']) && !isset($t['$blob'])) {
                            self::fatal('protocol error: $file takes a $bytes or $blob tag');
                        }
                        // a private in-memory copy, at offset 0
                        $f = fopen('php://memory', 'w+b');
                        fwrite($f, self::untag($x));
                        rewind($f);
                        return $f;
                }
                if (strlen($k) > 1 && $k[1] === '$') {
                    return [substr($k, 1) => is_object($x) || is_array($x) ? self::untag($x) : $x];
                }
                self::fatal('protocol error: unknown tag ' . json_encode($k, self::TXT));
            }
        }
        foreach ($v as $k => $x) {
            if (is_object($x) || is_array($x)) {
                $v[$k] = self::untag($x);
            }
        }
        return $v;
    }

    private static function send(string $line): void
    {
        if (self::$out1 !== '' || self::$out2 !== '') {
            self::flushOutput();
        }
        self::writeRaw($line);
    }

    /** Sends a message line, then the bytes of its blobs. */
    private static function sendBlobs(string $line, array $blobs): void
    {
        self::send($line);
        foreach ($blobs as $b) {
            self::writeRaw($b, self::$blobOut);
        }
    }

    /** Writes all of $line to the protocol output (or $to). */
    private static function writeRaw(string $line, $to = null): void
    {
        if (self::$broken) {
            return;
        }
        $out = $to ?? self::$out;
        $n = @fwrite($out, $line);
        if ($n === strlen($line)) {
            return;
        }
        // Cut short by a signal (false, or the part written), or the host
        // is gone: then the next read sees EOF and ends the process.
        for ($i = 0; $i < 1000; $i++) {
            if ($n !== false && $n > 0) {
                $line = substr($line, $n);
                if ($line === '') {
                    return;
                }
            }
            $n = @fwrite($out, $line);
            if ($n === strlen($line)) {
                return;
            }
        }
        self::$broken = true;
    }

    /** Replies with $v; $asValue: in value mode (see wire()). */
    private static function reply(int $id, $v, bool $asValue = false): void
    {
        if (self::$obCheck || ob_get_level() === 0) {
            self::startOb();
        }
        try {
            $body = self::encode($v, $blobs, $asValue);
        } catch (SerializationError $e) {
            self::replyError($id, 'serialization', $e->typeName, $e->getMessage(), '', '');
            return;
        } catch (\Throwable $e) { // from a jsonSerialize()
            self::replyError($id, 'serialization', get_debug_type($v), get_class($e) . ': ' . $e->getMessage(), '', '');
            return;
        }
        self::sendBlobs('{"op":"return","id":' . $id . ',"value":' . $body . "}\n", $blobs);
    }

    private static function replyException(int $id, \Throwable $e, string $callName): void
    {
        if (self::$obCheck || ob_get_level() === 0) {
            self::startOb();
        }
        if ($callName !== '' && $e instanceof \Error && !$e instanceof Interrupt
            && isset(self::CONSTRUCTS[strtolower(ltrim($callName, '\\'))]) && !\function_exists($callName)
            && strpos($e->getMessage(), 'Call to undefined function') === 0) {
            $e = new \Error(self::constructMessage($callName), 0, $e);
        }
        $token = '';
        for ($x = $e; $x !== null; $x = $x->getPrevious()) {
            if ($x instanceof HostError && $x->token !== '') {
                $token = $x->token;
                break;
            }
        }
        try {
            $tb = (string)$e;
        } catch (\Throwable $t) {
            $tb = $e->getTraceAsString();
        }
        if ($e instanceof SerializationError) {
            self::replyError($id, 'serialization', $e->typeName !== '' ? $e->typeName : get_class($e), $e->getMessage(), $tb, $token);
            return;
        }
        self::replyError($id, 'exception', $e instanceof HandleError ? 'SandbondHandleError' : get_class($e), $e->getMessage(), $tb, $token);
    }

    private static function replyError(int $id, string $kind, string $type, string $message, string $tb, string $token): void
    {
        $err = ['kind' => $kind, 'type' => $type, 'message' => $message];
        if ($tb !== '') {
            $err['traceback'] = $tb;
        }
        if ($token !== '') {
            $err['token'] = $token;
        }
        self::send('{"op":"error","id":' . $id . ',"error":' . json_encode($err, self::TXT) . "}\n");
    }

    // -- values -------------------------------------------------------------------

    /**
     * The JSON text of $v; throws SerializationError. $blobs receives the
     * bytes of the {"$blob":N} tags in it, to be written after the line.
     */
    public static function encode($v, &$blobs = null, bool $asValue = false): string
    {
        $blobs = [];
        if (is_int($v)) {
            return (string)$v;
        }
        if ($v === null) {
            return 'null';
        }
        if (!is_object($v)) { // (an object, Bytes among them, is always rendered by wire)
            try {
                $s = json_encode($v, self::ENC, self::JSON_DEPTH);
                if (strpos($s, '{') === false) {
                    return $s; // no maps, no objects: nothing to check or escape
                }
            } catch (\JsonException $e) {
                // find out what failed below
            }
        }
        $w = self::wire($v, 0, $blobs, $asValue);
        try {
            return json_encode($w, self::ENC, self::JSON_DEPTH);
        } catch (\JsonException $e) {
            throw new SerializationError($e->getMessage(), get_debug_type($v));
        }
    }

    /**
     * A copy of $v that json_encode renders by the protocol's rules. Long
     * Bytes become {"$blob":N} tags, their data appended to $blobs in the
     * order json_encode writes the tags. $asValue (the value request) also
     * accepts objects with a JSON form of sorts: DateTimeInterface (ISO
     * 8601, microseconds when not zero), enums (their name), and objects
     * with public properties (get_object_vars).
     */
    private static function wire($v, int $d, array &$blobs, bool $asValue)
    {
        if ($d > self::MAX_DEPTH) {
            throw new SerializationError('value nested deeper than ' . self::MAX_DEPTH . ' levels', 'array');
        }
        if (is_array($v)) {
            if (array_is_list($v)) {
                foreach ($v as $i => $x) {
                    if (!is_int($x) && !is_bool($x) && $x !== null) {
                        $v[$i] = self::wire($x, $d + 1, $blobs, $asValue);
                    }
                }
                return $v;
            }
            return self::map($v, $d, $blobs, $asValue);
        }
        if (is_string($v)) {
            if (!preg_match('//u', $v)) {
                throw new SerializationError('string is not valid UTF-8 (wrap binary data in Sandbond\Bytes to send it as bytes)', 'string');
            }
            return $v;
        }
        if (is_float($v)) {
            if (!is_finite($v)) {
                throw new SerializationError(is_nan($v) ? 'NaN cannot be sent' : 'an infinite float cannot be sent', 'float');
            }
            return $v;
        }
        if (is_int($v) || is_bool($v) || $v === null) {
            return $v;
        }
        if ($v instanceof Bytes) {
            if (self::$blobOut !== null && strlen($v->data) >= self::BLOB_MIN) {
                $blobs[] = $v->data;
                return ['$blob' => strlen($v->data)];
            }
            return ['$bytes' => base64_encode($v->data)];
        }
        if ($v instanceof \ArrayObject) {
            return self::map($v->getArrayCopy(), $d, $blobs, $asValue);
        }
        if ($v instanceof \stdClass) {
            return self::map((array)$v, $d, $blobs, $asValue);
        }
        if ($v instanceof \JsonSerializable) {
            return self::wire($v->jsonSerialize(), $d + 1, $blobs, $asValue);
        }
        if ($v instanceof \BackedEnum) {
            return $v->value;
        }
        if ($asValue && is_object($v)) {
            if ($v instanceof \DateTimeInterface) {
                return $v->format($v->format('u') === '000000' ? 'Y-m-d\\TH:i:sP' : 'Y-m-d\\TH:i:s.uP');
            }
            if ($v instanceof \UnitEnum) {
                return $v->name;
            }
            $props = $v instanceof \Closure ? [] : get_object_vars($v); // the public ones: we are outside
            if ($props) {
                return self::map($props, $d, $blobs, $asValue);
            }
        }
        $t = get_debug_type($v);
        throw new SerializationError("cannot send a value of type $t (only null, bool, int, float, string, arrays,"
            . ' stdClass, ArrayObject, JsonSerializable, backed enums and Sandbond\Bytes can be sent)', $t);
    }

    /**
     * A map, rendered as a JSON object even when empty or list-like, with
     * the $-key escape applied. (Only then a stdClass: json_encode drops
     * properties whose names start with NUL.)
     */
    private static function map(array $a, int $d, array &$blobs, bool $asValue)
    {
        $o = [];
        foreach ($a as $k => $x) {
            if (is_string($k) && !preg_match('//u', $k)) {
                throw new SerializationError('map key is not valid UTF-8', 'string');
            }
            $o[$k] = is_int($x) || is_bool($x) || $x === null ? $x : self::wire($x, $d + 1, $blobs, $asValue);
        }
        if (count($o) === 1) {
            $k = (string)array_key_first($o);
            if ($k !== '' && $k[0] === '$') {
                $o = ['$' . $k => reset($o)];
            }
        }
        return array_is_list($o) ? (object)$o : $o;
    }

    // -- output -------------------------------------------------------------------

    private static function startOb(): void
    {
        self::$obCheck = false;
        $st = ob_get_status(true);
        if ($st && $st[0]['name'] === self::class . '::onOutput' && !($st[0]['flags'] & self::OB_DISABLED)) {
            return;
        }
        // Our handler is gone or was disabled (it threw, e.g. an interrupt
        // landed in it): drop every level, then start again.
        while (ob_get_level() > 0 && @ob_end_flush()) {
        }
        ob_start([self::class, 'onOutput'], 1);
    }

    /** @internal The output buffer's handler: everything printed goes here. */
    public static function onOutput(string $data, int $phase): string
    {
        if ($data !== '') {
            self::write(1, $data);
        }
        if ($phase & \PHP_OUTPUT_HANDLER_FINAL) {
            self::flushOutput();
        }
        return '';
    }

    /** @internal Buffers output for descriptor $fd (1 or 2). */
    public static function write(int $fd, string $data): void
    {
        if ($fd === 1) {
            if (self::$out2 !== '') {
                self::flushFd(2);
            }
            self::$out1 .= $data;
            if (strpos($data, "\n") !== false || strlen(self::$out1) > 8192) {
                self::flushFd(1);
            }
        } else {
            if (self::$out1 !== '') {
                self::flushFd(1);
            }
            self::$out2 .= $data;
            if (strpos($data, "\n") !== false || strlen(self::$out2) > 8192) {
                self::flushFd(2);
            }
        }
    }

    /** @internal Sends all pending output. */
    public static function flushOutput(): void
    {
        if (self::$out1 !== '') {
            self::flushFd(1);
        }
        if (self::$out2 !== '') {
            self::flushFd(2);
        }
    }

    private static function flushFd(int $fd): void
    {
        if ($fd === 1) {
            $data = self::$out1;
            self::$out1 = '';
        } else {
            $data = self::$out2;
            self::$out2 = '';
        }
        self::writeRaw('{"op":"output","fd":' . $fd . ',"data":' . json_encode($data, self::TXT) . "}\n");
    }

    /** @internal Warnings, notices and deprecations become stderr output. */
    public static function onError(int $no, string $msg, string $file = '', int $line = 0): bool
    {
        if (!(error_reporting() & $no)) {
            return false; // silenced (@): PHP records it for error_get_last() and shows nothing
        }
        if ($no === \E_USER_ERROR || $no === \E_RECOVERABLE_ERROR) {
            return false; // fatal: PHP's own handler prints it and ends the process
        }
        switch ($no) {
            case \E_WARNING:
            case \E_USER_WARNING:
                $label = 'Warning';
                break;
            case \E_NOTICE:
            case \E_USER_NOTICE:
                $label = 'Notice';
                break;
            case \E_DEPRECATED:
            case \E_USER_DEPRECATED:
                $label = 'Deprecated';
                break;
            default:
                $label = 'Error';
        }
        self::write(2, "PHP $label:  $msg in $file on line $line\n");
        return true;
    }

    /** @internal SIGINT: an interrupt while user code runs, else later or never. */
    public static function onSigint(): void
    {
        if (self::$inUser) {
            self::$inUser = false;
            self::$obCheck = true;
            throw new Interrupt('interrupted by the host');
        }
        if (self::$depth > 0) {
            self::$pending = true; // thrown when control returns to user code
        }
    }
}

}

namespace {

\Sandbond\Driver::init($__sb_in, $argv);
unset($__sb_in, $__sb_src);
if (isset($__sb_cached)) {
    // Loaded from opcache's file cache (php_local.go): user code runs
    // without opcache, as in a plain CLI, and nothing of it is cached.
    \ini_set('opcache.enable', '0');
    unset($__sb_cached);
}
for (;;) {
    try {
        \Sandbond\Driver::done(eval(\Sandbond\Driver::next()));
    } catch (\Throwable $__sb_e) {
        \Sandbond\Driver::$inUser = false;
        \Sandbond\Driver::failed($__sb_e);
        unset($__sb_e);
    }
}

}
