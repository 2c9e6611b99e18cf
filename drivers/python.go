package drivers

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os/exec"
)

//go:embed python.py
var pythonCode []byte

// pythonStage1 dups the input descriptor (so stage 2 may reuse the original
// number), reads the length-prefixed stage 2 through a buffered reader and
// runs it; stage 2 keeps reading from the same reader (_sb_r).
const pythonStage1 = `import os,sys;_sb_r=open(os.dup(int(sys.argv[1])),'rb');exec(compile(_sb_r.read(int(_sb_r.readline())),'<sandbond>','exec'))`

func python() *Driver {
	return &Driver{
		Name:        "python",
		Aliases:     []string{"py", "python3", "pypy", "pypy3"},
		Command:     "python3",
		DefaultArgs: []string{"-u"},
		Stage1Flag:  "-c",
		Stage1:      pythonStage1,
		Code:        pythonCode,
		Compile:     compilePython,
		Resolve:     askInterpreter("-c", "import sys;sys.stdout.write(sys.executable)"),
		Env:         []string{HeapEnv},
	}
}

// Compiling stage 2 from source costs a few milliseconds at every start
// (6–11 ms for CPython 3.11 on a slow core), loading the marshalled code
// object about 0.2 ms. So for a CPython interpreter the host compiles
// stage 2 once per program (Driver.PreambleFor): pythonCompiler, run by
// that interpreter on the host with stage 2 on its standard input, writes
// a key line that names what the marshalled code depends on (bytecode
// magic number, marshal format, the exact build in sys.version, no -O),
// as a Python literal, then the code object marshalled. Stage 1 then runs
// pythonLoader instead of stage 2, followed by the marshalled code and
// stage 2's source: the loader reads both and runs the code object only if
// the interpreter running it has the same key, else it compiles the source,
// as stage 1 would have. A swapped interpreter, -O or PYTHONOPTIMIZE thus
// never load code that is not theirs. Other implementations (PyPy) are
// refused and use the source preamble; so does a bond whose Command names
// the interpreter (a shell, sudo or ssh may run any interpreter). The
// loader records in __main__._sb_marshal whether it loaded the code object.
const pythonCompiler = `import sys,marshal
x=sys.modules.get('_frozen_importlib_external')
if sys.implementation.name!='cpython' or not hasattr(x,'MAGIC_NUMBER'):sys.exit(2)
c=marshal.dumps(compile(sys.stdin.buffer.read(),'<sandbond>','exec',dont_inherit=True,optimize=0))
sys.stdout.buffer.write(ascii((sys.implementation.cache_tag,x.MAGIC_NUMBER,marshal.version,sys.version,0)).encode()+b'\n'+c)
`

// pythonLoader is the stage 2 of a compiled preamble; the verbs are the
// marshalled code's length, the source's length and the key.
const pythonLoader = `def _sb_load(r):
    global _sb_marshal
    import marshal, sys
    c = r.read(%d)
    s = r.read(%d)
    x = sys.modules.get("_frozen_importlib_external")
    _sb_marshal = (sys.implementation.cache_tag, getattr(x, "MAGIC_NUMBER", None), marshal.version,
                   sys.version, sys.flags.optimize) == %s
    return marshal.loads(c) if _sb_marshal else compile(s, "<sandbond>", "exec")


exec(_sb_load(_sb_r))
`

// compilePython is the Python driver's CompileFunc.
func compilePython(ctx context.Context, interp string, code []byte) ([]byte, error) {
	// -I -S: no environment, user site or site module; none affects
	// the code compile makes, and the run is faster without them.
	cmd := exec.CommandContext(ctx, interp, "-I", "-S", "-c", pythonCompiler)
	cmd.Stdin = bytes.NewReader(code)
	out, err := hostOutput(cmd)
	if err != nil {
		return nil, fmt.Errorf("compile python stage 2 with %s: %w", interp, err)
	}
	key, marshalled, ok := bytes.Cut(out, []byte("\n"))
	if !ok || len(key) < 2 || key[0] != '(' || key[len(key)-1] != ')' || len(marshalled) == 0 {
		return nil, errors.New("compile python stage 2: unexpected output")
	}
	for _, c := range key {
		if c < ' ' || c > '~' {
			return nil, errors.New("compile python stage 2: unexpected output")
		}
	}
	loader := fmt.Appendf(nil, pythonLoader, len(marshalled), len(code), key)
	return frame([]int{len(loader)}, loader, marshalled, code), nil
}
