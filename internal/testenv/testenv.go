// Package testenv holds the tests' rules for preconditions: a test whose
// precondition is missing skips on a developer's machine but fails under CI
// (CI set), where every test, the security tests above all, must run for
// real.
package testenv

import (
	"os"
	"testing"
)

// SkipOrFail skips t, or fails it under CI.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("cannot run under CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

// NeedRoot skips (fails under CI) unless the test runs as root; why says
// what needs it.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root: %s", why)
	}
}
