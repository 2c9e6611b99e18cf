package bond

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the tests with two leak checks: no goroutine may outlive
// them (goleak) and no child process may be left, running or unreaped.
// When started as a fake interpreter (fakeEnv set), the test binary plays
// the interpreter instead (see fake_test.go).
func TestMain(m *testing.M) {
	if os.Getenv(fakeEnv) != "" {
		os.Exit(runFake())
	}
	goleak.VerifyTestMain(childCheck{m})
}

// childCheck runs the tests, then fails the run if child processes remain.
type childCheck struct{ m *testing.M }

func (c childCheck) Run() int {
	code := c.m.Run()
	if kids := childProcesses(); len(kids) > 0 {
		fmt.Fprintf(os.Stderr, "child processes left after the tests: %s\n", strings.Join(kids, "; "))
		if code == 0 {
			code = 1
		}
	}
	return code
}

// childProcesses lists the processes whose parent is this process,
// zombies included, as "PID (comm) state".
func childProcesses() []string {
	me := os.Getpid()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var kids []string
	for _, path := range stats {
		pid, ppid, comm, state, ok := readStat(path)
		if ok && ppid == me && pid != me {
			kids = append(kids, fmt.Sprintf("%d (%s) %s", pid, comm, state))
		}
	}
	return kids
}

// readStat parses /proc/PID/stat: "pid (comm) state ppid ...". comm may
// hold spaces and parentheses, so it ends at the last ')'.
func readStat(path string) (pid, ppid int, comm, state string, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, "", "", false
	}
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return 0, 0, "", "", false
	}
	fields := strings.Fields(string(data[end+1:]))
	if len(fields) < 2 {
		return 0, 0, "", "", false
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(string(data[:open])))
	ppid, err2 := strconv.Atoi(fields[1])
	if err1 != nil || err2 != nil {
		return 0, 0, "", "", false
	}
	return pid, ppid, string(data[open+1 : end]), fields[0], true
}

// assertReaped fails the test if pid is still a child of this process
// (running or a zombie nobody reaped).
func assertReaped(t testing.TB, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("no pid to check")
	}
	_, ppid, comm, state, ok := readStat(fmt.Sprintf("/proc/%d/stat", pid))
	if ok && ppid == os.Getpid() {
		t.Errorf("process %d (%s) still exists in state %s after Close", pid, comm, state)
	}
}

func TestReadStat(t *testing.T) {
	pid, ppid, comm, state, ok := readStat("/proc/self/stat")
	if !ok || pid != os.Getpid() || ppid != os.Getppid() || comm == "" || state == "" {
		t.Fatalf("readStat(/proc/self/stat) = %d %d %q %q %v; want pid %d ppid %d",
			pid, ppid, comm, state, ok, os.Getpid(), os.Getppid())
	}
	if _, _, _, _, ok := readStat("/proc/0/nonexistent"); ok {
		t.Fatalf("readStat of a missing file reported ok")
	}
}
