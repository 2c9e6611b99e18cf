package drivers

import _ "embed"

//go:embed node.js
var nodeCode []byte

// nodeStage1 is run with `node -e STAGE1 IN OUT`; process.argv is then
// [node, IN, OUT].
//
// In dedicated-fd mode it reads "<length>\n<code>" from IN in 64 KiB chunks
// (EAGAIN on a non-blocking descriptor: a 5 ms sleep, startup only), or
// "<length> <cache length>\n<code><V8 code cache>" (see compileNode),
// evaluates the code, which yields a function, and calls it with require,
// the descriptors, the bytes it read past the code and whether V8 took
// the code cache (null without one).
//
// In stdio mode (IN 0, OUT 1) Node cannot move the protocol off fds 0 and 1
// (it has no dup2), so stage 1 starts a second node (same executable and
// node options) running its own text with the protocol on fds 3 and 4, fd 0
// on /dev/null, and fds 1 and 2 on this process's stderr: nothing user code
// prints, even with fs.writeSync(1, ...) or from child processes, can reach
// the protocol stream. This process forwards SIGINT, SIGTERM and SIGHUP to
// it and exits with its status (or dies of the same signal). The cost is a
// second Node process (tens of MB) in stdio mode only.
const nodeStage1 = `(function s(){var f=require('fs'),a=process.argv,i=+a[1],o=+a[2];` +
	`if(i===0&&o===1){var x=process.execArgv,c=require('child_process').spawn(process.execPath,` +
	`x.slice(0,x.lastIndexOf('-e')).concat(['-e','('+s+')()','3','4']),{stdio:['ignore',2,2,0,1]});` +
	`['SIGINT','SIGTERM','SIGHUP'].forEach(function(g){process.on(g,function(){c.kill(g)})});` +
	`c.on('error',function(e){f.writeSync(2,'sandbond: cannot start node: '+e.message+'\n');process.exit(127)});` +
	`c.on('exit',function(e,g){if(g){process.removeAllListeners(g);process.kill(process.pid,g)}else process.exit(e)});return}` +
	`var b=Buffer.alloc(0),t=Buffer.allocUnsafe(65536),p,h,n,c,k,d,q;` +
	`for(;;){p=b.indexOf(10);if(p>=0&&(h=b.toString('latin1',0,p).split(' '),n=+h[0],c=+(h[1]||0),b.length>=p+1+n+c))break;` +
	`try{k=f.readSync(i,t,0,65536,null)}catch(e){if(e.code==='EAGAIN'){Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0,5);continue}` +
	`if(e.code==='EINTR')continue;throw e}if(!k)process.exit(0);b=Buffer.concat([b,t.subarray(0,k)])}` +
	`d=c?b.subarray(p+1+n,p+1+n+c):void 0;` +
	`q=new(require('vm').Script)(b.toString('utf8',p+1,p+1+n),{filename:'sandbond-driver.js',cachedData:d});` +
	`q.runInThisContext()(require,i,o,Buffer.from(b.subarray(p+1+n+c)),d?!q.cachedDataRejected:null)})()`

