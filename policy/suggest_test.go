package policy

import (
	"reflect"
	"strings"
	"testing"
)

func TestSuggest(t *testing.T) {
	limits := fieldNames(reflect.TypeFor[Limits]())
	for _, tc := range []struct{ key, want string }{
		{"memory", "memory_bytes"},
		{"Memory_Bytes", "memory_bytes"},
		{"memoryBytes", "memory_bytes"},
		{"memory-bytes", "memory_bytes"},
		{"memroy_bytes", "memory_bytes"},
		{"pid", "pids"},
		{"pidz", "pids"},
		{"wall", "wall_per_call"},
		{"cgroup", "cgroups"},
		{"x", ""},
		{"swap", ""},
		{strings.Repeat("a", 1000), ""},
	} {
		t.Run(tc.key, func(t *testing.T) {
			if got := suggest(tc.key, limits); got != tc.want {
				t.Errorf("suggest(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
}

func TestElsewhere(t *testing.T) {
	for _, tc := range []struct{ key, path, want string }{
		{"memory_bytes", "", "limits.memory_bytes"},
		{"max_message_bytes", "limits", "protocol.max_message_bytes"},
		{"source", "", "mounts[].source"},
		{"nothing", "", ""},
	} {
		t.Run(tc.key, func(t *testing.T) {
			if got := elsewhere(tc.key, tc.path); got != tc.want {
				t.Errorf("elsewhere(%q, %q) = %q, want %q", tc.key, tc.path, got, tc.want)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"abc", "abc", 0}, {"abc", "acb", 1}, {"kitten", "sitting", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestTooManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"version": 1`)
	for i := range 100 {
		b.WriteString(`, "unknown` + string(rune('a'+i%26)) + strings.Repeat("x", i) + `": 1`)
	}
	b.WriteString("}")
	_, err := Parse([]byte(b.String()), "many.json")
	fe := FieldErrors(err)
	if len(fe) != maxProblems+1 {
		t.Fatalf("got %d problems, want %d", len(fe), maxProblems+1)
	}
	if last := fe[len(fe)-1]; last.Problem != "and 80 more problems not shown" {
		t.Errorf("last problem = %q", last.Problem)
	}
}
