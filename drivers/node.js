// sandbond Node.js driver (stage 2). Protocol: bond/PROTOCOL.md; design
// notes: drivers/node.go. Stage 1 evaluates this file with
// vm.runInThisContext and calls the function it yields with its require, the
// protocol descriptors, the bytes it read past stage 2 and whether V8 took
// the host's code cache (drivers/node_compile.go). Everything lives
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
// - Writing is resumable the same way: a message (its line and the blobs
//   that follow it on the blob pipe) is queued in the same step that marks
//   it (frame popped or flagged as sent), and drainOut writes the queue
//   with the byte count added right after each write(2) (the raw binding,
//   see rawWrite). An interrupt in the middle of a 64 MiB blob ends the
//   step; the next write or read of any kind first drains what is left
//   (settleIO), so the streams stay in sync.
// - Blobs in (the host's {"$blob":N} tags) are read the same way: their
//   sizes are recorded in the step that consumes the line, each read
//   adds its count at once (fs.readSync ends with the binding call), and
//   settleIO finishes an interrupted message's blobs, into buffers nobody
//   will use, before the next line is read or anything is written.
// - Handles: keys are taken from a counter that never goes back; a
//   request's new keys are listed in its frame until its reply is queued,
//   so a request that fails or is interrupted drops them again.

