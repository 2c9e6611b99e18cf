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
	}
}

func init() { builtin = append(builtin, perl) }
