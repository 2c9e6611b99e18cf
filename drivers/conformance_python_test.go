package drivers_test

import "github.com/sandbond/sandbond/bond"

const pythonDefine = `
import sys, time, os

_sb_count = 0

def sb_identity(x):
    return x

def sb_add(a, b):
    return a + b

def sb_nargs(*args):
    return len(args)

def sb_counter():
    global _sb_count
    _sb_count += 1
    return _sb_count

def sb_fail(msg):
    raise ValueError(msg)

def sb_print():
    print("o1")
    sys.stderr.write("e1\n")
    go_mark()
    sys.stdout.write("o2\n")
    return 1

def sb_down(n):
    if n == 0:
        return 0
    return go_down(n - 1) + 1

def sb_catch():
    try:
        go_fail()
    except Exception as e:
        return str(e)
    return "no exception"

def sb_len(x):
    return len(x)

def sb_sleep(s):
    time.sleep(s)
    return s

def sb_exit(code):
    os._exit(code)

def sb_big(n):
    return "x" * n

def sb_bad():
    return {1, 2, 3}
`

func pythonLang(label string, opts func() *bond.Options, interp string) *lang {
	return &lang{
		Name: "python", Label: label, Options: opts, Interpreter: interp,
		Define:           pythonDefine,
		FailType:         "ValueError",
		SyntaxErrorExpr:  "1 +",
		SyntaxErrorBlock: "def broken(:\n    pass",
		NaNExpr:          "float('nan')",
		ListExpr:         "[1, 2, 3]",
		BytesRoundTrip:   true,
		FloatsKeepKind:   true,
		HugeInts:         true,
	}
}

func init() {
	register(pythonLang("python", nil, "python3"))
	register(pythonLang("pypy", func() *bond.Options {
		return &bond.Options{Command: "pypy3", Channel: bond.ChannelFDs}
	}, "pypy3"))
}