(function sandbondDriver(require, IN_FD, OUT_FD, rest, codeCache) {
  'use strict';
  const fs = require('fs');
  const vm = require('vm');

  const MAX_DEPTH = 10000;
  const UNSCOPED_FRAMES = 2 * 64; // frames (a request and its call per level): see scoped
  const OUT_LIMIT = 8192;
  const BUF_MIN = 1 << 16;

  // -- descriptors ------------------------------------------------------
  // Reopening /proc/self/fd/N gives a private, blocking, close-on-exec
  // description of the same pipe: child processes of user code do not
  // inherit the protocol, and non-blocking descriptors handed over by a
  // launcher are no longer a problem. Sockets (or no /proc) keep the
  // originals; EAGAIN is then handled by waiting with a backoff.
  let inFd = IN_FD, outFd = OUT_FD;
  let blobIn = -1, blobOut = -1; // the blob pipes (SANDBOND_SIDE), -1 without
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
  // SANDBOND_SIDE=IN,OUT,SOCK: the blob pipes are reopened like the
  // protocol descriptors (blocking, close-on-exec) and their originals
  // closed. Node cannot receive descriptors (no recvmsg) and cannot mark the
  // socket close-on-exec (no fcntl), so the socket is closed. A number that
  // is not a descriptor open here (or is a standard or protocol one) counts
  // as absent; blobs need both pipes.
  {
    const side = process.env.SANDBOND_SIDE;
    delete process.env.SANDBOND_SIDE;
    const fds = typeof side === 'string' ? side.split(',') : [];
    const seen = [];
    for (let i = 0; i < 3; i++) {
      const s = i < fds.length ? fds[i].trim() : '';
      let fd = /^\d{1,9}$/.test(s) ? +s : -1;
      if (fd <= 2 || fd === IN_FD || fd === OUT_FD || seen.indexOf(fd) >= 0) fd = -1;
      if (fd >= 0) {
        try {
          fs.fstatSync(fd);
          seen.push(fd);
        } catch (e) {
          fd = -1;
        }
      }
      fds[i] = fd;
    }
    if (fds[2] >= 0) closeQuiet(fds[2]);
    if (fds[0] >= 0 && fds[1] >= 0) {
      blobIn = reopen(fds[0], fs.constants.O_RDONLY);
      if (blobIn >= 0) closeQuiet(fds[0]);
      else blobIn = fds[0];
      blobOut = reopen(fds[1], fs.constants.O_WRONLY);
      if (blobOut >= 0) closeQuiet(fds[1]);
      else blobOut = fds[1];
    } else {
      if (fds[0] >= 0) closeQuiet(fds[0]);
      if (fds[1] >= 0) closeQuiet(fds[1]);
    }
  }
  const blobOn = blobIn >= 0 && blobOut >= 0;
  const BLOB_MIN = 32768; // bytes values this long or longer travel as $blob
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
  // A request named a handle that is not (or no longer) in the table.
  class SandbondHandleError extends Error {}
  SandbondHandleError.prototype.name = 'SandbondHandleError';
  class ProtocolError extends Error {}

  function hidden(name, value) {
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  }
  hidden('SandbondHostError', SandbondHostError);
  hidden('SandbondSerializationError', SandbondSerializationError);
  hidden('SandbondHandleError', SandbondHandleError);
  hidden('sandbond', Object.freeze({
    HostError: SandbondHostError,
    SerializationError: SandbondSerializationError,
    HandleError: SandbondHandleError,
    protocol: 1,
    // whether V8 took the host's code cache for this driver (null: none sent)
    codeCache: codeCache,
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
  // Everything goes out through a queue of one message: a line for the
  // protocol output (a string, or a Buffer once part of it went out) and
  // the blobs that follow it on the blob output. A message is queued with
  // no JavaScript function entry between its mark in the protocol state and
  // the assignments (an interrupt fires at function entries and loop
  // back-edges), and drainOut adds each write(2)'s count right after the
  // binding returns, so that after an interrupt the next settleIO writes
  // exactly what is left.
  let qLine = null, qOff = 0; // the line, its bytes written
  let qBlobs = null, qBi = 0, qBoff = 0; // [view, length, ...], index of the blob being written, its bytes written

  function noop() {}

  // rawWrite and rawWriteBuf are the bindings fs.writeSync calls, taken only
  // when fs.writeSync calls them exactly so and then runs more JavaScript
  // (handleErrorFromBinding, where an interrupt would lose the count);
  // otherwise fs.writeSync is used (on Node versions where it ends with the
  // binding call, it has no such gap).
  const wctx = {};
  let rawWrite = null, rawWriteBuf = null;
  {
    const src = String(fs.writeSync);
    let b = null;
    if (/handleErrorFromBinding\(ctx\)/.test(src) && typeof process.binding === 'function') {
      try {
        b = process.binding('fs');
      } catch (e) { /* not available */ }
    }
    if (b !== null && typeof b.writeString === 'function' &&
        /binding\.writeString\(fd, buffer, offset, length,\s*undefined, ctx\)/.test(src)) rawWrite = b.writeString;
    if (b !== null && typeof b.writeBuffer === 'function' &&
        /binding\.writeBuffer\(fd, buffer, offset, length, position,\s*undefined, ctx\)/.test(src)) rawWriteBuf = b.writeBuffer;
  }
  // writeStr and writeBuf return the byte count, a negative libuv error
  // (wctx has it) or the error fs.writeSync threw.
  function writeStr(fd, s) {
    if (rawWrite !== null) return rawWrite(fd, s, null, 'utf8', undefined, wctx);
    try {
      return fs.writeSync(fd, s);
    } catch (e) {
      return e;
    }
  }
  const CHUNK = 1 << 30; // the bindings want int32 offsets and lengths
  function writeBuf(fd, b, off, len) {
    if (len > CHUNK) len = CHUNK;
    if (off > CHUNK) {
      b = b.subarray(off, off + len);
      off = 0;
    }
    if (rawWriteBuf !== null) return rawWriteBuf(fd, b, off, len, null, undefined, wctx);
    try {
      return fs.writeSync(fd, b, off, len);
    } catch (e) {
      return e;
    }
  }
  const UV_EINTR = -4, UV_EAGAIN = -11;
  let writeBackoff = 1;
  // writeFailed handles a failed write on fd (n as writeStr returns it):
  // it returns to retry (EINTR, EAGAIN after a wait) or throws.
  function writeFailed(n, fd) {
    let code = typeof n === 'number' ? wctx.code : n.code;
    if (typeof n === 'number') {
      if (n === UV_EINTR) code = 'EINTR';
      else if (n === UV_EAGAIN) code = 'EAGAIN';
      wctx.errno = wctx.code = wctx.syscall = undefined;
    }
    if (code === 'EINTR') return;
    if (code === 'EAGAIN') {
      if (fd === outFd && !writeReopened) {
        writeReopened = true;
        const w = reopen(outFd, fs.constants.O_WRONLY);
        if (w >= 0) {
          outFd = w;
          return;
        }
      }
      sleepMs(writeBackoff);
      writeBackoff = Math.min(writeBackoff * 2, 50);
      return;
    }
    if (typeof n !== 'number') throw n;
    const e = new Error('write: ' + (code || n));
    e.code = code;
    throw e;
  }

  let zeros = null;
  // drainOut writes what is left of the queued message.
  function drainOut() {
    for (;;) {
      const d = qLine;
      if (d === null) break;
      let n;
      if (typeof d === 'string') {
        if (qOff > 0) { // part of it went out: the rest as bytes
          qLine = Buffer.from(d);
          continue;
        }
        n = writeStr(outFd, d);
      } else {
        n = qOff < d.length ? writeBuf(outFd, d, qOff, d.length - qOff) : 0;
      }
      if (typeof n === 'number' && n >= 0) {
        qOff += n;
      } else {
        writeFailed(n, outFd);
        continue;
      }
      writeBackoff = 1;
      if (qOff >= d.length && (typeof d !== 'string' || qOff >= Buffer.byteLength(d))) {
        qLine = null;
        qOff = 0;
      }
    }
    for (;;) {
      const bl = qBlobs;
      if (bl === null) return;
      const i = qBi;
      if (i >= bl.length) {
        qBlobs = null;
        qBi = qBoff = 0;
        return;
      }
      const want = bl[i + 1];
      if (qBoff >= want) {
        qBi = i + 2;
        qBoff = 0;
        continue;
      }
      // Only user code that ran after an interrupt can have detached or
      // shrunk the buffer in the meantime: zeros keep the streams in sync.
      const b = bl[i], have = Math.min(b.length, want);
      if (have <= qBoff && zeros === null) zeros = Buffer.alloc(1 << 16);
      const n = qBoff < have ? writeBuf(blobOut, b, qBoff, have - qBoff)
        : writeBuf(blobOut, zeros, 0, Math.min(want - qBoff, zeros.length));
      if (typeof n === 'number' && n >= 0) {
        qBoff += n;
        writeBackoff = 1;
      } else {
        writeFailed(n, blobOut);
      }
    }
  }

  // settleIO finishes what an interrupt left half done: the blobs of a
  // message read from the host, then the message being written.
  function settleIO() {
    if (bInSizes !== null) finishBlobIn();
    if (qLine !== null || qBlobs !== null) drainOut();
  }

  // send writes one protocol line (a string ending in a newline), pending
  // output first.
  function send(line) {
    settleIO();
    if (outBuf.size || errBuf.size) flushAll();
    qLine = line;
    qOff = 0;
    drainOut();
  }

  // The replies and calls: each is marked (its frame popped or flagged as
  // sent) and queued in one step. noop() runs first: a pending interrupt
  // fires there, before the mark.
  function sendReply(fi, line, bl) {
    settleIO();
    if (outBuf.size || errBuf.size) flushAll();
    noop();
    fLen = fi;
    fKeys[fi] = null;
    qLine = line;
    qOff = 0;
    qBlobs = bl;
    qBi = qBoff = 0;
    drainOut();
  }
  function sendCall(fi, line, bl) {
    settleIO();
    if (outBuf.size || errBuf.size) flushAll();
    noop();
    fSent[fi] = true;
    qLine = line;
    qOff = 0;
    qBlobs = bl;
    qBi = qBoff = 0;
    drainOut();
  }
  function sendAwaited(line, bl) {
    settleIO();
    if (outBuf.size || errBuf.size) flushAll();
    noop();
    awaiting = null;
    qLine = line;
    qOff = 0;
    qBlobs = bl;
    qBi = qBoff = 0;
    drainOut();
  }

  // -- output ---------------------------------------------------------------
  // process.stdout, process.stderr and the global console are made on first
  // use: require('stream') costs some 2 ms at start-up, and 6-8 ms with a
  // non-default V8 flag such as --stack-size (Node's code cache for its
  // built-in modules is then rejected and they are compiled from source).
  // Driver output (uncaught errors) goes through st.put, not the streams.
  function makeOut(fd) {
    const st = { fd, parts: [], size: 0, dec: null, w: null, put };
    function put(chunk, encoding) {
      let s;
      if (typeof chunk === 'string') {
        s = !encoding || encoding === 'utf8' || encoding === 'utf-8' ? chunk
          : decoder(st).write(Buffer.from(chunk, encoding));
      } else if (chunk instanceof Uint8Array) {
        s = decoder(st).write(chunk);
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
    return st;
  }
  function decoder(st) {
    if (st.dec === null) st.dec = new (require('string_decoder').StringDecoder)('utf8');
    return st.dec;
  }

  // writable(st) is st's stream.Writable (process.stdout or process.stderr),
  // made on first use.
  function writable(st) {
    if (st.w !== null) return st.w;
    const put = st.put;
    const w = new (require('stream').Writable)({
      decodeStrings: false,
      write(chunk, enc, cb) {
        put(chunk, enc);
        cb();
      },
    });
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
    w.fd = st.fd;
    w.isTTY = false;
    w._isStdio = true;
    w.getColorDepth = () => 1;
    w.hasColors = () => false;
    st.w = w;
    return w;
  }

  function flushOut(st) {
    if (!st.size && !st.parts.length) return;
    let data = st.parts.length === 1 ? st.parts[0] : st.parts.join('');
    if (!wellFormed(data)) data = toWellFormed(data);
    const line = '{"op":"output","fd":' + st.fd + ',"data":' + JSON.stringify(data) + '}\n';
    settleIO();
    qLine = line; // taken from the buffer in one step
    qOff = 0;
    st.parts = [];
    st.size = 0;
    drainOut();
  }

  function flushAll() {
    flushOut(outBuf);
    flushOut(errBuf);
  }

  const outBuf = makeOut(1), errBuf = makeOut(2);
  for (const [name, st] of [['stdout', outBuf], ['stderr', errBuf]]) {
    Object.defineProperty(process, name, { configurable: true, enumerable: true, get: () => writable(st) });
  }
  // The global console writes to process.stdout and process.stderr (so that
  // replacing their write methods captures it, as in Node); it becomes a
  // plain data property again on first use or assignment.
  const NodeConsole = console.Console;
  function setConsole(v) {
    Object.defineProperty(globalThis, 'console', { value: v, writable: true, configurable: true, enumerable: false });
  }
  Object.defineProperty(globalThis, 'console', {
    configurable: true,
    enumerable: false,
    get() {
      const c = new NodeConsole({ stdout: writable(outBuf), stderr: writable(errBuf) });
      setConsole(c);
      return c;
    },
    set: setConsole,
  });

  process.on('exit', () => {
    try {
      bInSizes = null; // exiting: blobs still coming from the host do not matter
      flushAll();
    } catch (e) { /* the host is gone */ }
  });
  // Exceptions and rejections nobody handles in asynchronous user code are
  // reported on stderr; the bond lives on.
  process.on('uncaughtException', (e) => {
    try {
      errBuf.put('Uncaught ' + (e && e.stack ? e.stack : String(e)) + '\n');
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

  // bytesTag writes bytes as $bytes, or as $blob when bl (the blobs of the
  // line being encoded: view, length, ...) is given and they are long.
  function bytesTag(u8, bl) {
    const n = u8.byteLength;
    if (bl !== null && n >= BLOB_MIN) {
      bl.push(u8, n);
      return '{"$blob":' + n + '}';
    }
    return '{"$bytes":"' + Buffer.from(u8.buffer, u8.byteOffset, n).toString('base64') + '"}';
  }

  // Kept stands for a value the driver stored in its handle table.
  function Kept(k) {
    this.k = k;
  }

  // enc writes v's wire form: tags, BigInt digits, undefined as null.
  function enc(v, d, bl) {
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
            s += enc(v[i], d + 1, bl);
          }
          return s + ']';
        }
        if (v instanceof Uint8Array) return bytesTag(v, bl);
        if (v instanceof ArrayBuffer) return bytesTag(new Uint8Array(v), bl);
        if (v instanceof Kept) return '{"$handle":' + v.k + '}';
        if (typeof v.toJSON === 'function') return enc(v.toJSON(''), d + 1, bl);
        const p = Object.getPrototypeOf(v);
        if (p !== Object.prototype && p !== null) {
          if (v instanceof String || v instanceof Number || v instanceof Boolean) return enc(v.valueOf(), d + 1, bl);
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
          s += JSON.stringify(esc ? '$' + k : k) + ':' + enc(v[k], d + 1, bl);
        }
        return s + '}';
      }
      default:
        throw serErr(typeof v, 'cannot serialize a ' + typeof v);
    }
  }

  // encode returns the JSON text of v or throws a SandbondSerializationError.
  // bl, an empty array or null, receives the blobs the text announces.
  function encode(v, bl) {
    try {
      if (typeof v === 'number') return num(v);
      return plain(v, 0) ? JSON.stringify(v) : enc(v, 0, bl);
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

  // The host's {"$blob":N} tags are found in the text, where their order is
  // the order of their bytes on the blob pipe (JSON.parse puts integer-like
  // keys first, so the parsed tree's order can differ), and rewritten as
  // {"$blobi":I}, the index in the message's list of blobs.
  const BLOB_TOKENS = /"[^"\\]*(?:\\.[^"\\]*)*"|\{\s*"\$blob"\s*:\s*(\d+)\s*\}/g;

  // parseLine parses a line from the host. A message with blobs gets
  // bsz (their sizes) and bufs (the array that receives them).
  function parseLine(line) {
    let sizes = null;
    if (line.indexOf('"$blob"') >= 0) {
      const sz = [];
      line = line.replace(BLOB_TOKENS, (t, n) => {
        if (n === undefined) return t;
        if (!Number.isSafeInteger(+n)) throw new ProtocolError('blob size ' + n + ' out of range');
        sz.push(+n);
        return '{"$blobi":' + (sz.length - 1) + '}';
      });
      if (sz.length) {
        if (!blobOn) throw new ProtocolError('$blob from the host, but the driver has no blob pipes');
        sizes = sz;
      }
    }
    if (LONG_DIGITS.test(line)) line = line.replace(TOKENS, bigTok);
    let m;
    try {
      m = JSON.parse(line);
    } catch (e) {
      throw new ProtocolError('invalid JSON from the host: ' + e.message);
    }
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new ProtocolError('message is not an object');
    m.tagged = line.indexOf('"$') >= 0;
    m.bsz = sizes;
    m.bufs = sizes === null ? null : [];
    return m;
  }

  function Ref(code) {
    this.code = code;
  }

  // untag decodes the tags in v, in place; bufs holds the message's blobs.
  function untag(v, bufs) {
    if (typeof v !== 'object' || v === null) return v;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = untag(v[i], bufs);
      return v;
    }
    const ks = Object.keys(v);
    if (ks.length === 1 && ks[0].charCodeAt(0) === 36) {
      const k = ks[0], x = v[k];
      if (k === '$bytes' && typeof x === 'string') return Buffer.from(x, 'base64');
      if (k === '$handle') return lookup(x);
      if (k === '$blobi' && bufs !== null && bufs !== undefined) {
        const b = bufs[x];
        if (b instanceof Error) throw b; // it could not be allocated
        if (b === undefined) throw new ProtocolError('blob ' + x + ' missing');
        return b;
      }
      if (k === '$file' && typeof x === 'object' && x !== null && !Array.isArray(x)) {
        // A file's contents: a Buffer, as for bytes.
        const xs = Object.keys(x);
        if (xs.length === 1 && (xs[0] === '$bytes' || xs[0] === '$blobi')) return untag(x, bufs);
        throw new ProtocolError('$file holds neither $bytes nor $blob');
      }
      if (k === '$bigint') return BigInt(x);
      if (k.charCodeAt(1) === 36) {
        const o = {};
        o[k.slice(1)] = untag(x, bufs);
        return o;
      }
      throw new ProtocolError('unknown tag ' + JSON.stringify(k));
    }
    for (let i = 0; i < ks.length; i++) v[ks[i]] = untag(v[ks[i]], bufs);
    return v;
  }

  // untagArgs decodes an args array, whose direct elements may also be
  // {"$ref":CODE}.
  function untagArgs(args, bufs) {
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (typeof a === 'object' && a !== null && !Array.isArray(a)) {
        const ks = Object.keys(a);
        if (ks.length === 1 && ks[0] === '$ref' && typeof a.$ref === 'string') {
          args[i] = new Ref(a.$ref);
          continue;
        }
      }
      args[i] = untag(a, bufs);
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
      bInSizes = null;
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

  // -- blobs from the host ------------------------------------------------------
  // The blobs of the message last consumed: their sizes, their buffers (each
  // allocated when its read starts), the one being read and its bytes read.
  // The step that consumes a line sets them (bInSizes is then null: settleIO
  // runs before every line is read); each read adds its count at once.
  let bInSizes = null, bInBufs = null, bInIdx = 0, bInGot = 0;
  let blobScratch = null;
  // allocBlob allocates a blob's buffer (not zeroed: every byte is read into
  // it before anyone sees it), or returns the error for the request.
  function allocBlob(size) {
    try {
      return Buffer.allocUnsafe(size);
    } catch (e) {
      return e;
    }
  }
  function finishBlobIn() {
    for (;;) {
      const sizes = bInSizes;
      if (sizes === null) return;
      const i = bInIdx;
      if (i >= sizes.length) {
        bInSizes = bInBufs = null;
        bInIdx = bInGot = 0;
        return;
      }
      const size = sizes[i];
      let b = bInBufs[i];
      if (b === undefined) {
        b = allocBlob(size);
        bInBufs[i] = b;
      }
      if (bInGot >= size) {
        bInIdx = i + 1;
        bInGot = 0;
        continue;
      }
      let t = b, off = bInGot, len = size - bInGot;
      if (b instanceof Error) { // read into scratch space and drop
        if (blobScratch === null) blobScratch = Buffer.allocUnsafe(1 << 16);
        t = blobScratch;
        off = 0;
        len = Math.min(len, t.length);
      } else if (off > CHUNK) {
        t = b.subarray(off);
        off = 0;
      }
      if (len > CHUNK) len = CHUNK;
      let n;
      try {
        n = fs.readSync(blobIn, t, off, len, null);
      } catch (e) {
        if (e.code === 'EINTR') continue;
        if (e.code !== 'EAGAIN') throw e;
        sleepMs(readBackoff);
        readBackoff = Math.min(readBackoff * 2, 50);
        continue;
      }
      bInGot += n; // fs.readSync ends with the binding call: nothing can fire in between
      readBackoff = 1;
      if (n === 0) protocolFailure(new Error('end of the blob input inside a blob'));
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
      bInSizes = null;
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
  // A vm run's C++ frames take about 3.3 KiB of stack, about three quarters
  // of a level's 4.3 KiB, so requests nested more than 64 levels deep
  // (Go->JS->Go...) run f(a) directly: about 750 levels then fit in V8's
  // default 984 KiB stack instead of 226, and an interrupt down there
  // unwinds to the 64th level's scope, which answers the requests above it
  // (unwind). fLen counts the levels robustly: a counter here would miss
  // the decrement when an interrupt unwinds.
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
    if (fLen > UNSCOPED_FRAMES) return f(a);
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
  const fKeys = []; // REQ: the handle keys stored for its reply, or null
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
        dropKeys(i);
        sendReply(i, errorLine(fId[i], err || interruptedError()), null);
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
      settleIO();
      const line = nextLine();
      if (line === null) {
        consumed();
        if (outBuf.size || errBuf.size) flushAll();
        readBlocking();
        continue;
      }
      const m = parseLine(line);
      release(m);
      const op = m.op;
      if (op === 'return' || op === 'error') {
        if (m.id !== want || fLen !== fi + 1) throw new ProtocolError('reply to ' + m.id + ' while waiting for ' + want);
        fLen = fi;
        start = scan = lineEnd;
        bInSizes = m.bsz;
        bInBufs = m.bufs;
        bInIdx = bInGot = 0;
        consumed();
        finishBlobIn();
        return m;
      }
      takeRequest(m);
      finishBlobIn();
      handle(m, true);
    }
  }

  // -- handles --------------------------------------------------------------------
  const handles = new Map();
  let lastKey = 0;
  function lookup(k) {
    const v = handles.get(k);
    if (v === undefined && !handles.has(k)) {
      throw new SandbondHandleError('unknown handle ' + JSON.stringify(k) + ' (released, or never issued by this interpreter)');
    }
    return v;
  }
  // keep stores v for the reply of the request in frame fi: the key is
  // listed in the frame before v enters the table.
  function keep(v, fi) {
    let ks = fKeys[fi];
    if (ks === null || ks === undefined) {
      ks = [];
      fKeys[fi] = ks;
    }
    const k = ++lastKey;
    ks.push(k);
    handles.set(k, v);
    return new Kept(k);
  }
  // dropKeys removes the keys stored for the failed request in frame fi.
  function dropKeys(fi) {
    const ks = fKeys[fi];
    if (ks === null || ks === undefined) return;
    for (let j = 0; j < ks.length; j++) handles.delete(ks[j]);
    fKeys[fi] = null;
  }
  // release drops the keys a message's release member (and a release
  // request's handles) lists. It runs before the message is consumed: run
  // again after an interrupt, it changes nothing, and an interrupt cannot
  // leave a release half done.
  function release(m) {
    const r = m.release;
    if (r !== undefined) {
      if (!Array.isArray(r)) throw new ProtocolError('release is not an array');
      for (let j = 0; j < r.length; j++) handles.delete(r[j]);
    }
    const h = m.handles;
    if (m.op === 'release' && Array.isArray(h)) {
      for (let j = 0; j < h.length; j++) handles.delete(h[j]);
    }
  }

  // takeRequest pushes a request frame and consumes its line.
  function takeRequest(m) {
    if (!Number.isSafeInteger(m.id) || m.id < 1) throw new ProtocolError('request without a valid id');
    const i = fLen;
    fKind[i] = REQ;
    fId[i] = m.id;
    fKeys[i] = null;
    fLen = i + 1;
    start = scan = lineEnd;
    bInSizes = m.bsz;
    bInBufs = m.bufs;
    bInIdx = bInGot = 0;
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
    return f(refArgs(m.args));
  }

  function isThenable(v) {
    return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';
  }

  // instantiator compiles NAME into a function that runs new (NAME)(...args).
  function instantiator(name) {
    return cached('n' + name, () => vm.runInThisContext(
      '(function (__sandbond_args) { return new (' + name + '\n)(...__sandbond_args); })',
      { filename: 'sandbond:new', ...importOpt }));
  }
  function refArgs(args) {
    for (let i = 0; i < args.length; i++) {
      if (args[i] instanceof Ref) args[i] = runEval(args[i].code);
    }
    return args;
  }
  function runNew(m) {
    const f = instantiator(m.name);
    return f(refArgs(m.args));
  }

  // The operations on handles (m.obj is the object the handle names).
  function describe(o) {
    return o === null || o === undefined ? String(o) : typeName(o);
  }
  function runMethod(m) {
    const o = m.obj, name = m.name;
    if (o === null || o === undefined) throw new TypeError(`Cannot read properties of ${o} (reading '${name}')`);
    const f = o[name];
    if (typeof f !== 'function') throw new TypeError(`${describe(o)} has no method ${JSON.stringify(name)}`);
    return Reflect.apply(f, o, refArgs(m.args));
  }
  function runGet(m) {
    const o = m.obj;
    if (o === null || o === undefined) throw new TypeError(`Cannot read properties of ${o} (reading '${m.name}')`);
    return o[m.name];
  }
  function runSet(m) {
    const o = m.obj;
    if (o === null || o === undefined) throw new TypeError(`Cannot set properties of ${o} (setting '${m.name}')`);
    o[m.name] = m.value; // strict mode: read-only properties and primitives throw
    return null;
  }
  function runLen(o) {
    if (o !== null && o !== undefined && typeof o !== 'function') {
      const n = o.length;
      if (typeof n === 'number') return n;
      const z = o.size;
      if (typeof z === 'number') return z;
      if (o instanceof ArrayBuffer || (typeof SharedArrayBuffer === 'function' && o instanceof SharedArrayBuffer)) {
        return o.byteLength;
      }
    }
    throw new TypeError(`${describe(o)} has no length (neither .length nor .size)`);
  }
  const BINARY = {
    add: (a, b) => a + b,
    sub: (a, b) => a - b,
    mul: (a, b) => a * b,
    div: (a, b) => a / b,
    mod: (a, b) => a % b,
    eq: (a, b) => a === b,
    ne: (a, b) => a !== b,
    lt: (a, b) => a < b,
    le: (a, b) => a <= b,
    gt: (a, b) => a > b,
    ge: (a, b) => a >= b,
    contains(o, x) {
      if (o instanceof Map || o instanceof Set || o instanceof WeakMap || o instanceof WeakSet) return o.has(x);
      if (typeof o === 'string') return o.includes(x);
      if (o !== null && (typeof o === 'object' || typeof o === 'function')) {
        if (typeof o.includes === 'function') return o.includes(x);
        if (typeof o.has === 'function') return o.has(x);
        return x in o;
      }
      throw new TypeError(`cannot look for a member in ${describe(o)}`);
    },
    getitem(o, x) {
      if (o instanceof Map || o instanceof WeakMap) return o.get(x);
      if (o === null || o === undefined) throw new TypeError(`Cannot read properties of ${o}`);
      return o[x];
    },
  };
  function runOp(m) {
    const name = m.name, o = m.obj;
    if (name === 'str') return String(o);
    if (!Object.prototype.hasOwnProperty.call(BINARY, name)) {
      throw new TypeError(`unsupported operator ${JSON.stringify(name)}`);
    }
    if (m.args.length < 1) throw new TypeError(`operator ${name} needs a right operand`);
    return BINARY[name](o, m.args[0]);
  }
  function runIter(o) {
    if (o === null || o === undefined) throw new TypeError(`${o} is not iterable`);
    const f = o[Symbol.iterator];
    if (typeof f === 'function') {
      const it = Reflect.apply(f, o, []);
      if (it === null || (typeof it !== 'object' && typeof it !== 'function')) {
        throw new TypeError('Result of the Symbol.iterator method is not an object');
      }
      return it;
    }
    if (typeof o.next === 'function') return o; // an iterator that is not iterable
    if (typeof o[Symbol.asyncIterator] === 'function') {
      throw new TypeError(`${describe(o)} is only asynchronously iterable (not supported)`);
    }
    throw new TypeError(`${describe(o)} is not iterable`);
  }
  function runNext(m) {
    const it = m.obj, count = m.count, items = [];
    if (it === null || it === undefined || typeof it.next !== 'function') {
      throw new TypeError(`${describe(it)} is not an iterator (no next method)`);
    }
    while (items.length < count) {
      const r = it.next();
      if (r === null || (typeof r !== 'object' && typeof r !== 'function')) {
        throw new TypeError(`Iterator result ${String(r)} is not an object`);
      }
      if (r.done) break;
      items.push(r.value);
    }
    return items;
  }

  // runValue returns v as plain data (Buffers and BigInts included), as
  // JSON.stringify would see it: toJSON is honoured (Date: its ISO
  // string), other objects give their own enumerable string-keyed
  // properties, members that are undefined, functions or symbols are left
  // out (null in arrays; undefined itself gives null). Beyond JSON: a Map
  // becomes an object (string or number keys only), a Set and typed arrays
  // other than Uint8Array become arrays. Functions, symbols, Promises and
  // cycles are serialization errors.
  function runValue(v) {
    if (v === undefined) return null;
    const r = plainValue(v, '', 0, new Set());
    if (r === OMIT) {
      const t = typeName(v);
      throw serErr(t, t + ' has no plain value');
    }
    return r;
  }
  const OMIT = {};
  function plainValue(v, key, d, seen) {
    switch (typeof v) {
      case 'string':
      case 'number':
      case 'boolean':
      case 'bigint':
        return v;
      case 'undefined':
      case 'function':
      case 'symbol':
        return OMIT;
    }
    if (v === null) return null;
    if (v instanceof Uint8Array || v instanceof ArrayBuffer) return v;
    if (d > MAX_DEPTH) throw serErr(typeName(v), 'value nested too deeply');
    if (seen.has(v)) throw serErr(typeName(v), 'cyclic value');
    seen.add(v);
    let r;
    if (typeof v.toJSON === 'function') {
      r = plainValue(v.toJSON(key), key, d + 1, seen);
    } else if (isThenable(v)) {
      throw serErr(typeName(v), 'a Promise has no plain value (await it first)');
    } else if (v instanceof Number || v instanceof String || v instanceof Boolean || v instanceof BigInt) {
      r = v.valueOf();
    } else if (Array.isArray(v)) {
      r = [];
      for (let i = 0; i < v.length; i++) {
        const y = plainValue(v[i], String(i), d + 1, seen);
        r.push(y === OMIT ? null : y);
      }
    } else if (v instanceof Set || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
      r = [];
      for (const x of v) {
        const y = plainValue(x, String(r.length), d + 1, seen);
        r.push(y === OMIT ? null : y);
      }
    } else if (v instanceof Map) {
      r = Object.create(null); // a "__proto__" key stays a key
      for (const [k, x] of v) {
        if (typeof k !== 'string' && typeof k !== 'number') {
          throw serErr(typeName(k), 'a Map key that is not a string or number has no plain value');
        }
        const y = plainValue(x, String(k), d + 1, seen);
        if (y !== OMIT) r[String(k)] = y;
      }
    } else {
      r = Object.create(null); // a "__proto__" key stays a key
      const ks = Object.keys(v);
      for (let i = 0; i < ks.length; i++) {
        const y = plainValue(v[ks[i]], ks[i], d + 1, seen);
        if (y !== OMIT) r[ks[i]] = y;
      }
    }
    seen.delete(v);
    return r;
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
  // target looks up the object a request's handle member names.
  function target(m) {
    if (typeof m.handle !== 'number') throw new ProtocolError('bad ' + m.op + ': no handle');
    m.obj = lookup(m.handle);
  }
  function needName(m) {
    if (typeof m.name !== 'string') throw new ProtocolError('bad ' + m.op + ': no name');
  }
  function needArgs(m, optional) {
    if (optional && m.args === undefined) m.args = [];
    else if (!Array.isArray(m.args)) throw new ProtocolError('bad ' + m.op + ': args is not an array');
  }

  // handle serves the request in the top frame. nested says whether the
  // driver is inside a call to the host (a Promise cannot be awaited then).
  function handle(m, nested) {
    const id = m.id;
    const fi = fLen - 1;
    const bufs = m.bufs;
    let v, line, bl = null;
    let keepIt = m.keep === true, awaitable = false;
    try {
      switch (m.op) {
        case 'call':
          if (typeof m.name !== 'string' || !Array.isArray(m.args)) throw new ProtocolError('bad call');
          if (m.tagged) untagArgs(m.args, bufs);
          v = scoped(runCall, m);
          awaitable = true;
          break;
        case 'eval':
          if (typeof m.code !== 'string') throw new ProtocolError('bad eval');
          v = scoped(runEval, m.code);
          awaitable = true;
          break;
        case 'exec':
          if (typeof m.code !== 'string') throw new ProtocolError('bad exec');
          v = scoped(runExec, m.code);
          keepIt = false;
          break;
        case 'export':
          if (typeof m.name !== 'string') throw new ProtocolError('bad export');
          defineExport(m.name);
          v = null;
          keepIt = false;
          break;
        case 'new':
          needName(m);
          needArgs(m, false);
          if (m.tagged) untagArgs(m.args, bufs);
          v = scoped(runNew, m);
          break;
        case 'method':
          target(m);
          needName(m);
          needArgs(m, false);
          if (m.tagged) untagArgs(m.args, bufs);
          v = scoped(runMethod, m);
          awaitable = true;
          break;
        case 'get':
          target(m);
          needName(m);
          v = scoped(runGet, m);
          break;
        case 'set':
          target(m);
          needName(m);
          if (m.tagged) m.value = untag(m.value, bufs);
          v = scoped(runSet, m);
          keepIt = false;
          break;
        case 'len':
          target(m);
          v = scoped(runLen, m.obj);
          keepIt = false;
          break;
        case 'op':
          target(m);
          needName(m);
          needArgs(m, true);
          if (m.tagged) untag(m.args, bufs);
          v = scoped(runOp, m);
          break;
        case 'iter':
          target(m);
          v = keep(scoped(runIter, m.obj), fi);
          keepIt = false;
          break;
        case 'next':
          target(m);
          if (!Number.isInteger(m.count) || m.count < 1 || m.count > 65536) throw new ProtocolError('bad next: count');
          v = scoped(runNext, m);
          if (keepIt) {
            for (let i = 0; i < v.length; i++) v[i] = keep(v[i], fi);
            keepIt = false;
          }
          break;
        case 'value':
          target(m);
          v = scoped(runValue, m.obj);
          keepIt = false;
          break;
        case 'release': // done by release(m) before the request was taken
          if (!Array.isArray(m.handles)) throw new ProtocolError('bad release');
          v = null;
          keepIt = false;
          break;
        default:
          throw new ProtocolError('unknown op ' + JSON.stringify(m.op));
      }
      if (awaitable && isThenable(v)) {
        if (!nested && fi === 0 && awaiting === null) {
          fLen = fi;
          awaitReply(id, v, keepIt);
          return;
        }
        Promise.resolve(v).catch(noop);
        throw new Error('sandbond: a request nested in a call to the host returned a Promise; ' +
          'it cannot be awaited while JavaScript waits synchronously for the host');
      }
      if (keepIt) v = keep(v, fi);
      bl = blobOn ? [] : null;
      line = '{"op":"return","id":' + id + ',"value":' + encode(v, bl) + '}\n';
    } catch (e) {
      if (e instanceof ProtocolError) protocolFailure(e);
      // An interrupt (or a stack overflow) unwound frames above ours.
      if (fLen > fi + 1) unwind(fi + 1, isInterrupt(e) ? null : e);
      dropKeys(fi);
      line = errorLine(id, e);
      bl = null;
    }
    sendReply(fi, line, bl !== null && bl.length ? bl : null);
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

  function awaitReply(id, p, keepIt) {
    const a = { id, keep: keepIt };
    setAwaiting(a);
    Promise.resolve(p).then((v) => settle(a, v, null, false), (e) => settle(a, undefined, e, true));
  }

  function abandonAwait() {
    sendAwaited(errorLine(awaiting.id, interruptedError('the awaited Promise was abandoned')), null);
    setAwaiting(null);
  }

  // settle answers an awaited request. It runs from a microtask (from
  // tick() in the step scope, or from the event loop); with keep, an
  // interrupt between storing the value and queueing the reply would leave
  // the key unused in the table (no frame lists it), nothing worse.
  function settle(a, v, e, failed) {
    if (awaiting !== a) return; // abandoned after an interrupt
    let line, bl = null;
    if (failed) {
      line = errorLine(a.id, e);
    } else {
      if (a.keep) {
        const k = ++lastKey;
        handles.set(k, v);
        v = new Kept(k);
      }
      try {
        bl = blobOn ? [] : null;
        line = '{"op":"return","id":' + a.id + ',"value":' + encode(v, bl) + '}\n';
      } catch (x) {
        line = errorLine(a.id, x);
        bl = null;
      }
    }
    sendAwaited(line, bl !== null && bl.length ? bl : null);
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
    const bl = blobOn ? [] : null;
    try {
      body = encode(args, bl);
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
    sendCall(fi, line, bl !== null && bl.length ? bl : null);
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
        return untag(m.value, m.bufs);
      } catch (e) {
        // An unknown handle or a blob too large for memory fails the call;
        // anything else is the host's mistake.
        if (e instanceof ProtocolError) protocolFailure(e);
        throw e;
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
      settleIO();
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
      release(m);
      takeRequest(m);
      finishBlobIn();
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
  // being re-entered could reach the loop scope itself. Such bursts happen:
  // Node's watchdog thread, when it runs late (a loaded machine), delivers
  // the SIGINTs it missed back to back, each to the innermost scope of the
  // moment; with 1 ms SIGINTs on two busy CPUs about one in three
  // interrupts that end a step climbs a level further, hence six levels.
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
        r = scoped(guard, 6);
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

  const ready = { op: 'ready', version: 1, language: 'node', info: 'Node.js ' + process.version };
  if (blobOn) ready.side = ['blob'];
  send(JSON.stringify(ready) + '\n');
  run();
});
