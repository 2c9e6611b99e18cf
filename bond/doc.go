// Package bond calls functions in Python, PHP, Perl and JavaScript
// interpreters from Go as if they were local functions.
//
// A Bond is a live interpreter process running a small driver (see package
// drivers) that speaks a JSON-lines protocol (bond/PROTOCOL.md). Nothing has
// to be installed on the interpreter's side: the driver is injected at start.
//
//	b, err := bond.Open(ctx, "python", nil)
//	defer b.Close()
//	b.EvalBlock(ctx, "def add(a, b): return a + b")
//	sum, err := bond.CallAs[int](ctx, b, "add", 2, 3)
//
// Calls recurse in both directions: Export makes a Go function callable from
// the interpreter, and that function may call the bond again through the
// context it receives, to any depth. Proxy makes a function of one bond
// callable in another. Ref passes a remote expression as an argument without
// moving its value. Interact runs a REPL on the live interpreter.
//
// # Types
//
// Values cross the bond as JSON, by one table for every language:
//
//	JSON                     Go (decoded as any)        sent from Go
//	null                     nil                        nil, nil pointers/slices/maps
//	true, false              bool                       bool
//	integer, any size        int64, else *big.Int       all integer kinds, *big.Int
//	float (finite)           float64                    float32, float64 (NaN/Inf: error)
//	string (valid Unicode)   string                     string (invalid UTF-8: error)
//	array                    []any                      slices, arrays
//	object (string keys)     map[string]any             maps with string keys, structs
//	{"$bytes": base64}       []byte                     []byte, Bytes
//
// Structs and json.Marshaler values are encoded by encoding/json and then
// checked like any other value. Typed helpers (EvalAs, CallAs, CallableAs,
// Decode) convert results with encoding/json's rules.
//
// # Remote objects, large bytes and files
//
// Keep, CallKeep and New leave a result in the interpreter and return a
// *Handle: call its methods, read and set its attributes, apply operators
// (Handle.Op), take a plain copy (Handle.Value), iterate over it in chunks
// (Handle.Items, Bond.Iter: a Go iter.Seq2 that fetches as the loop goes),
// and pass it back as an argument at any depth, where it arrives as the
// live object. Release drops it; so does the next request after the Handle
// becomes unreachable. A handle only ever works with its own bond.
//
// With the dedicated-fd channel the interpreter also gets a side channel:
// []byte values of 32 KiB or more travel on their own pipe instead of as
// base64 in the line, and an *os.File argument is handed over as a
// read-only descriptor of the same file (Python, PHP and Perl; Node.js gets
// the contents as a Buffer). Options.NoSideChannel turns it off.
//
// Every large value the interpreter receives is a fresh buffer there, and
// glibc's malloc would unmap it again once dropped, so that each one
// page-faults afresh. The Python, Perl and Node.js drivers therefore start
// their interpreter with glibc's heap set to keep freed memory, up to
// 128 MiB, for reuse (drivers.HeapEnv): on the 2-core test VM a 64 MiB
// round trip costs 1.2–1.4× a raw pipe copy instead of 1.5–2×. An
// Options.Env that sets GLIBC_TUNABLES, even empty, keeps glibc's defaults.
// PHP allocates large strings with its own allocator, which always unmaps
// them; USE_ZEND_ALLOC=0 in Options.Env gives it the same gain, at the cost
// of PHP's memory_limit and of slower small allocations.
//
// # Errors
//
// An exception raised in the interpreter is a *RemoteError (ErrRemote); a
// value that cannot cross is a *SerializationError (ErrSerialization) that
// says which side failed. The bond survives both. An interpreter that exits
// gives an *ExitError (ErrTerminated) with its exit status and the end of its
// stderr; a peer that breaks the protocol gives ErrProtocol and the bond is
// closed. A cancelled or timed-out call interrupts the interpreter (SIGINT,
// a remote Ctrl+C), waits Options.GracePeriod for it to answer, then kills
// it; the error keeps context.Canceled or context.DeadlineExceeded.
//
// # Concurrency
//
// A Bond is safe for concurrent use. Calls from unrelated goroutines queue
// up; calls made from inside an exported function with the context it
// received nest instead. Do not call the bond from an exported function with
// an unrelated context: that call would wait for the outer call to end.
//
// # Processes
//
// By default the interpreter is a child process in its own process group;
// Close ends it (EOF, then SIGKILL to the group after the grace period) and
// reaps it. Options.Command runs it through a shell command ("ssh host
// python3", "sudo -u nobody python3"); Options.Launcher hands the start to
// another launcher, such as the sandbox package's rootless container.
package bond
