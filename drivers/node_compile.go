package drivers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// Compiling stage 2 from source and compiling its functions as they are
// first called cost Node about 3 ms at every start. So for a Node
// interpreter the host makes a V8 code cache once per program
// (Driver.PreambleFor): nodeCompiler, run on the host by that interpreter
// with no arguments and no NODE_OPTIONS, as the driver runs by default (V8
// takes a cache only from the same V8 version and flags), compiles stage 2, runs it through nodeWarmUp (a
// short conversation on a pipe, so that the functions every request needs
// are compiled too) and, when the driver exits at the end of its input,
// writes the script's code cache. The preamble is then
// "<length> <cache length>\n<code><cache>": stage 1 hands the cache to
// vm.Script, and V8 itself checks it against the source, its version and
// its flags, compiling the source instead when it does not match (a
// swapped interpreter, other V8 flags in Options.Args or NODE_OPTIONS).
// sandbond.codeCache tells user code which happened: true, false, or null
// when no cache was sent (a bond whose Command names the interpreter).
const nodeCompiler = `const fs=require('fs'),vm=require('vm');` +
	`const s=new vm.Script(fs.readFileSync(0,'utf8'),{filename:'sandbond-driver.js'});` +
	`process.on('exit',function(){const d=s.createCachedData();for(let o=0;o<d.length;)o+=fs.writeSync(1,d,o)});` +
	`s.runInThisContext()(require,3,4,Buffer.alloc(0),null)`

// nodeWarmUp is the conversation nodeCompiler's driver answers: the usual
// requests, a remote exception and output.
const nodeWarmUp = `{"op":"eval","id":1,"code":"1+1"}
{"op":"exec","id":2,"code":"var sandbondWarmUp = {a: [1, 'x', null, true, 2.5], b: {}};"}
{"op":"eval","id":3,"code":"sandbondWarmUp"}
{"op":"call","id":4,"name":"Math.max","args":[1,2,"3"]}
{"op":"eval","id":5,"code":"null.x"}
{"op":"exec","id":6,"code":"console.log('x'); process.stderr.write('y\\n');"}
`

// compileNode is the Node driver's CompileFunc.
func compileNode(ctx context.Context, interp string, code []byte) ([]byte, error) {
	in, err := warmUpPipe()
	if err != nil {
		return nil, fmt.Errorf("compile node stage 2: %w", err)
	}
	defer in.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("compile node stage 2: %w", err)
	}
	defer null.Close()
	cmd := exec.CommandContext(ctx, interp, "-e", nodeCompiler)
	cmd.Env = []string{} // no NODE_OPTIONS
	cmd.Stdin = bytes.NewReader(code)
	cmd.ExtraFiles = []*os.File{in, null}
	cache, err := hostOutput(cmd)
	if err != nil {
		return nil, fmt.Errorf("compile node stage 2 with %s: %w", interp, err)
	}
	if len(cache) == 0 {
		return nil, errors.New("compile node stage 2: no code cache")
	}
	return frame([]int{len(code), len(cache)}, code, cache), nil
}

// warmUpPipe returns the read end of a pipe that holds nodeWarmUp and then
// ends.
func warmUpPipe() (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	_, err = w.WriteString(nodeWarmUp) // far below a pipe's capacity
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}
