package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// MaxFileSize is the largest profile file [Parse] and [Load] accept.
const MaxFileSize = 1 << 20

// Parse decodes and validates a profile. name is the file name (or any
// label) used in error messages until the profile's own name is known, and
// to pick the format: a name ending in ".yaml" or ".yml" is read as YAML,
// ".json" as JSON, anything else by its content (JSON when it starts with
// "{", YAML otherwise).
//
// Parsing is strict: the input must be valid UTF-8 of at most
// [MaxFileSize] bytes holding exactly one object (one YAML document);
// unknown or misspelt fields (names are case-sensitive), duplicate keys,
// nulls and values of the wrong type are errors naming the field, with a
// suggestion for a misspelt name. Durations are strings such as "5s". A
// relative seccomp profile path is left as written; [Load] resolves it.
//
// Every error matches [ErrInvalid]; see [FieldError] and [FieldErrors].
func Parse(data []byte, name string) (*Profile, error) {
	p, err := decode(data, name)
	if err != nil {
		return nil, err
	}
	if err := p.validate(label(p, name)); err != nil {
		return nil, err
	}
	return p, nil
}

// Load reads, decodes and validates the profile file at path, as [Parse]
// does, after resolving a relative seccomp profile path against the
// directory of path (the stored path is absolute).
func Load(path string) (*Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy: reading %s: %w", path, err)
	}
	p, err := decode(data, path)
	if err != nil {
		return nil, err
	}
	if s := p.Seccomp.Profile; s != "" && !strings.HasPrefix(s, SeccompBuiltinPrefix) && !filepath.IsAbs(s) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("policy: resolving %s: %w", path, err)
		}
		p.Seccomp.Profile = filepath.Join(filepath.Dir(abs), s)
	}
	if err := p.validate(label(p, path)); err != nil {
		return nil, err
	}
	return p, nil
}

// label names a profile in messages: its name, else the file name.
func label(p *Profile, name string) string {
	if p.Name != "" {
		return p.Name
	}
	return name
}

// decode turns data into a Profile without validating its values.
func decode(data []byte, name string) (*Profile, error) {
	fail := func(cause error, problem, fix string) (*Profile, error) {
		return nil, &FieldError{Profile: name, Problem: problem, Fix: fix, Err: cause}
	}
	if len(data) > MaxFileSize {
		return fail(ErrTooLarge, fmt.Sprintf("the file is larger than %s", FormatBytes(MaxFileSize)),
			"a profile is a small file: check that this is the right file")
	}
	if !utf8.Valid(data) {
		return fail(ErrSyntax, "the file is not valid UTF-8", "save it as UTF-8")
	}
	jsonData, isJSON := data, !looksYAML(data, name)
	if !isJSON {
		var err error
		if jsonData, err = yamlToJSON(data); errors.Is(err, errEmpty) {
			return fail(ErrSyntax, err.Error(), emptyFix)
		} else if err != nil {
			return fail(ErrSyntax, err.Error(), "fix the YAML at the place named")
		}
	}
	c := newChecker(jsonData, name, isJSON)
	if err := c.run(); err != nil {
		return nil, err
	}
	p := new(Profile)
	dec := json.NewDecoder(bytes.NewReader(jsonData))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		// The checker has already seen every key and type: this is a
		// safety net, not a path users should meet.
		return fail(err, "cannot decode: "+err.Error(), "")
	}
	p.normalize()
	return p, nil
}

// looksYAML reports whether data named name is to be read as YAML.
func looksYAML(data []byte, name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		return true
	case ".json":
		return false
	}
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) == 0 || t[0] != '{'
}

// normalize makes empty lists and maps nil, so that a profile written
// with "mounts": [] equals one without it.
func (p *Profile) normalize() {
	if len(p.Launcher.SSHOptions) == 0 {
		p.Launcher.SSHOptions = nil
	}
	if len(p.Mounts) == 0 {
		p.Mounts = nil
	}
	if len(p.Env.Allow) == 0 {
		p.Env.Allow = nil
	}
	if len(p.Env.Set) == 0 {
		p.Env.Set = nil
	}
}

// errEmpty is reported for a file with no profile in it.
var errEmpty = errors.New("the file holds no profile")

// emptyFix is the fix for errEmpty.
const emptyFix = "write a profile with at least version, name, launcher, language and seccomp"
