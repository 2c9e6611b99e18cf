package drivers_test

import (
	"fmt"
	"os"
	"testing"
)

// TestMain gives the tests a cache directory of their own (PHP's local
// start writes there), removed afterwards.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sandbond-drivers-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}
