package sandbox

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestProcessesInIDRange finds this process by its uid, and nothing in a
// range no process uses.
func TestProcessesInIDRange(t *testing.T) {
	uid := uint32(os.Getuid())
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	self := "process " + strconv.Itoa(os.Getpid()) + " (" + strings.TrimSpace(string(comm)) + ") uid "
	if got := ProcessesInIDRange(uid, 1); !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, self) }) {
		t.Errorf("uid %d: %v, want this process (%s...)", uid, got, self)
	}
	if got := ProcessesInIDRange(0x7e000000, 16); len(got) > 0 {
		t.Errorf("an unused range: %v", got)
	}
}
