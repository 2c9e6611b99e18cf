package policy

import (
	"errors"
	"fmt"
	"testing"
)

func TestFieldErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		err  *FieldError
		want string
	}{
		{&FieldError{Profile: "decoder", Field: "limits.memory_bytes", Problem: "must be at least 16 MiB (got 1024)", Fix: "set it to e.g. 268435456"},
			`profile "decoder": limits.memory_bytes: must be at least 16 MiB (got 1024); fix: set it to e.g. 268435456`},
		{&FieldError{Field: "name", Problem: "missing"}, `name: missing`},
		{&FieldError{Profile: "p.json", Problem: "the file is larger than 1 MiB"}, `profile "p.json": the file is larger than 1 MiB`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestFieldErrorMatching(t *testing.T) {
	plain := &FieldError{Field: "name", Problem: "missing"}
	unknown := &FieldError{Field: "x", Problem: "unknown field", Err: ErrUnknownField}
	joined := errors.Join(plain, unknown)
	wrapped := fmt.Errorf("loading: %w", joined)
	for _, tc := range []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"plain is invalid", plain, ErrInvalid, true},
		{"plain is not unknown", plain, ErrUnknownField, false},
		{"unknown is invalid", unknown, ErrInvalid, true},
		{"unknown is unknown", unknown, ErrUnknownField, true},
		{"joined is invalid", joined, ErrInvalid, true},
		{"joined is unknown", joined, ErrUnknownField, true},
		{"joined is not version", joined, ErrVersion, false},
		{"wrapped is invalid", wrapped, ErrInvalid, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errors.Is(tc.err, tc.target); got != tc.want {
				t.Errorf("errors.Is = %v, want %v", got, tc.want)
			}
		})
	}
	var fe *FieldError
	if !errors.As(wrapped, &fe) || fe != plain {
		t.Errorf("errors.As found %v", fe)
	}
	if got := FieldErrors(wrapped); len(got) != 2 || got[0] != plain || got[1] != unknown {
		t.Errorf("FieldErrors = %v", got)
	}
	if got := FieldErrors(nil); got != nil {
		t.Errorf("FieldErrors(nil) = %v", got)
	}
}