// node is the Node.js driver (node.js is stage 2; its header explains the
// waiting and interrupt machinery).
//
// No default arguments. In particular no --stack-size: a V8 flag that is
// not at its default makes Node reject the code cache of its own built-in
// modules, which then compile from source when first loaded (1-2 ms at
// every start, and 6-8 ms for stream), and V8's default 984 KiB of stack
// already holds about 750 levels of Go<->JS recursion (see the interrupt
// notes below on why each level is small). Those who need more can pass
// --stack-size in Options.Args; Linux gives the main thread 8 MiB unless
// RLIMIT_STACK says otherwise. No --no-warnings: Node's warnings are output
// like any other stderr text. The driver requires the built-in modules it
// does not always need (stream, string_decoder) when user code first uses
// process.stdout, process.stderr or console.
//
// Semantics:
//   - eval evaluates one expression ("(" + code + "\n)" as a script), exec
//     runs a script in the global scope: var and function declarations
//     become globals; top-level let, const and class persist too (in the
//     global lexical scope, visible to later evals and calls) but cannot be
//     declared again by a later block (SyntaxError): use var or assignment
//     for state that blocks redefine. A Promise returned by eval or call at
//     the top level is awaited (its rejection becomes the remote error);
//     exec does not await its completion value. A request nested inside a
//     call to the host cannot await (JavaScript is then blocked in a
//     synchronous read) and answers with an error if it returns a Promise.
//   - call NAME runs (NAME)(...args) in the global scope, so obj.method,
//     obj["m"], JSON.stringify and Math.max keep their `this`; NAME may be
//     any expression yielding a function.
//   - Values: integers beyond 2^53 arrive as BigInt (the driver rewrites
//     16+ digit integers before JSON.parse, which would round them) and
//     BigInts are sent as digits; integral numbers are sent as integers,
//     exactly up to the int64 range and in exponent form (floats) beyond
//     it, where JSON.stringify would round the digits; undefined (also as an
//     object member) is sent as null; Buffer and Uint8Array (and
//     ArrayBuffer) travel as bytes and bytes arrive as Buffer; objects with
//     a toJSON method (Date) are sent as what it returns; NaN, infinities,
//     lone surrogates, functions, symbols, Map, Set, class instances and
//     other non-plain objects are serialization errors; symbol-keyed
//     members are ignored (as JSON.stringify does).
//   - Errors: type is error.name, or the constructor's name for subclasses
//     that keep the name "Error"; a thrown non-Error reports its typeof (or
//     constructor name) and String(value). Host errors are thrown as
//     SandbondHostError (goType, token); an uncaught one, also as the cause
//     of another error, carries its token back.
//   - Handles: keep stores any value (primitives too); keys come from a
//     counter and are never reused; a request that fails (or is
//     interrupted) drops the keys it stored. {"$handle":K} from the host
//     becomes the live object anywhere in a value; an unknown K fails the
//     request with SandbondHandleError (also a hidden global and
//     sandbond.HandleError). The operations, with obj the handle's object:
//     new NAME: new (NAME)(...args), NAME any expression (as for call);
//     method: obj[name](...args) with this = obj (TypeError when it is not
//     a function); get/set: obj[name] and obj[name] = value (strict mode:
//     read-only properties throw); len: obj.length, else obj.size, else
//     (Array)Buffer byteLength, else TypeError (functions have none; strings
//     count UTF-16 units); op: add sub mul div mod lt le gt ge are the JS
//     operators + - * / % < <= > >=, eq/ne are === and !== (identity for
//     objects, no coercion), contains is .has(x) for Map/Set/WeakMap/
//     WeakSet, .includes(x) for strings, arrays and typed arrays (and any
//     object with includes, else has), else `x in obj`; getitem is .get(x)
//     for Map/WeakMap, else obj[x] (undefined, sent as null, when missing);
//     str is String(obj); other names and a missing right operand are
//     TypeErrors. iter: obj[Symbol.iterator]() (a generator returns itself;
//     a Map yields [key, value] pairs; an object with only a next method is
//     used as is); async iterables are not supported. next calls it.next()
//     up to count times. value: plain data as is, else JSON.stringify's
//     view (toJSON honoured: a Date gives its ISO string; own enumerable
//     properties of other objects; undefined, functions and symbols left
//     out of objects, null in arrays), except that Buffers stay bytes,
//     BigInts stay integers, a Map becomes an object (string or number keys
//     only), a Set and typed arrays become arrays; functions, symbols,
//     Promises and cycles are serialization errors. As for call and eval, a
//     Promise returned by method at the top level is awaited (then kept,
//     with keep). {"$ref":CODE} is also accepted as a direct argument of new
//     and method.
//   - Side channel: SANDBOND_SIDE's blob pipes are reopened (blocking,
//     close-on-exec) and the variable removed; the socket is closed (Node
//     has no recvmsg to receive descriptors and no fcntl to mark it
//     close-on-exec), so ready lists only "blob" and the host sends files
//     as {"$file":...}, which arrives as a Buffer. Bytes values (Buffer,
//     Uint8Array, ArrayBuffer) of 32 KiB or more go out as $blob; a $blob
//     arrives as a Buffer.
//   - Exported functions are synchronous globals. Called from a timer or
//     callback while the host is not waiting (no request in progress), they
//     throw instead of sending a call the host does not expect.
//   - Interrupts (SIGINT): stop synchronous user code with an Error
//     (ERR_SCRIPT_EXECUTION_INTERRUPTED) in the innermost request that runs
//     user code, catchable like Python's KeyboardInterrupt, up to 64 levels
//     of Go<->JS recursion; deeper requests run without an interrupt scope
//     of their own (a scope is a vm run whose C++ frames take about 3.3 KiB
//     of stack, about three quarters of a level), so there the interrupt
//     unwinds them, each answering the host with it, and lands in the 64th;
//     abandon an awaited Promise (the request answers with that error); ignored while
//     idle. An interrupt that lands while the driver waits for the host's
//     reply to a call fails the request that made the call, once the host
//     has answered it. Known limit: while the driver waits asynchronously
//     (user code left work in the event loop), a SIGINT arriving within a
//     few microseconds of a request's end can kill the interpreter (Node
//     reinstalls its exit-on-SIGINT handler when a breakOnSigint run ends);
//     the bond then reports a terminated error. In the synchronous mode the
//     driver survives any burst of SIGINTs.
//   - Output: process.stdout, process.stderr and console become output
//     messages; exceptions and rejections nobody handles in asynchronous
//     code are printed on stderr and the bond lives on.
//   - Idle: when user code leaves timers, sockets or other work in the event
//     loop, the driver waits for the host asynchronously and the event loop
//     runs; otherwise it blocks in read(2). Unref'd timers fire only while
//     the event loop has other (ref'd) work.
func node() *Driver {
	return &Driver{
		Name:       "node",
		Aliases:    []string{"js", "javascript", "nodejs"},
		Command:    "node",
		Stage1Flag: "-e",
		Stage1:     nodeStage1,
		Code:       nodeCode,
		Compile:    compileNode,
		Resolve:    askInterpreter("-e", "process.stdout.write(process.execPath)"),
		Env:        []string{HeapEnv},
	}
}

func init() { builtin = append(builtin, node) }
