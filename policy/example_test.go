package policy_test

import (
	"errors"
	"fmt"

	"github.com/sandbond/sandbond/policy"
)

func ExampleParse() {
	p, err := policy.Parse([]byte(`
version: 1
name: thumbnailer
launcher: {type: container}
language: python
limits:
  memory_bytes: 134217728
  wall_per_call: 2s
seccomp: {profile: "builtin:python"}
`), "thumbnailer.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	d := p.WithDefaults()
	fmt.Println(p.Name, p.Language, policy.FormatBytes(d.Limits.MemoryBytes), d.Limits.WallPerCall, d.Limits.Pids)

	_, err = policy.Parse([]byte(`{
  "version": 1,
  "name": "thumbnailer",
  "launcher": {"type": "container"},
  "language": "python",
  "limits": {"memory": 134217728},
  "seccomp": {"profile": "builtin:python"}
}`), "thumbnailer.json")
	fmt.Println(err)
	fmt.Println(errors.Is(err, policy.ErrUnknownField), errors.Is(err, policy.ErrInvalid))
	// Output:
	// thumbnailer python 128 MiB 2s 64
	// profile "thumbnailer.json": limits.memory: unknown field at line 6, column 22; fix: did you mean "memory_bytes"?
	// true true
}

func ExampleProfile_Validate() {
	p := &policy.Profile{
		Version:  1,
		Name:     "decoder",
		Launcher: policy.Launcher{Type: policy.LauncherContainer},
		Language: policy.LanguagePython,
		Limits:   policy.Limits{MemoryBytes: 1024},
	}
	for _, fe := range policy.FieldErrors(p.Validate()) {
		fmt.Println(fe)
	}
	// Output:
	// profile "decoder": limits.memory_bytes: must be at least 16 MiB (got 1024); fix: set it to e.g. 268435456
	// profile "decoder": seccomp.profile: missing: the container launcher needs a system call filter; fix: set it to "builtin:interpreter" or "builtin:python"
}
