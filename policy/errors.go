package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error returned by [Parse], [Load] and
// [Profile.Validate] for a bad profile matches ErrInvalid with [errors.Is];
// the more specific sentinels are matched as well where they apply.
var (
	// ErrInvalid marks a profile that cannot be used as written.
	ErrInvalid = errors.New("invalid profile")
	// ErrVersion marks a profile whose version this build does not read.
	ErrVersion = errors.New("unsupported profile version")
	// ErrUnknownField marks a field name that is not part of the schema.
	ErrUnknownField = errors.New("unknown profile field")
	// ErrTooLarge marks a profile file larger than [MaxFileSize].
	ErrTooLarge = errors.New("profile file too large")
	// ErrSyntax marks a file that is not well-formed JSON or YAML.
	ErrSyntax = errors.New("profile syntax error")
)

// FieldError is one problem in a profile: which field, what is wrong and
// how to fix it. Its Error method reads like
//
//	profile "decoder": limits.memory_bytes: must be at least 16 MiB (got 1024); fix: set it to e.g. 268435456
//
// Every FieldError matches [ErrInvalid]; Err, when set, is matched too.
// Validation reports all problems at once, as an [errors.Join] of
// FieldErrors: use [errors.As] for the first, or [FieldErrors] for all.
type FieldError struct {
	// Profile is the profile's name, or the file name when the name is not
	// known yet (a file that does not decode). May be empty.
	Profile string
	// Field is the dotted path of the field in the file, e.g.
	// "limits.memory_bytes" or "mounts[0].target". Empty for problems of
	// the file as a whole (syntax, size).
	Field string
	// Kind names the kind of document: empty for a profile, or what
	// [StrictCheck] was told ("config").
	Kind string
	// Problem says what is wrong, including the offending value.
	Problem string
	// Fix says how to repair it. May be empty.
	Fix string
	// Err is the underlying cause: a sentinel such as [ErrUnknownField]
	// or [ErrVersion], or a decoding error. May be nil.
	Err error
}

// Error implements error.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Profile != "" {
		kind := e.Kind
		if kind == "" {
			kind = "profile"
		}
		b.WriteString(kind + " ")
		b.WriteString(quote(e.Profile))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	if e.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// Is reports whether target is [ErrInvalid]: every FieldError is one.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

// FieldErrors returns every [*FieldError] in err's tree (as built by
// [errors.Join] or wrapping with %w), in order. It returns nil when there is
// none.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *FieldError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, c := range e.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// maxProblems bounds the problems reported for one profile; the rest are
// counted.
const maxProblems = 20

// problems collects FieldErrors for one profile.
type problems struct {
	profile string
	kind    string // for FieldError.Kind; "profile" is left empty
	errs    []error
	dropped int
}

// add records a problem at field.
func (p *problems) add(field, problem, fix string) {
	p.addErr(nil, field, problem, fix)
}

// addErr records a problem at field that also matches cause.
func (p *problems) addErr(cause error, field, problem, fix string) {
	if p.full() {
		p.dropped++
		return
	}
	p.errs = append(p.errs, &FieldError{Profile: p.profile, Kind: p.kind, Field: field, Problem: problem, Fix: fix, Err: cause})
}

// full reports whether further problems are only counted.
func (p *problems) full() bool { return len(p.errs) >= maxProblems }

// err returns the joined problems, or nil.
func (p *problems) err() error {
	errs := p.errs
	if p.dropped > 0 {
		errs = append(errs[:len(errs):len(errs)], &FieldError{Profile: p.profile, Kind: p.kind,
			Problem: fmt.Sprintf("and %d more problems not shown", p.dropped), Fix: "fix the ones above first"})
	}
	return errors.Join(errs...)
}

// pathKey shortens a key from the file for use in a field path.
func pathKey(key string) string {
	return truncate(key, 64)
}
