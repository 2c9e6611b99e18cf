package profiles

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
)

//go:embed seccomp/*.json
var seccompFS embed.FS

// SeccompProfile returns the OCI seccomp JSON profile shipped as
// profiles/seccomp/NAME.json, for a policy's "builtin:NAME" (the prefix is
// accepted and stripped). "interpreter" is the common base allowlist for
// python, php, perl and node; a language without its own file gets the base.
func SeccompProfile(name string) ([]byte, error) {
	name = strings.TrimPrefix(name, "builtin:")
	if name == "" || strings.ContainsAny(name, "/\\.") {
		return nil, fmt.Errorf("profiles: invalid seccomp profile name %q", name)
	}
	b, err := seccompFS.ReadFile("seccomp/" + name + ".json")
	if err == nil {
		return b, nil
	}
	switch name {
	case "python", "php", "perl", "node":
		return seccompFS.ReadFile("seccomp/interpreter.json")
	}
	return nil, fmt.Errorf("profiles: no builtin seccomp profile %q (have %s)", name, strings.Join(SeccompProfileNames(), ", "))
}

// SeccompProfileNames lists the builtin seccomp profile names.
func SeccompProfileNames() []string {
	ents, _ := fs.ReadDir(seccompFS, "seccomp")
	names := []string{"python", "php", "perl", "node"}
	for _, e := range ents {
		n := strings.TrimSuffix(e.Name(), ".json")
		if n != "python" && n != "php" && n != "perl" && n != "node" {
			names = append(names, n)
		}
	}
	return names
}
