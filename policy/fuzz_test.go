package policy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error it returns
// is an ErrInvalid, and that an accepted profile marshals to JSON that
// parses back to an equal profile.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, filepath.Base(file))
	}
	f.Add([]byte("version: 1\nname: [\n"), "x.yaml")
	f.Add([]byte(`{"version": 1, "name": "x", "name": "y"}`), "x.json")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		p, err := Parse(data, name)
		if err != nil {
			if p != nil {
				t.Fatal("profile returned with an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error is not ErrInvalid: %v", err)
			}
			return
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		q, err := Parse(out, "again.json")
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip changed the profile:\n%+v\n%+v", p, q)
		}
		_ = p.Describe()
		_ = p.WithDefaults()
	})
}
