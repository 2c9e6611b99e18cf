// sandbond Node.js driver (stage 2). Protocol: bond/PROTOCOL.md; design
// notes: drivers/node.go. Stage 1 evaluates this file with
// vm.runInThisContext and calls the function it yields with its require, the
// protocol descriptors and the bytes it read past stage 2. Everything lives
// inside this function so that user code gets a clean global scope.
//
// How the driver waits and how interrupts work (the parts that are easy to
// get wrong):
//
// - Messages are read in chunks into one buffer and split into lines. The
//   synchronous wait (inside a call to the host, and the idle wait when the
//   event loop has nothing else to do) is fs.readSync on a blocking
//   descriptor; the asynchronous one (when user code left timers, sockets
//   or other ref'd work in the event loop) is fs.read on the thread pool.
//   Only one is ever outstanding. EOF on the input exits with status 0;
//   nothing polls (EAGAIN on a descriptor that cannot be made blocking
//   waits with a backoff up to 50 ms).
// - SIGINT interrupts user code through vm's breakOnSigint. The outermost
//   breakOnSigint run of a stack costs a watchdog thread (about 70 us here)
//   and briefly leaves SIGINT at Node's exit-on-SIGINT handler when it
//   ends, so while it serves synchronously the driver keeps one loop scope
//   open, with a few guard scopes and a step scope nested in it; each
//   request's user code runs in its own nested scope (about 1 us). An
//   interrupt lands in the innermost scope only: the innermost request
//   fails with a catchable Error, or, in the driver's own code, the step
//   ends and the next one finishes what it left. Between requests the
//   driver runs process.nextTick callbacks and microtasks
//   (process._tickCallback) and leaves the loop scope for the event loop
//   when user code left work there or a Promise is being awaited.
// - An interrupt is V8 termination: it unwinds the driver's code too,
//   without running catch or finally blocks. The protocol state is kept in
//   one stack of frames (requests taken, calls made) whose every change is
//   a single step: a request is pushed in the same step that consumes its
//   line, a reply is marked and written with no JavaScript function entry
//   in between (where V8 would fire a pending termination), the free part
//   of the read buffer is kept zeroed (the host's lines never hold a NUL)
//   so bytes read but not yet counted are found again, and each scope
//   boundary finishes the frames left above it: it answers the requests
//   with the interrupt and waits for the replies to calls already sent.

