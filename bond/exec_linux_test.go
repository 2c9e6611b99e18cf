package bond

import (
	"context"
	"os"
	"strings"
	"testing"
)

// A nil entry in LaunchSpec.Files is /dev/null in the child, not a closed
// descriptor that the interpreter's next open() would silently take.
func TestExecLauncherNilFilesAreDevNull(t *testing.T) {
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	p, err := ExecLauncher{}.Launch(context.Background(), &LaunchSpec{
		Argv:  []string{"/bin/sh", "-c", "readlink /proc/self/fd/0 >&3 || echo closed >&3"},
		Files: []*os.File{nil, nil, nil, out},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(got)) != "/dev/null" {
		t.Fatalf("the child's fd 0 is %q, want /dev/null", got)
	}
}
