package policy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseJSONAndYAMLAgree(t *testing.T) {
	for _, base := range []string{"full", "minimal"} {
		t.Run(base, func(t *testing.T) {
			pj, err := Parse(readFixture(t, base+".json"), base+".json")
			if err != nil {
				t.Fatalf("json: %v", err)
			}
			py, err := Parse(readFixture(t, base+".yaml"), base+".yaml")
			if err != nil {
				t.Fatalf("yaml: %v", err)
			}
			if !reflect.DeepEqual(pj, py) {
				t.Errorf("JSON and YAML differ:\njson: %+v\nyaml: %+v", pj, py)
			}
		})
	}
}

func TestParseFull(t *testing.T) {
	p, err := Parse(readFixture(t, "full.json"), "full.json")
	if err != nil {
		t.Fatal(err)
	}
	want := &Profile{
		Version:     1,
		Name:        "full",
		Description: "Every field set, for parser tests.\nSecond line.",
		Launcher:    Launcher{Type: LauncherContainer},
		Language:    LanguagePython,
		Interpreter: "/usr/bin/python3",
		Mounts: []Mount{
			{Source: "/usr/share/zoneinfo"},
			{Source: "/srv/data", Target: "/data", Writable: true},
		},
		Network: Network{Mode: NetworkLoopback},
		Env: Env{
			Allow: []string{"LANG", "TZ"},
			Set:   map[string]string{"PYTHONDONTWRITEBYTECODE": "1", "HOME": "/tmp"},
		},
		Limits: Limits{
			MemoryBytes: 128 * MiB, Pids: 32, CPUSeconds: 5,
			WallPerCall: Duration(5 * time.Second), WallPerSandbox: Duration(time.Minute),
			OpenFiles: 64, FileSizeBytes: 16 * MiB, OutputBytes: MiB, TmpBytes: 16 * MiB,
			Cgroups: CgroupsOptional,
		},
		Seccomp:  Seccomp{Profile: "builtin:python"},
		Protocol: Protocol{MaxMessageBytes: 8 * MiB},
		Pool:     Pool{MinIdle: 1, MaxSize: 8, RecycleAfter: 100, QueueTimeout: Duration(2 * time.Second)},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got  %+v\nwant %+v", p, want)
	}
}

func TestParseValidFixtures(t *testing.T) {
	for _, name := range []string{"full.json", "full.yaml", "minimal.json", "minimal.yaml", "ssh.yaml", "plain.json", "relative_seccomp.json"} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(readFixture(t, name), name); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseFormatDetection(t *testing.T) {
	jsonData := readFixture(t, "minimal.json")
	yamlData := readFixture(t, "minimal.yaml")
	for _, tc := range []struct {
		name string
		data []byte
		ok   bool
	}{
		{"no extension, JSON content", jsonData, true},
		{"no extension, YAML content", yamlData, true},
		{"profile.yml", yamlData, true},
		{"profile.YAML", yamlData, true},
		{"profile.yaml", jsonData, true}, // JSON is YAML
		{"profile.json", yamlData, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data, tc.name)
			if (err == nil) != tc.ok {
				t.Fatalf("ok = %v, want %v (err: %v)", err == nil, tc.ok, err)
			}
		})
	}
}

func TestParseUnknownField(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		data       []byte
		field, fix string
	}{
		{name: "json fixture", file: "unknown_field.json", field: "limits.memory", fix: `did you mean "memory_bytes"?`},
		{name: "yaml fixture", file: "unknown_field.yaml", field: "limits.memory", fix: `did you mean "memory_bytes"?`},
		{name: "wrong case", data: minimalWith(`"limits": {"Memory_Bytes": 134217728}`), field: "limits.Memory_Bytes", fix: `did you mean "memory_bytes"?`},
		{name: "camel case", data: minimalWith(`"pool": {"maxSize": 3}`), field: "pool.maxSize", fix: `did you mean "max_size"?`},
		{name: "misspelt", data: minimalWith(`"limits": {"memroy_bytes": 134217728}`), field: "limits.memroy_bytes", fix: `did you mean "memory_bytes"?`},
		{name: "substring", data: minimalWith(`"pool": {"timeout": "1s"}`), field: "pool.timeout", fix: `did you mean "queue_timeout"?`},
		{name: "wrong level", data: minimalWith(`"memory_bytes": 134217728`), field: "memory_bytes", fix: "move it to limits.memory_bytes"},
		{name: "in a list", data: minimalWith(`"mounts": [{"source": "/a", "readonly": true}]`), field: "mounts[0].readonly", fix: "remove it"},
		{name: "nothing close", data: minimalWith(`"zzz": 1`), field: "zzz", fix: "the fields of a profile are version, name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data
			name := tc.file
			if data == nil {
				data = readFixture(t, tc.file)
			}
			_, err := Parse(data, name)
			if !errors.Is(err, ErrUnknownField) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("want ErrUnknownField and ErrInvalid, got %v", err)
			}
			fe := FieldErrors(err)
			if len(fe) != 1 || fe[0].Field != tc.field || !strings.Contains(fe[0].Fix, tc.fix) {
				t.Fatalf("want one error at %s with fix %q, got %v", tc.field, tc.fix, err)
			}
		})
	}
}

