package profiles

import (
	"errors"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sandbond/sandbond/policy"
)

func TestNames(t *testing.T) {
	if got, want := Names(), []string{"decoder", "worker"}; !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
}

func TestShippedProfilesParseAndValidate(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			p, err := Load(name)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != name {
				t.Errorf("name = %q, want the file's name %q", p.Name, name)
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			if err := p.WithDefaults().Validate(); err != nil {
				t.Fatalf("with defaults: %v", err)
			}
			if p.Description == "" {
				t.Error("no description")
			}
			if s, ok := strings.CutPrefix(p.Seccomp.Profile, policy.SeccompBuiltinPrefix); ok {
				if _, err := SeccompProfile(s); err != nil {
					t.Errorf("seccomp %s is not shipped: %v", p.Seccomp.Profile, err)
				}
			}
		})
	}
}

func TestEveryLanguage(t *testing.T) {
	for _, get := range []func() *policy.Profile{Decoder, Worker} {
		for _, lang := range policy.Languages() {
			p := get()
			p.Language = lang
			if err := p.Validate(); err != nil {
				t.Errorf("%s in %s: %v", p.Name, lang, err)
			}
		}
	}
}

func TestDecoder(t *testing.T) {
	p := Decoder()
	want := policy.Limits{
		MemoryBytes: 128 * policy.MiB, Pids: 32, CPUSeconds: 5,
		WallPerCall: policy.Duration(5e9), WallPerSandbox: policy.Duration(60e9),
		OpenFiles: 64, FileSizeBytes: 16 * policy.MiB, OutputBytes: policy.MiB, TmpBytes: 16 * policy.MiB,
		Cgroups: policy.CgroupsOptional,
	}
	if p.Limits != want {
		t.Errorf("limits = %+v\nwant     %+v", p.Limits, want)
	}
	if p.Launcher.Type != policy.LauncherContainer || p.Language != policy.LanguagePython {
		t.Errorf("launcher %q language %q", p.Launcher.Type, p.Language)
	}
	if p.Network.Mode != policy.NetworkNone || len(p.Mounts) != 0 || len(p.Env.Allow) != 0 || len(p.Env.Set) != 0 {
		t.Errorf("network %q, mounts %v, env %+v: want none", p.Network.Mode, p.Mounts, p.Env)
	}
	if p.Seccomp != (policy.Seccomp{Profile: "builtin:interpreter"}) {
		t.Errorf("seccomp = %+v", p.Seccomp)
	}
	if p.Protocol.MaxMessageBytes != 8*policy.MiB {
		t.Errorf("max message = %d", p.Protocol.MaxMessageBytes)
	}
	if !p.Pool.FreshPerTask || p.Pool.RecycleAfter != 0 || p.Pool.MinIdle != 2 || p.Pool.MaxSize != 4 {
		t.Errorf("pool = %+v", p.Pool)
	}
	d := p.Describe()
	for _, s := range []string{"Network: none (new network namespace, loopback down)", "Writable host paths: none", "Pool: a fresh sandbox per task"} {
		if !strings.Contains(d, s) {
			t.Errorf("Describe lacks %q:\n%s", s, d)
		}
	}
}

func TestWorker(t *testing.T) {
	p := Worker()
	if p.Launcher.Type != policy.LauncherContainer || p.Network.Mode != policy.NetworkNone || p.Seccomp.Profile != "builtin:interpreter" {
		t.Errorf("launcher %q network %q seccomp %q", p.Launcher.Type, p.Network.Mode, p.Seccomp.Profile)
	}
	if p.Pool.FreshPerTask || p.Pool.RecycleAfter != 1000 {
		t.Errorf("pool = %+v", p.Pool)
	}
	if p.Limits.MemoryBytes != 512*policy.MiB || p.Limits.Pids != 128 || p.Limits.WallPerCall.String() != "30s" {
		t.Errorf("limits = %+v", p.Limits)
	}
}

// TestDecoderStricterThanWorker compares every limit, found by reflection
// so that a limit added later is covered too.
func TestDecoderStricterThanWorker(t *testing.T) {
	dec, wrk := Decoder().WithDefaults(), Worker().WithDefaults()
	dl, wl := reflect.ValueOf(dec.Limits), reflect.ValueOf(wrk.Limits)
	for i := range dl.NumField() {
		f := dl.Type().Field(i)
		t.Run(f.Name, func(t *testing.T) {
			switch f.Type.Kind() {
			case reflect.Int64:
				if d, w := dl.Field(i).Int(), wl.Field(i).Int(); d >= w {
					t.Errorf("decoder %d is not below worker %d", d, w)
				}
			case reflect.String: // cgroups: required is stricter than optional
				rank := map[string]int{policy.CgroupsOptional: 0, policy.CgroupsRequired: 1}
				if rank[dl.Field(i).String()] < rank[wl.Field(i).String()] {
					t.Errorf("decoder %q is laxer than worker %q", dl.Field(i).String(), wl.Field(i).String())
				}
			default:
				t.Fatalf("unhandled limit type %s: extend this test", f.Type)
			}
		})
	}
	if dec.Protocol.MaxMessageBytes >= wrk.Protocol.MaxMessageBytes {
		t.Errorf("decoder max message %d is not below worker %d", dec.Protocol.MaxMessageBytes, wrk.Protocol.MaxMessageBytes)
	}
}

func TestFreshCopies(t *testing.T) {
	a := Decoder()
	a.Language = policy.LanguagePerl
	a.Env.Allow = append(a.Env.Allow, "X")
	if b := Decoder(); b.Language != policy.LanguagePython || len(b.Env.Allow) != 0 {
		t.Fatalf("Decoder shares state between calls: %+v", b)
	}
}

func TestLoadUnknown(t *testing.T) {
	for _, name := range []string{"nope", "", "decoder.json", "../policy/testdata/full", "seccomp/interpreter"} {
		if _, err := Load(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load(%q) = %v, want fs.ErrNotExist", name, err)
		}
	}
}
