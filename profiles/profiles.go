package profiles

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/sandbond/sandbond/policy"
)

// shippedFS holds the shipped policy profiles: the JSON files at the top of
// this directory (not the seccomp filters under seccomp/).
//
//go:embed *.json
var shippedFS embed.FS

// Decoder returns a fresh copy of the decoder profile, the strictest one
// shipped: see the package documentation. The caller may change it.
func Decoder() *policy.Profile { return mustLoad("decoder") }

// Worker returns a fresh copy of the recycled-worker profile: see the
// package documentation. The caller may change it.
func Worker() *policy.Profile { return mustLoad("worker") }

// Load parses and validates the shipped profile called name (see
// [Names]), returning a fresh copy. An unknown name is an error that
// matches [fs.ErrNotExist].
func Load(name string) (*policy.Profile, error) {
	if !slices.Contains(Names(), name) {
		return nil, fmt.Errorf("profiles: no shipped profile %q (have %s): %w", name, strings.Join(Names(), ", "), fs.ErrNotExist)
	}
	file := name + ".json"
	data, err := shippedFS.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("profiles: %w", err)
	}
	return policy.Parse(data, path.Join("profiles", file))
}

// Names lists the shipped profiles, sorted.
func Names() []string {
	ents, _ := fs.ReadDir(shippedFS, ".")
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// mustLoad loads a shipped profile; the package's tests guarantee each one
// parses, so a failure is a build defect.
func mustLoad(name string) *policy.Profile {
	p, err := Load(name)
	if err != nil {
		panic(err)
	}
	return p
}