// minimalWith returns a valid minimal JSON profile with extra members.
func minimalWith(members string) []byte {
	return []byte(`{"version": 1, "name": "t", "launcher": {"type": "container"}, "language": "python",
		"seccomp": {"profile": "builtin:python"}, ` + members + `}`)
}

func TestParseRejects(t *testing.T) {
	huge := append(minimalWith(`"description": "`), bytes.Repeat([]byte("x"), MaxFileSize)...)
	huge = append(huge, `"}`...)
	for _, tc := range []struct {
		name  string
		file  string
		data  []byte
		cause error  // matched with errors.Is besides ErrInvalid
		field string // FieldError.Field of the (first) error
		text  string // in the message
	}{
		{name: "trailing object", data: readFixture(t, "trailing.json"), file: "trailing.json", cause: ErrSyntax, text: "after the profile object at line 8, column 1"},
		{name: "trailing garbage", data: minimalWith(`"pool": {}` + "} x"), cause: ErrSyntax, text: "after the profile object"},
		{name: "syntax error", data: []byte("{\n  \"version\": 1,\n  \"name\" \"x\"\n}"), file: "x.json", cause: ErrSyntax, text: "at line 3"},
		{name: "truncated", data: []byte(`{"version": 1, "name": "x"`), file: "x.json", cause: ErrSyntax, text: "ends in the middle"},
		{name: "empty json", data: nil, file: "x.json", cause: ErrSyntax, text: "holds no profile"},
		{name: "empty yaml", data: []byte("# nothing\n"), file: "x.yaml", cause: ErrSyntax, text: "holds no profile"},
		{name: "not an object", data: []byte(`[1, 2]`), file: "x.json", cause: ErrSyntax, text: "must be an object"},
		{name: "yaml list", data: []byte("- 1\n- 2\n"), file: "x.yaml", cause: ErrSyntax, text: "must be an object"},
		{name: "huge", data: huge, cause: ErrTooLarge, text: "larger than 1 MiB"},
		{name: "invalid utf-8", data: minimalWith(`"description": "` + "\xff" + `"`), cause: ErrSyntax, text: "UTF-8"},
		{name: "duplicate key", data: minimalWith(`"name": "again"`), field: "name", text: "appears twice"},
		{name: "duplicate nested key", data: minimalWith(`"pool": {"max_size": 1, "max_size": 2}`), field: "pool.max_size", text: "appears twice"},
		{name: "duplicate yaml key", data: []byte("version: 1\nname: a\nname: b\n"), file: "x.yaml", cause: ErrSyntax, text: "appears twice"},
		{name: "second yaml document", data: append(readFixture(t, "minimal.yaml"), "---\nname: other\n"...), file: "x.yaml", cause: ErrSyntax, text: "more than one YAML document"},
		{name: "bad yaml", data: []byte("version: 1\nname: [a\n"), file: "x.yaml", cause: ErrSyntax, text: "invalid YAML"},
		{name: "null", data: minimalWith(`"interpreter": null`), field: "interpreter", text: "is null"},
		{name: "yaml null", data: []byte("version: 1\nname: x\ninterpreter:\n"), file: "x.yaml", field: "interpreter", text: "is null"},
		{name: "string for int", data: minimalWith(`"limits": {"memory_bytes": "128Mi"}`), field: "limits.memory_bytes", text: `must be a whole number (got the string "128Mi")`},
		{name: "float for int", data: minimalWith(`"limits": {"pids": 1.5}`), field: "limits.pids", text: "must be a whole number (got 1.5)"},
		{name: "int overflow", data: minimalWith(`"pool": {"max_size": 99999999999999999999}`), field: "pool.max_size", text: "must be a whole number"},
		{name: "string for bool", data: minimalWith(`"pool": {"fresh_per_task": "yes"}`), field: "pool.fresh_per_task", text: "must be true or false"},
		{name: "object for string", data: minimalWith(`"interpreter": {}`), field: "interpreter", text: "must be a string (got an object)"},
		{name: "list for object", data: minimalWith(`"limits": []`), field: "limits", text: "must be an object"},
		{name: "number in list", data: minimalWith(`"env": {"allow": ["A", 1]}`), field: "env.allow[1]", text: "must be a string"},
		{name: "number for duration", data: minimalWith(`"limits": {"wall_per_call": 5}`), field: "limits.wall_per_call", text: `must be a duration string such as "5s" (got the number 5)`},
		{name: "bad duration", data: minimalWith(`"limits": {"wall_per_call": "5 seconds"}`), field: "limits.wall_per_call", text: `"5 seconds" is not a duration`},
		{name: "yaml number for duration", data: []byte("version: 1\nlimits:\n  wall_per_call: 5\n"), file: "x.yaml", field: "limits.wall_per_call", text: "must be a duration string"},
		{name: "version missing", data: []byte(`{"name": "x"}`), cause: ErrVersion, field: "version", text: "missing"},
		{name: "version 2", data: []byte(`{"version": 2, "name": "x", "future_field": true}`), cause: ErrVersion, field: "version", text: "this build reads version 1 (got the number 2)"},
		{name: "version string", data: []byte(`{"version": "1", "name": "x"}`), cause: ErrVersion, field: "version", text: `got the string "1"`},
		{name: "invalid after decode", data: minimalWith(`"limits": {"memory_bytes": 1024}`), field: "limits.memory_bytes", text: "must be at least 16 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.file
			if name == "" {
				name = "t.json"
			}
			p, err := Parse(tc.data, name)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if p != nil {
				t.Errorf("returned a profile with the error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("errors.Is(err, %v) = false for %v", tc.cause, err)
			}
			fe := FieldErrors(err)
			if len(fe) == 0 {
				t.Fatalf("no FieldError in %v", err)
			}
			if fe[0].Field != tc.field {
				t.Errorf("field = %q, want %q (%v)", fe[0].Field, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("message %q does not contain %q", err, tc.text)
			}
		})
	}
}

func TestParseReportsAllProblems(t *testing.T) {
	_, err := Parse(minimalWith(`"limits": {"memroy": 1, "pids": "x"}, "pool": {"size": 1}`), "t.json")
	var fields []string
	for _, fe := range FieldErrors(err) {
		fields = append(fields, fe.Field)
	}
	want := []string{"limits.memroy", "limits.pids", "pool.size"}
	if !reflect.DeepEqual(fields, want) {
		t.Fatalf("fields = %v, want %v\n%v", fields, want, err)
	}
}

func TestLoad(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		p, err := Load(filepath.Join("testdata", "full.json"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Name != "full" {
			t.Errorf("name = %q", p.Name)
		}
	})
	t.Run("yaml", func(t *testing.T) {
		if _, err := Load(filepath.Join("testdata", "ssh.yaml")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("relative seccomp path", func(t *testing.T) {
		p, err := Load(filepath.Join("testdata", "relative_seccomp.json"))
		if err != nil {
			t.Fatal(err)
		}
		dir, _ := filepath.Abs("testdata")
		if want := filepath.Join(dir, "filters", "python-extra.json"); p.Seccomp.Profile != want {
			t.Errorf("seccomp.profile = %q, want %q", p.Seccomp.Profile, want)
		}
	})
	t.Run("builtin and absolute seccomp untouched", func(t *testing.T) {
		dir := t.TempDir()
		for _, s := range []string{"builtin:python", "/etc/sandbond/filter.json"} {
			path := filepath.Join(dir, "p.json")
			if err := os.WriteFile(path, minimalWithSeccomp(s), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if p.Seccomp.Profile != s {
				t.Errorf("seccomp.profile = %q, want %q", p.Seccomp.Profile, s)
			}
		}
	})
	t.Run("huge file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "huge.json")
		data := append(minimalWith(`"description": "`), bytes.Repeat([]byte("x"), 2*MaxFileSize)...)
		if err := os.WriteFile(path, append(data, `"}`...), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); !errors.Is(err, ErrTooLarge) || !errors.Is(err, ErrInvalid) {
			t.Fatalf("want ErrTooLarge, got %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, err := Load(filepath.Join(t.TempDir(), "nope.json")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("want ErrNotExist, got %v", err)
		}
	})
	t.Run("unnamed profile is labelled by its path", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "anon.json")
		if err := os.WriteFile(path, []byte(`{"version": 1, "launcher": {"type": "container"}, "language": "python", "seccomp": {"profile": "builtin:python"}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil || !strings.HasPrefix(err.Error(), "profile "+quote(path)+": name: missing") {
			t.Fatalf("got %v", err)
		}
	})
}

func minimalWithSeccomp(s string) []byte {
	return []byte(`{"version": 1, "name": "t", "launcher": {"type": "container"}, "language": "python",
		"seccomp": {"profile": ` + quote(s) + `}}`)
}
