package drivers

import _ "embed"

// The Perl driver (tested with Perl 5.36; needs nothing beyond core modules,
// uses JSON::XS when installed).
//
// Stage 1 opens the input descriptor, reads the length-prefixed stage 2 with
// sysread (no PerlIO buffer can hide input from the driver), leaves what it
// read past stage 2 in $Sandbond::b for the driver's own reader, and evals
// stage 2. Nothing relies on the debugger REPL that python-bond used (it
// fails on 5.36).
//
// DefaultArgs are empty: the driver needs no switch. Options.Args go before
// stage 1 (-w for global warnings, -I DIR, -MModule, or -e CODE, which runs
// before stage 1).
//
// Semantics (see perl.pl):
//   - User code runs in package main without strict and without warnings,
//     as with `perl -e`; `use strict` or `use warnings` in a block hold for
//     that block. Named subs, `our` and other package variables persist
//     across requests; `my` variables do not. Eval and EvalBlock compile the
//     code as the body of an anonymous sub (so __END__ is not supported).
//   - Eval runs in list context: a list of exactly one element returns that
//     element, any other list (the empty list too) an array, as in
//     python-bond. `scalar(...)` asks for scalar context; return a
//     reference ([...], {...}) for a result that is always an array or map.
//   - Call interpolates the name as `NAME($_[0], ..., $_[n-1])` (`NAME(@_)`
//     beyond 32 arguments), compiled once per name and arity: any
//     function-like form is callable (`sb_add`, `List::Util::sum`,
//     `map { $_ + 1 }`, `&$ref`, `$ref->`, `$obj->method`, `Class->new`,
//     builtins such as `join` or `length`), and `scalar NAME` calls in
//     scalar context. The result follows Eval's list rule.
//   - Errors: a string die has type "die", its message without Perl's
//     " at FILE line N." suffix and the full text as traceback; an object
//     has its class as type (an unblessed reference: HASH, ARRAY, ...) and
//     its message method, its stringification or its {message} as message;
//     code that does not compile (syntax errors, a failing `use`) is type
//     "CompileError". A failed host function dies with a
//     Sandbond::HostError object (message, type and token methods; it
//     stringifies as its message) that eval {} can catch; rethrown, it
//     keeps its token. SIGINT dies with a Sandbond::Interrupt object while
//     user code runs and is ignored otherwise.
//   - Values: numbers and strings follow JSON::XS's rule: a scalar last used
//     as a string (including a number that was interpolated or printed)
//     travels as a string; 0+$x sends a number. Floats travel with 15
//     significant digits and an integral float arrives as an integer.
//     Integers beyond 64 bits arrive as Math::BigInt objects, and
//     Math::BigInt goes back as an exact integer. JSON booleans arrive as
//     JSON::PP::Boolean objects and go back as booleans (so do \1 and \0).
//     Bytes arrive as a byte string and go back as a string of those
//     characters (U+0000-U+00FF). Objects go through TO_JSON; code refs,
//     globs, other objects, NaN, infinities, cycles and strings with
//     surrogates or code points beyond U+10FFFF are serialization errors.
//   - Output: STDOUT and STDERR are tied: print, printf, say, syswrite and
//     warn become output messages. Printed strings are bytes, decoded as
//     UTF-8 with U+FFFD for bad bytes; wide characters are written as UTF-8
//     (as Perl does), and so is everything after binmode(STDOUT, ':utf8').
//   - Bytes: Perl cannot tell a byte string from text, so a plain string
//     always travels as a string. Sandbond::Bytes->new($s) (a byte string;
//     wide characters die) is sent as bytes: $bytes, or $blob from 32 KiB
//     when the host opened the blob pipes. Its data and length methods
//     give the contents back; it does not overload "" (JSON::XS stringifies
//     what it cannot encode, which would copy the bytes). Bytes from the
//     host ($bytes, $blob) arrive as plain byte strings.
//   - Files: {"$fd":N} arrives as a read-only filehandle on the received
//     descriptor ('<&=', binmode; close-on-exec), {"$file":...} as an
//     in-memory filehandle ('<' on the bytes). "fd" is announced on 64-bit
//     Linux when syscall.ph exists: recvmsg goes through syscall(), and
//     syscall.ph is loaded (30 ms, into its own package) at the first $fd.
//   - Handles: keep stores the result under a fresh key. Results of new,
//     method and get (as a method) follow call's list rule: one value is
//     itself, any other list an array. Ops on a handle's object $obj:
//       new     NAME->new(@args); NAME.pm is required first if NAME has no
//               new method
//       method  $obj->NAME(@args)
//       get     $obj->{NAME} for a hash (blessed or not) that has the key
//               or no method NAME (a missing key: undef); else $obj->NAME()
//       set     likewise $obj->{NAME} = VALUE, or $obj->NAME(VALUE)
//       len     a len, length, size or count method; else the element count
//               of an array, the key count of a hash, a string's length
//       op      add sub mul div mod: + - * / % (overloading applies); the
//               operands must be numbers unless one overloads operators.
//               eq ne lt le gt ge: numeric when both are numbers, else
//               string comparison; an overloaded object decides by what it
//               overloads (== <=> 0+: numeric; eq cmp "": string); other
//               references and undef are only equal to themselves and
//               cannot be ordered. contains: a contains method, else
//               exists for a hash, eq against the elements of an array, a
//               substring of a string. getitem: ->[i] for an array (an
//               integer; negative counts from the end), ->{k} for a hash;
//               missing: undef. str: "$obj" (undef: "").
//       iter    a Sandbond::Iterator: an object with a next method and a
//               code ref are called (scalar context) until they return
//               undef; a filehandle gives its lines; an array its elements
//               (live, by index); a hash [key, value] pairs in sorted key
//               order
//       value   plain data as it is; objects through TO_JSON; other
//               blessed hashes and arrays as unblessed copies (nested ones
//               too); anything else is a serialization error
//     A handle the driver does not hold fails with SandbondHandleError;
//     everything else that fails (no such method, an operand an operator
//     cannot take) is an ordinary error, type "die" for a string die.

//go:embed perl.pl
var perlCode []byte

// perlStage1 reads "<length>\n<stage 2>" from the input descriptor (argument
// 1) with sysread, keeps any bytes past stage 2 in $Sandbond::b and evals
// stage 2 in package main. It declares no lexical variable, so user code
// compiled by stage 2 sees none.
const perlStage1 = `open(SANDBOND,"<&=",$ARGV[0])||die"sandbond: input fd $ARGV[0]: $!\n";$Sandbond::b="";sysread(SANDBOND,$Sandbond::b,65536,length$Sandbond::b)||die"sandbond: input ended before stage 2\n"until$Sandbond::b=~/\A(\d+)\n/&&length($Sandbond::b)>=$+[0]+$1;eval substr(substr($Sandbond::b,0,$+[0]+$1,""),$+[0]);die$@if$@`

func perl() *Driver {
	return &Driver{
		Name:       "perl",
		Aliases:    []string{"perl5"},
		Command:    "perl",
		Stage1Flag: "-e",
		Stage1:     perlStage1,
		Code:       perlCode,
		Resolve:    askInterpreter("-e", "print $^X"),
		Env:        []string{HeapEnv},
	}
}

func init() { builtin = append(builtin, perl) }