(function sandbondDriver(require, IN_FD, OUT_FD, rest) {
  'use strict';
  const fs = require('fs');
  const vm = require('vm');
  const stream = require('stream');
  const { StringDecoder } = require('string_decoder');

  const MAX_DEPTH = 10000;
  const OUT_LIMIT = 8192;
  const BUF_MIN = 1 << 16;

  // -- descriptors ------------------------------------------------------
  // Reopening /proc/self/fd/N gives a private, blocking, close-on-exec
  // description of the same pipe: child processes of user code do not
  // inherit the protocol, and non-blocking descriptors handed over by a
  // launcher are no longer a problem. Sockets (or no /proc) keep the
  // originals; EAGAIN is then handled by waiting with a backoff.
  let inFd = IN_FD, outFd = OUT_FD;
  function reopen(fd, flags) {
    try {
      return fs.openSync('/proc/self/fd/' + fd, flags);
    } catch (e) {
      return -1;
    }
  }
  function closeQuiet(fd) {
    try {
      fs.closeSync(fd);
    } catch (e) { /* already closed */ }
  }
  {
    const r = reopen(inFd, fs.constants.O_RDONLY);
    const w = r < 0 ? -1 : reopen(outFd, fs.constants.O_WRONLY);
    if (w >= 0) {
      if (IN_FD > 2) closeQuiet(IN_FD);
      if (OUT_FD > 2) closeQuiet(OUT_FD);
      inFd = r;
      outFd = w;
    } else if (r >= 0) {
      closeQuiet(r);
    }
  }
  process.argv.length = 1;

  const sleepCell = new Int32Array(new SharedArrayBuffer(4));
  function sleepMs(ms) {
    Atomics.wait(sleepCell, 0, 0, ms);
  }
  let readReopened = false, writeReopened = false;

  // -- errors user code sees ----------------------------------------------
  class SandbondHostError extends Error {
    constructor(message, goType, token) {
      super(message);
      this.goType = goType;
      this.token = token;
    }
  }
  SandbondHostError.prototype.name = 'SandbondHostError';
  class SandbondSerializationError extends Error {
    constructor(message, valueType) {
      super(message);
      this.valueType = valueType;
    }
  }
  SandbondSerializationError.prototype.name = 'SandbondSerializationError';
  class ProtocolError extends Error {}

  function hidden(name, value) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  }
  hidden('SandbondHostError', SandbondHostError);
  hidden('SandbondSerializationError', SandbondSerializationError);
  hidden('sandbond', Object.freeze({
    HostError: SandbondHostError,
    SerializationError: SandbondSerializationError,
    protocol: 1,
  }));
  if (typeof globalThis.require !== 'function') hidden('require', require);

  function interruptedError(detail) {
    const e = new Error('Script execution was interrupted by `SIGINT`' + (detail ? ' (' + detail + ')' : ''));
    e.code = 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
    return e;
  }

  // -- strings ------------------------------------------------------------
  const LONE = /\p{Surrogate}/u;
  const LONE_G = /\p{Surrogate}/gu;
  const wellFormed = typeof String.prototype.isWellFormed === 'function'
    ? (s) => s.isWellFormed() : (s) => !LONE.test(s);
  const toWellFormed = typeof String.prototype.toWellFormed === 'function'
    ? (s) => s.toWellFormed() : (s) => s.replace(LONE_G, '\ufffd');

  // -- writing ------------------------------------------------------------
  let writeBackoff = 1;
  function writeAll(s) {
    let data = s, len = typeof s === 'string' ? Buffer.byteLength(s) : s.length, off = 0;
    for (;;) {
      let n;
      try {
        n = typeof data === 'string' ? fs.writeSync(outFd, data) : fs.writeSync(outFd, data, off, len - off);
      } catch (e) {
        if (e.code === 'EINTR') continue;
        if (e.code === 'EAGAIN') {
          if (!writeReopened) {
            writeReopened = true;
            const w = reopen(outFd, fs.constants.O_WRONLY);
            if (w >= 0) {
              outFd = w;
              continue;
            }
          }
          sleepMs(writeBackoff);
          writeBackoff = Math.min(writeBackoff * 2, 50);
          continue;
        }
        throw e;
      }
      writeBackoff = 1;
      off += n;
      if (off >= len) return;
      if (typeof data === 'string') data = Buffer.from(data);
    }
  }

  function noop() {}

  // send writes one protocol line (a string ending in a newline), pending
  // output first.
  function send(line) {
    if (outBuf.size || errBuf.size) flushAll();
    writeAll(line);
  }

  // A reply or call is marked (its frame popped or flagged as sent) and
  // written in one step: an interrupt fires at a JavaScript function entry,
  // so the mark and the write(2) must have none between them. The caller
  // runs noop() first (a pending interrupt fires there, before the mark),
  // then the mark, then `rawWrite(outFd, line, null, 'utf8', undefined,
  // wctx)` inline, then settles the result with wrote(). rawWrite is the
  // binding fs.writeSync itself calls, taken only when fs.writeSync calls it
  // exactly so and then runs more JavaScript (handleErrorFromBinding, where
  // an interrupt would lose the count); otherwise fs.writeSync is used (on
  // Node versions where it ends with the binding call, it has no such gap).
  const wctx = {};
  let rawWrite = null;
  {
    const src = String(fs.writeSync);
    if (/binding\.writeString\(fd, buffer, offset, length,\s*undefined, ctx\)/.test(src) &&
        /handleErrorFromBinding\(ctx\)/.test(src) && typeof process.binding === 'function') {
      try {
        const b = process.binding('fs');
        if (typeof b.writeString === 'function') rawWrite = b.writeString;
      } catch (e) { /* not available */ }
    }
  }
  function writeNow(line) {
    if (rawWrite !== null) return rawWrite(outFd, line, null, 'utf8', undefined, wctx);
    try {
      return fs.writeSync(outFd, line);
    } catch (e) {
      return e;
    }
  }
  const UV_EINTR = -4, UV_EAGAIN = -11;
  // wrote finishes a write started inline: n is the byte count, a negative
  // libuv error (wctx has it) or a thrown error.
  function wrote(line, n) {
    if (typeof n !== 'number') {
      if (n.code !== 'EINTR' && n.code !== 'EAGAIN') throw n;
      n = 0;
    } else if (n < 0) {
      const code = wctx.code, errno = wctx.errno;
      wctx.errno = wctx.code = wctx.syscall = undefined;
      if (n !== UV_EINTR && n !== UV_EAGAIN) {
        const e = new Error('write: ' + (code || errno || n));
        e.code = code;
        throw e;
      }
      n = 0;
    }
    if (n < line.length || n < Buffer.byteLength(line)) {
      const b = Buffer.from(line);
      if (n < b.length) writeAll(b.subarray(n));
    }
  }

  // -- output ---------------------------------------------------------------
  function makeOut(fd) {
    const st = { fd, parts: [], size: 0, dec: new StringDecoder('utf8') };
    const w = new stream.Writable({
      decodeStrings: false,
      write(chunk, enc, cb) {
        put(chunk, enc);
        cb();
      },
    });
    function put(chunk, encoding) {
      let s;
      if (typeof chunk === 'string') {
        s = !encoding || encoding === 'utf8' || encoding === 'utf-8' ? chunk
          : st.dec.write(Buffer.from(chunk, encoding));
      } else if (chunk instanceof Uint8Array) {
        s = st.dec.write(chunk);
      } else {
        const e = new TypeError('The "chunk" argument must be of type string or an instance of Buffer or Uint8Array');
        e.code = 'ERR_INVALID_ARG_TYPE';
        throw e;
      }
      if (!s) return;
      st.parts.push(s);
      st.size += s.length;
      if (st.size > OUT_LIMIT || s.indexOf('\n') >= 0) flushOut(st);
    }
    w.write = function write(chunk, encoding, cb) {
      if (typeof encoding === 'function') {
        cb = encoding;
        encoding = undefined;
      }
      put(chunk, encoding);
      if (typeof cb === 'function') process.nextTick(cb);
      return true;
    };
    w.end = function end(chunk, encoding, cb) {
      if (typeof chunk === 'function') {
        cb = chunk;
        chunk = undefined;
      } else if (typeof encoding === 'function') {
        cb = encoding;
        encoding = undefined;
      }
      if (chunk !== undefined && chunk !== null) put(chunk, encoding);
      flushOut(st);
      if (typeof cb === 'function') process.nextTick(cb);
      return this;
    };
    w.destroySoon = w.destroy = function () { flushOut(st); return this; };
    w.fd = fd;
    w.isTTY = false;
    w._isStdio = true;
    w.getColorDepth = () => 1;
    w.hasColors = () => false;
    st.stream = w;
    return st;
  }

  function flushOut(st) {
    if (!st.size && !st.parts.length) return;
    let data = st.parts.length === 1 ? st.parts[0] : st.parts.join('');
    st.parts = [];
    st.size = 0;
    if (!wellFormed(data)) data = toWellFormed(data);
    writeAll('{"op":"output","fd":' + st.fd + ',"data":' + JSON.stringify(data) + '}\n');
  }

  function flushAll() {
    flushOut(outBuf);
    flushOut(errBuf);
  }

  const outBuf = makeOut(1), errBuf = makeOut(2);
  for (const [name, st] of [['stdout', outBuf], ['stderr', errBuf]]) {
    Object.defineProperty(process, name, { configurable: true, enumerable: true, get: () => st.stream });
  }
  const consoleObj = new console.Console({ stdout: outBuf.stream, stderr: errBuf.stream });
  Object.defineProperty(globalThis, 'console', { value: consoleObj, writable: true, configurable: true, enumerable: false });

  process.on('exit', () => {
    try {
      flushAll();
    } catch (e) { /* the host is gone */ }
  });
  // Exceptions and rejections nobody handles in asynchronous user code are
  // reported on stderr; the bond lives on.
  process.on('uncaughtException', (e) => {
    try {
      errBuf.stream.write('Uncaught ' + (e && e.stack ? e.stack : String(e)) + '\n');
    } catch (e2) { /* nothing to do */ }
  });

  // -- values: JavaScript to JSON -------------------------------------------
  function serErr(type, message) {
    return new SandbondSerializationError(message, type);
  }

  function typeName(v) {
    if (v === null) return 'null';
    if (typeof v !== 'object' && typeof v !== 'function') return typeof v;
    try {
      const c = v.constructor;
      if (typeof c === 'function' && c.name) return c.name;
    } catch (e) { /* hostile getter */ }
    return typeof v;
  }

  function badNumber(v) {
    return serErr('number', 'cannot serialize ' + v + ' (NaN and infinities cannot travel)');
  }

  function badString() {
    return serErr('string', 'string is not valid Unicode (lone surrogate)');
  }

  // plain reports whether JSON.stringify(v) is exactly v's wire form; it
  // throws for values that cannot travel at all.
  function plain(v, d) {
    switch (typeof v) {
      case 'string':
        if (!wellFormed(v)) throw badString();
        return true;
      case 'number':
        if (v - v !== 0) throw badNumber(v);
        return v < TWO53 && v > -TWO53; // beyond, JSON.stringify rounds the digits
      case 'boolean':
        return true;
      case 'object': {
        if (v === null) return true;
        if (d > MAX_DEPTH) throw serErr(typeName(v), 'value nested too deeply (or cyclic)');
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) {
            const x = v[i];
            if (x !== undefined && !plain(x, d + 1)) return false;
          }
          return true;
        }
        const p = Object.getPrototypeOf(v);
        if ((p !== Object.prototype && p !== null) || typeof v.toJSON === 'function') return false;
        const ks = Object.keys(v);
        if (ks.length === 1 && ks[0].charCodeAt(0) === 36) return false;
        for (let i = 0; i < ks.length; i++) {
          const x = v[ks[i]];
          if (x === undefined || !wellFormed(ks[i]) || !plain(x, d + 1)) return false;
        }
        return true;
      }
      case 'undefined':
      case 'bigint':
        return false;
      default:
        throw serErr(typeof v, 'cannot serialize a ' + typeof v);
    }
  }

  const TWO53 = 9007199254740992;
  const TWO63 = 9223372036854775808;
  // num writes a number. Beyond 2^53 every number is integral, and
  // JSON.stringify rounds its digits (1152921504606847000 for 2 ** 60):
  // within the int64 range they are written as exact integers, beyond it
  // in exponent form, as floats (BigInt is the way to send huge integers).
  function num(v) {
    if (v - v !== 0) throw badNumber(v);
    if (v < TWO53 && v > -TWO53) return JSON.stringify(v);
    if (v < TWO63 && v >= -TWO63) return BigInt(v).toString();
    return v.toExponential();
  }

  function bytesTag(u8) {
    return '{"$bytes":"' + Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('base64') + '"}';
  }

  // enc writes v's wire form: tags, BigInt digits, undefined as null.
  function enc(v, d) {
    switch (typeof v) {
      case 'string':
        if (!wellFormed(v)) throw badString();
        return JSON.stringify(v);
      case 'number':
        return num(v);
      case 'boolean':
        return v ? 'true' : 'false';
      case 'undefined':
        return 'null';
      case 'bigint':
        return v.toString();
      case 'object': {
        if (v === null) return 'null';
        if (d > MAX_DEPTH) throw serErr(typeName(v), 'value nested too deeply (or cyclic)');
        if (Array.isArray(v)) {
          let s = '[';
          for (let i = 0; i < v.length; i++) {
            if (i) s += ',';
            s += enc(v[i], d + 1);
          }
          return s + ']';
        }
        if (v instanceof Uint8Array) return bytesTag(v);
        if (v instanceof ArrayBuffer) return bytesTag(new Uint8Array(v));
        if (typeof v.toJSON === 'function') return enc(v.toJSON(''), d + 1);
        const p = Object.getPrototypeOf(v);
        if (p !== Object.prototype && p !== null) {
          if (v instanceof String || v instanceof Number || v instanceof Boolean) return enc(v.valueOf(), d + 1);
          const t = typeName(v);
          throw serErr(t, 'cannot serialize a ' + t + ' (only null, booleans, numbers, BigInts, strings, ' +
            'arrays, plain objects and Buffers/Uint8Arrays can travel)');
        }
        const ks = Object.keys(v);
        const esc = ks.length === 1 && ks[0].charCodeAt(0) === 36;
        let s = '{';
        for (let i = 0; i < ks.length; i++) {
          const k = ks[i];
          if (!wellFormed(k)) throw serErr('string', 'object key is not valid Unicode (lone surrogate)');
          if (i) s += ',';
          s += JSON.stringify(esc ? '$' + k : k) + ':' + enc(v[k], d + 1);
        }
        return s + '}';
      }
      default:
        throw serErr(typeof v, 'cannot serialize a ' + typeof v);
    }
  }

  // encode returns the JSON text of v or throws a SandbondSerializationError.
  function encode(v) {
    try {
      if (typeof v === 'number') return num(v);
      return plain(v, 0) ? JSON.stringify(v) : enc(v, 0);
    } catch (e) {
      if (e instanceof SandbondSerializationError) throw e;
      if (e instanceof RangeError) throw serErr(typeName(v), 'value nested too deeply (or cyclic)');
      throw e; // an exception from a getter or toJSON: the value's own error
    }
  }

  // -- values: JSON to JavaScript -------------------------------------------
  // JSON.parse turns integers beyond 2^53 into inexact numbers; a line that
  // holds a run of 16 digits is rewritten first, unsafe integers becoming an
  // internal tag (the host escapes real "$" keys, so it cannot collide).
  const LONG_DIGITS = /\d{16}/;
  const TOKENS = /"[^"\\]*(?:\\.[^"\\]*)*"|(?<=[:,[\s])-?\d{16,}(?![.eE\d])/g;
  function bigTok(m) {
    if (m.charCodeAt(0) === 34 || Number.isSafeInteger(+m)) return m;
    return '{"$bigint":"' + m + '"}';
  }

  function parseLine(line) {
    if (LONG_DIGITS.test(line)) line = line.replace(TOKENS, bigTok);
    let m;
    try {
      m = JSON.parse(line);
    } catch (e) {
      throw new ProtocolError('invalid JSON from the host: ' + e.message);
    }
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new ProtocolError('message is not an object');
    m.tagged = line.indexOf('"$') >= 0;
    return m;
  }

  function Ref(code) {
    this.code = code;
  }

  function untag(v) {
    if (typeof v !== 'object' || v === null) return v;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = untag(v[i]);
      return v;
    }
    const ks = Object.keys(v);
    if (ks.length === 1 && ks[0].charCodeAt(0) === 36) {
      const k = ks[0], x = v[k];
      if (k === '$bytes' && typeof x === 'string') return Buffer.from(x, 'base64');
      if (k === '$bigint') return BigInt(x);
      if (k.charCodeAt(1) === 36) {
        const o = {};
        o[k.slice(1)] = untag(x);
        return o;
      }
      throw new ProtocolError('unknown tag ' + JSON.stringify(k));
    }
    for (let i = 0; i < ks.length; i++) v[ks[i]] = untag(v[ks[i]]);
    return v;
  }

  function untagArgs(args) {
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (typeof a === 'object' && a !== null && !Array.isArray(a)) {
        const ks = Object.keys(a);
        if (ks.length === 1 && ks[0] === '$ref' && typeof a.$ref === 'string') {
          args[i] = new Ref(a.$ref);
          continue;
        }
      }
      args[i] = untag(a);
    }
    return args;
  }

  // -- reading ----------------------------------------------------------------
  // buf[start, end) holds unread bytes, buf[end, length) is all zeros, scan
  // is where the search for the next newline resumes.
  let buf = Buffer.alloc(Math.max(BUF_MIN, rest.length * 2));
  rest.copy(buf, 0);
  let start = 0, end = rest.length, scan = 0;
  let readBackoff = 1;

  // nextLine returns the next complete line, without consuming it (the
  // caller sets start = lineEnd), or null.
  let lineEnd = 0;
  function nextLine() {
    if (scan >= end && !recover()) return null;
    const i = buf.subarray(scan, end).indexOf(10);
    if (i < 0) {
      scan = end;
      return null;
    }
    const nl = scan + i;
    lineEnd = nl + 1;
    return buf.toString('utf8', start, nl);
  }

  // recover counts bytes that were read when an interrupt unwound the
  // reader before it could (the free part of the buffer is all zeros and
  // the host's lines never contain a NUL byte).
  function recover() {
    if (end >= buf.length || buf[end] === 0) return false;
    const z = buf.indexOf(0, end);
    end = z < 0 ? buf.length : z;
    return true;
  }

  // consumed resets the buffer once everything in it has been used.
  function consumed() {
    if (start !== end || recover()) return;
    if (buf.length > (BUF_MIN << 4)) {
      const nb = Buffer.alloc(BUF_MIN);
      buf = nb;
    } else {
      buf.fill(0, 0, end);
    }
    start = end = scan = 0;
  }

  // room makes space after end for a read.
  function room() {
    if (end < buf.length) return;
    const used = end - start;
    const nb = Buffer.alloc(used * 2 > buf.length ? buf.length * 2 : buf.length);
    buf.copy(nb, 0, start, end);
    const ns = scan - start;
    buf = nb;
    start = 0;
    end = used;
    scan = ns;
  }

  function eof() {
    try {
      flushAll();
    } catch (e) { /* the host is gone */ }
    process.exit(0);
  }

  function readError(e) {
    if (e.code === 'EINTR') return true;
    if (e.code === 'EAGAIN') {
      if (!readReopened) {
        readReopened = true;
        const r = reopen(inFd, fs.constants.O_RDONLY);
        if (r >= 0) {
          inFd = r;
          return true;
        }
      }
      return false;
    }
    throw e;
  }

  // readBlocking waits for more input.
  function readBlocking() {
    if (recover()) return;
    room();
    for (;;) {
      let n;
      try {
        n = fs.readSync(inFd, buf, end, buf.length - end, null);
      } catch (e) {
        if (!readError(e)) {
          sleepMs(readBackoff);
          readBackoff = Math.min(readBackoff * 2, 50);
        }
        continue;
      }
      end += n; // fs.readSync ends with the binding call: nothing can fire in between
      readBackoff = 1;
      if (n === 0) eof();
      return;
    }
  }

  let asyncReading = false;
  function readAsync() {
    if (asyncReading) return;
    if (recover()) {
      setImmediate(run);
      return;
    }
    asyncReading = true;
    room();
    fs.read(inFd, buf, end, buf.length - end, null, (e, n) => {
      asyncReading = false;
      if (e) {
        let retry;
        try {
          retry = readError(e);
        } catch (fatal) {
          protocolFailure(fatal);
        }
        if (retry) {
          readAsync();
        } else {
          setTimeout(readAsync, readBackoff);
          readBackoff = Math.min(readBackoff * 2, 50);
        }
        return;
      }
      readBackoff = 1;
      if (n === 0) eof();
      end += n;
      run();
    });
  }

  function protocolFailure(e) {
    try {
      flushAll();
    } catch (e2) { /* ignore */ }
    try {
      fs.writeSync(2, 'sandbond driver: protocol error: ' + (e && e.message) + '\n');
    } catch (e2) { /* ignore */ }
    process.exit(3);
  }

  // -- scopes -----------------------------------------------------------------
  // scoped(f, a) runs f(a) inside a vm run with breakOnSigint: SIGINT then
  // surfaces as an ERR_SCRIPT_EXECUTION_INTERRUPTED error thrown here.
  const vmOpts = { filename: 'sandbond-scope' };
  const BOS = { breakOnSigint: true };
  const enterScript = new vm.Script('__sandbond_enter()', vmOpts);
  let scopeFn = null, scopeArg = null;
  hidden('__sandbond_enter', function __sandbond_enter() {
    const f = scopeFn, a = scopeArg;
    scopeFn = scopeArg = null;
    return f(a);
  });
  let scopeDepth = 0;
  function scoped(f, a) {
    scopeFn = f;
    scopeArg = a;
    if (scopeDepth > 0) return enterScript.runInThisContext(BOS);
    scopeDepth = 1;
    try {
      return enterScript.runInThisContext(BOS);
    } finally {
      scopeDepth = 0;
      resetSigint();
    }
  }
  function isInterrupt(e) {
    return e !== null && typeof e === 'object' && e.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED';
  }

  // -- protocol state -----------------------------------------------------------
  // One stack of frames, innermost last: requests taken from the input and
  // not yet answered (REQ), and our calls to the host (CALL; sent says
  // whether its line went out). Every change is made in a single step with
  // no function call in between, so an interrupt cannot leave it half done.
  const REQ = 1, CALL = 2;
  const fKind = [], fId = [], fSent = [];
  let fLen = 0;
  let nextCallId = 0;
  let awaiting = null; // {id} of a top-level request whose Promise is awaited
  let inLoop = false;

  // unwind finishes the frames above level after an interrupt unwound the
  // code that owned them, innermost first: a request is answered with the
  // interrupt, a call that went out is waited for (serving the host's
  // requests meanwhile, as usual) and its reply dropped.
  function unwind(level, err) {
    while (fLen > level) {
      const i = fLen - 1;
      if (fKind[i] === REQ) {
        const line = errorLine(fId[i], err || interruptedError());
        if (outBuf.size || errBuf.size) flushAll();
        noop();
        fLen = i;
        const n = rawWrite !== null ? rawWrite(outFd, line, null, 'utf8', undefined, wctx) : writeNow(line);
        wrote(line, n);
      } else if (!fSent[i]) {
        fLen = i;
      } else {
        serveUntil(i);
      }
    }
  }

  // serveUntil serves the host until the reply to the call in frame fi,
  // which it pops and returns.
  function serveUntil(fi) {
    const want = fId[fi];
    for (;;) {
      const line = nextLine();
      if (line === null) {
        consumed();
        if (outBuf.size || errBuf.size) flushAll();
        readBlocking();
        continue;
      }
      const m = parseLine(line);
      const op = m.op;
      if (op === 'return' || op === 'error') {
        if (m.id !== want || fLen !== fi + 1) throw new ProtocolError('reply to ' + m.id + ' while waiting for ' + want);
        fLen = fi;
        start = scan = lineEnd;
        consumed();
        return m;
      }
      takeRequest(m);
      handle(m, true);
    }
  }

  // takeRequest pushes a request frame and consumes its line.
  function takeRequest(m) {
    if (!Number.isSafeInteger(m.id) || m.id < 1) throw new ProtocolError('request without a valid id');
    const i = fLen;
    fKind[i] = REQ;
    fId[i] = m.id;
    fLen = i + 1;
    start = scan = lineEnd;
    consumed();
  }

  // -- user code ----------------------------------------------------------------
  const importOpt = vm.constants && vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER
    ? { importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER } : {};
  const cache = new Map();
  function cached(key, make) {
    let v = cache.get(key);
    if (v === undefined) {
      v = make();
      if (cache.size >= 1024) cache.clear();
      cache.set(key, v);
    }
    return v;
  }
  function evalScript(code) {
    return cached('e' + code, () => new vm.Script('(' + code + '\n)', { filename: 'sandbond:eval', ...importOpt }));
  }
  function execScript(code) {
    return cached('x' + code, () => new vm.Script(code, { filename: 'sandbond:exec', ...importOpt }));
  }
  // callee compiles NAME into a function that calls it with the arguments:
  // (NAME)(...args) keeps `this` for obj.method, obj["m"] and the like.
  function callee(name) {
    return cached('c' + name, () => vm.runInThisContext(
      '(function (__sandbond_args) { return (' + name + '\n)(...__sandbond_args); })',
      { filename: 'sandbond:call', ...importOpt }));
  }

  function runEval(code) {
    return evalScript(code).runInThisContext();
  }
  function runExec(code) {
    execScript(code).runInThisContext();
    return null;
  }
  function runCall(m) {
    const f = callee(m.name);
    const args = m.args;
    for (let i = 0; i < args.length; i++) {
      if (args[i] instanceof Ref) args[i] = runEval(args[i].code);
    }
    return f(args);
  }

  function isThenable(v) {
    return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';
  }

  // -- errors to the host ---------------------------------------------------------
  function excType(e) {
    if (e === null || e === undefined) return String(e);
    if (typeof e !== 'object' && typeof e !== 'function') return typeof e;
    let n, c;
    try {
      n = e.name;
      c = e.constructor && e.constructor.name;
    } catch (x) { /* hostile getter */ }
    if (typeof n !== 'string' || !n) n = typeof c === 'string' && c ? c : 'Error';
    else if (n === 'Error' && typeof c === 'string' && c && c !== 'Error' && c !== 'Object') n = c;
    return n;
  }

  function str(v) {
    try {
      return String(v);
    } catch (e) {
      return Object.prototype.toString.call(v);
    }
  }

  function excMessage(e) {
    if (e !== null && typeof e === 'object') {
      try {
        if (typeof e.message === 'string') return e.message;
      } catch (x) { /* hostile getter */ }
    }
    return str(e);
  }

  function excStack(e) {
    let s;
    try {
      s = e !== null && typeof e === 'object' ? e.stack : undefined;
    } catch (x) {
      return '';
    }
    if (typeof s !== 'string') return '';
    const lines = s.split('\n');
    for (let i = 1; i < lines.length; i++) {
      if (lines[i].indexOf('sandbond-driver.js') >= 0 || lines[i].indexOf('sandbond-scope') >= 0) {
        return lines.slice(0, i).join('\n');
      }
    }
    return s;
  }

  function excToken(e) {
    for (let i = 0; i < 16 && e !== null && typeof e === 'object'; i++) {
      if (e instanceof SandbondHostError) return e.token;
      try {
        e = e.cause;
      } catch (x) {
        return '';
      }
    }
    return '';
  }

  function errorLine(id, e) {
    const ser = e instanceof SandbondSerializationError;
    const o = {
      kind: ser ? 'serialization' : 'exception',
      type: ser && e.valueType ? e.valueType : excType(e),
      message: excMessage(e),
    };
    const tb = excStack(e);
    if (tb) o.traceback = tb;
    const token = excToken(e);
    if (token) o.token = token;
    o.type = toWellFormed(o.type);
    o.message = toWellFormed(o.message);
    if (o.traceback) o.traceback = toWellFormed(o.traceback);
    return '{"op":"error","id":' + id + ',"error":' + JSON.stringify(o) + '}\n';
  }


  // -- requests -----------------------------------------------------------------
  // handle serves the request in the top frame. nested says whether the
  // driver is inside a call to the host (a Promise cannot be awaited then).
  function handle(m, nested) {
    const id = m.id;
    const fi = fLen - 1;
    let v, line;
    try {
      switch (m.op) {
        case 'call':
          if (typeof m.name !== 'string' || !Array.isArray(m.args)) throw new ProtocolError('bad call');
          if (m.tagged) untagArgs(m.args);
          v = scoped(runCall, m);
          break;
        case 'eval':
          if (typeof m.code !== 'string') throw new ProtocolError('bad eval');
          v = scoped(runEval, m.code);
          break;
        case 'exec':
          if (typeof m.code !== 'string') throw new ProtocolError('bad exec');
          v = scoped(runExec, m.code);
          break;
        case 'export':
          if (typeof m.name !== 'string') throw new ProtocolError('bad export');
          defineExport(m.name);
          v = null;
          break;
        default:
          throw new ProtocolError('unknown op ' + JSON.stringify(m.op));
      }
      if (isThenable(v)) {
        if (!nested && fi === 0 && awaiting === null) {
          fLen = fi;
          awaitReply(id, v);
          return;
        }
        Promise.resolve(v).catch(noop);
        throw new Error('sandbond: a request nested in a call to the host returned a Promise; ' +
          'it cannot be awaited while JavaScript waits synchronously for the host');
      }
      line = '{"op":"return","id":' + id + ',"value":' + encode(v) + '}\n';
    } catch (e) {
      if (e instanceof ProtocolError) protocolFailure(e);
      // An interrupt (or a stack overflow) unwound frames above ours.
      if (fLen > fi + 1) unwind(fi + 1, isInterrupt(e) ? null : e);
      line = errorLine(id, e);
    }
    if (outBuf.size || errBuf.size) flushAll();
    noop(); // a pending interrupt fires here, before the reply is marked sent
    fLen = fi;
    const n = rawWrite !== null ? rawWrite(outFd, line, null, 'utf8', undefined, wctx) : writeNow(line);
    wrote(line, n);
  }

  // While a Promise is awaited the driver does not read (a continuation may
  // call the host and read its reply synchronously); a ref'd timer keeps
  // the process alive if nothing else does.
  let keepAlive = null;
  function setAwaiting(a) {
    awaiting = a;
    if (a !== null && keepAlive === null) keepAlive = setInterval(noop, 1 << 30);
    else if (a === null && keepAlive !== null) {
      clearInterval(keepAlive);
      keepAlive = null;
    }
  }

  function awaitReply(id, p) {
    const a = { id };
    setAwaiting(a);
    Promise.resolve(p).then((v) => settle(a, v, null, false), (e) => settle(a, undefined, e, true));
  }

  function abandonAwait() {
    const line = errorLine(awaiting.id, interruptedError('the awaited Promise was abandoned'));
    if (outBuf.size || errBuf.size) flushAll();
    noop();
    awaiting = null;
    const n = rawWrite !== null ? rawWrite(outFd, line, null, 'utf8', undefined, wctx) : writeNow(line);
    wrote(line, n);
    setAwaiting(null);
  }

  function settle(a, v, e, failed) {
    if (awaiting !== a) return; // abandoned after an interrupt
    let line;
    if (failed) {
      line = errorLine(a.id, e);
    } else {
      try {
        line = '{"op":"return","id":' + a.id + ',"value":' + encode(v) + '}\n';
      } catch (x) {
        line = errorLine(a.id, x);
      }
    }
    if (outBuf.size || errBuf.size) flushAll();
    noop();
    awaiting = null;
    const n = rawWrite !== null ? rawWrite(outFd, line, null, 'utf8', undefined, wctx) : writeNow(line);
    wrote(line, n);
    setAwaiting(null);
    resume();
  }

  function defineExport(name) {
    const fn = function () {
      return hostCall(name, Array.prototype.slice.call(arguments));
    };
    Object.defineProperty(fn, 'name', { value: name });
    globalThis[name] = fn;
  }

  // -- calls to the host --------------------------------------------------------
  // An interrupt while the driver waits for the host's reply unwinds to the
  // request whose user code made the call; that request's handler finishes
  // the conversation (see unwind) and answers with the interrupt.
  function hostCall(name, args) {
    if (fLen === 0 && awaiting === null) {
      throw new Error('sandbond: ' + name + ' called while the host is not waiting for this interpreter ' +
        '(from a timer or callback after the request ended); exported functions work only during a request');
    }
    let body;
    try {
      body = encode(args);
    } catch (e) {
      if (e instanceof SandbondSerializationError) {
        throw new SandbondSerializationError('cannot send arguments of ' + name + ' to the host: ' + e.message,
          e.valueType);
      }
      throw e;
    }
    const id = ++nextCallId;
    const line = '{"op":"call","id":' + id + ',"name":' + JSON.stringify(toWellFormed(name)) + ',"args":' + body + '}\n';
    const fi = fLen;
    fKind[fi] = CALL;
    fId[fi] = id;
    fSent[fi] = false;
    fLen = fi + 1;
    if (outBuf.size || errBuf.size) flushAll();
    noop(); // a pending interrupt fires here, before the call is marked sent
    fSent[fi] = true;
    const n = rawWrite !== null ? rawWrite(outFd, line, null, 'utf8', undefined, wctx) : writeNow(line);
    wrote(line, n);
    let m;
    try {
      m = serveUntil(fi);
    } catch (e) {
      if (e instanceof ProtocolError) protocolFailure(e);
      throw e; // an interrupt or a stack overflow: the request's handler unwinds
    }
    if (m.op === 'return') {
      if (!m.tagged) return m.value;
      try {
        return untag(m.value);
      } catch (e) {
        return protocolFailure(e);
      }
    }
    const err = m.error !== null && typeof m.error === 'object' ? m.error : {};
    throw new SandbondHostError(str(err.message === undefined ? '' : err.message), str(err.type || ''),
      str(err.token || ''));
  }


  // -- the main loop --------------------------------------------------------------
  // process._tickCallback runs the nextTick queue and the microtasks now,
  // with the driver on the stack; without it (other runtimes), the driver
  // returns to the event loop after every request.
  const tickCallback = typeof process._tickCallback === 'function' ? process._tickCallback : null;
  const activeResources = typeof process.getActiveResourcesInfo === 'function'
    ? process.getActiveResourcesInfo : null;
  const syncOK = tickCallback !== null && activeResources !== null;
  const AWAIT = 1, ASYNC = 2;

  function tick() {
    for (let i = 0; i < 1000; i++) {
      try {
        tickCallback();
        return;
      } catch (e) {
        if (isInterrupt(e)) throw e;
        process.emit('uncaughtException', e, 'uncaughtException');
      }
    }
  }

  // step serves requests synchronously while the event loop has nothing to
  // do; it returns when it must give the event loop a turn. It runs in a
  // scope nested in the loop scope, so that an interrupt landing in the
  // driver's own code (or while idle) ends only this step: the next one
  // first finishes what the interrupt left (see unwind).
  let interrupted = false;
  function step() {
    if (interrupted) {
      interrupted = false;
      if (fLen > 0) unwind(0, null);
      if (awaiting !== null) abandonAwait();
    }
    for (;;) {
      const line = nextLine();
      if (line === null) {
        consumed();
        if (!syncOK) return awaiting !== null ? AWAIT : ASYNC;
        tick();
        if (awaiting !== null) return AWAIT;
        if (activeResources().length > 0) return ASYNC;
        if (outBuf.size || errBuf.size) flushAll();
        readBlocking();
        continue;
      }
      const m = parseLine(line);
      if (m.op === 'return' || m.op === 'error') throw new ProtocolError('reply to ' + m.id + ' with no call outstanding');
      takeRequest(m);
      handle(m, false);
      if (awaiting !== null) {
        if (!syncOK) return AWAIT;
        tick();
        if (awaiting !== null) return AWAIT;
      }
    }
  }

  // guard(n) is the body of the loop scope, which stays open while the
  // driver serves synchronously: leaving and entering it costs a thread,
  // and around both Node briefly leaves SIGINT at its default action (exit).
  // An interrupt lands in the innermost scope, so guard nests n more scopes
  // around step: an interrupt that ends a step is caught one level up, and
  // only a burst of interrupts that each land while the level below is
  // being re-entered could reach the loop scope itself.
  function guard(n) {
    for (;;) {
      try {
        return n > 0 ? scoped(guard, n - 1) : scoped(step, null);
      } catch (e) {
        if (!isInterrupt(e)) throw e;
        interrupted = true;
      }
    }
  }

  let runScheduled = false;
  function resume() {
    if (inLoop || runScheduled) return;
    runScheduled = true;
    setImmediate(() => {
      runScheduled = false;
      run();
    });
  }

  function run() {
    if (inLoop) return;
    for (;;) {
      let r;
      inLoop = true;
      try {
        r = scoped(guard, 3);
      } catch (e) {
        inLoop = false;
        if (!isInterrupt(e)) protocolFailure(e);
        interrupted = true;
        continue;
      }
      inLoop = false;
      if (outBuf.size || errBuf.size) flushAll();
      if (r === ASYNC) readAsync();
      return;
    }
  }

  // While no scope is open, SIGINT would end the process: ignore it, except
  // that it abandons an awaited Promise. The handler is a bare libuv signal
  // handle, not a process listener: with listeners, every outermost
  // breakOnSigint run removes them first, leaving SIGINT at its default
  // action while Node starts its watchdog thread. When the outermost scope
  // ends, Node's watchdog puts back its exit-on-SIGINT handler; restarting
  // the handle reinstalls libuv's at once (resetSigint).
  function onSigint() {
    if (awaiting !== null && !inLoop) {
      abandonAwait();
      resume();
    }
  }
  let sigWrap = null;
  try {
    const quiet = process.noDeprecation;
    process.noDeprecation = true; // process.binding('signal_wrap') warns
    try {
      const w = new (process.binding('signal_wrap').Signal)();
      w.onsignal = onSigint;
      if (w.start(2) === 0) {
        w.unref();
        sigWrap = w;
      } else {
        w.close();
      }
    } finally {
      process.noDeprecation = quiet;
    }
  } catch (e) { /* not available: a process listener below */ }
  if (sigWrap === null) process.on('SIGINT', onSigint);
  function resetSigint() {
    if (sigWrap !== null) {
      sigWrap.stop();
      sigWrap.start(2);
    }
  }

  send(JSON.stringify({ op: 'ready', version: 1, language: 'node', info: 'Node.js ' + process.version }) + '\n');
  run();
});
