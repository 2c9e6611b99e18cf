package drivers

import _ "embed"

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
		Resolve:     askInterpreter("-c", "import sys;sys.stdout.write(sys.executable)"),
		Env:         []string{HeapEnv},
	}
}
