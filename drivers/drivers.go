package drivers

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// A Driver describes how to start one language's interpreter as a bond.
// Drivers returned by Lookup are fresh copies; callers may modify them
// (tests use this to play a fake interpreter).
type Driver struct {
	// Name is the canonical language name ("python").
	Name string
	// Aliases are other names Lookup accepts ("py", "python3").
	Aliases []string
	// Command is the default interpreter, looked up in PATH.
	Command string
	// DefaultArgs go before the user's arguments unless dropped.
	DefaultArgs []string
	// Stage1Flag is the interpreter's "run this program text" option.
	Stage1Flag string
	// Stage1 is the one-line stage 1 program.
	Stage1 string
	// Code is stage 2, the driver proper.
	Code []byte
	// Compile, when set, builds a faster-loading preamble for a resolved
	// interpreter (see [Driver.PreambleFor]); nil means the source always.
	Compile CompileFunc
	// Local, when set, prepares a faster start for an interpreter the
	// host runs itself (see [Driver.LocalStartFor]); nil means none.
	Local LocalFunc
	// Resolve finds the real interpreter behind a command name, following
	// shims and symlinks; nil means look it up in PATH and follow symlinks.
	Resolve ResolveFunc
	// Env holds "NAME=value" settings the interpreter gets unless its
	// environment already names them (see [HeapEnv]).
	Env []string
}

// HeapEnv makes glibc's malloc keep large freed blocks for reuse instead of
// unmapping them: every allocation comes from the heap (mmap_max=0), and
// freed memory at its top is returned to the system only beyond 128 MiB
// (trim_threshold). A bond's interpreter allocates a fresh buffer for every
// large value it receives; unmapped each time, a 64 MiB value costs 16,384
// page faults on arrival (about 45 ms on the 2-core test VM), kept it costs
// none. The price is that the interpreter's resident memory stays at its
// peak, less what it frees beyond 128 MiB. An environment that sets
// GLIBC_TUNABLES itself (even empty) keeps its own value. Without glibc it
// does nothing.
const HeapEnv = "GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=134217728"

// WithEnv returns env with the driver's Env settings added for the names
// env does not set; env itself is not modified.
func (d *Driver) WithEnv(env []string) []string {
	out := slices.Clip(env)
	for _, kv := range d.Env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, name+"=") }) {
			out = append(out, kv)
		}
	}
	return out
}

// EnvNames are the names of the driver's Env settings.
func (d *Driver) EnvNames() []string {
	names := make([]string, len(d.Env))
	for i, kv := range d.Env {
		names[i], _, _ = strings.Cut(kv, "=")
	}
	return names
}

// Stage1Args returns the arguments that run stage 1 with the protocol on
// the given input and output descriptors.
func (d *Driver) Stage1Args(inFD, outFD int) []string {
	return []string{d.Stage1Flag, d.Stage1, strconv.Itoa(inFD), strconv.Itoa(outFD)}
}

// Preamble returns what the host writes first on the protocol channel:
// the length of stage 2 in decimal, a newline, and stage 2.
func (d *Driver) Preamble() []byte {
	return sourcePreamble(d.Code)
}

// sourcePreamble is the preamble that carries stage 2 as source.
func sourcePreamble(code []byte) []byte {
	return frame([]int{len(code)}, code)
}

// frame returns a preamble: the numbers in head in decimal, separated by
// spaces, a newline, and then parts, concatenated.
func frame(head []int, parts ...[]byte) []byte {
	n := 21 * len(head) // digits, sign and a space or the newline each
	for _, b := range parts {
		n += len(b)
	}
	p := make([]byte, 0, n)
	for i, v := range head {
		if i > 0 {
			p = append(p, ' ')
		}
		p = strconv.AppendInt(p, int64(v), 10)
	}
	p = append(p, '\n')
	for _, b := range parts {
		p = append(p, b...)
	}
	return p
}

// builtin lists the driver constructors; each language's file adds its
// own in an init function.
var builtin = []func() *Driver{python}

func all() []*Driver {
	ds := make([]*Driver, len(builtin))
	for i, mk := range builtin {
		ds[i] = mk()
	}
	return ds
}

// Lookup returns a copy of the driver for a language name or alias.
func Lookup(name string) (*Driver, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	for _, d := range all() {
		if d.Name == key {
			return d, nil
		}
		for _, a := range d.Aliases {
			if a == key {
				return d, nil
			}
		}
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownLanguage, name, strings.Join(Names(), ", "))
}

// Names lists the canonical language names, sorted.
func Names() []string {
	var names []string
	for _, d := range all() {
		names = append(names, d.Name)
	}
	sort.Strings(names)
	return names
}
