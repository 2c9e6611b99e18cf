package sandbox

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ProcessesInIDRange lists the host's processes whose real uid is in
// [base, base+count), as "process PID (COMM) uid UID": what is left of the
// sandboxes given that range of host ids (see WithHostIDs) once they are
// all gone. It reads /proc; where there is none, it finds nothing.
func ProcessesInIDRange(base, count uint32) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		name := "" // the "Name:" line comes first, "Uid:" later
		for _, line := range strings.Split(string(b), "\n") {
			if n, ok := strings.CutPrefix(line, "Name:"); ok {
				name = strings.TrimSpace(n)
				continue
			}
			f, ok := strings.CutPrefix(line, "Uid:")
			if !ok {
				continue
			}
			fields := strings.Fields(f)
			if len(fields) == 0 {
				break
			}
			uid, err := strconv.ParseUint(fields[0], 10, 32)
			if err == nil && uint32(uid) >= base && uint32(uid)-base < count {
				out = append(out, fmt.Sprintf("process %s (%s) uid %d", e.Name(), name, uid))
			}
			break
		}
	}
	return out
}
