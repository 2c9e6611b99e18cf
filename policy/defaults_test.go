package policy

import (
	"reflect"
	"testing"
	"time"
)

func TestWithDefaults(t *testing.T) {
	p := validProfile()
	p.Mounts = []Mount{{Source: "/srv"}}
	p.Env.Set = map[string]string{"A": "1"}
	d := p.WithDefaults()
	want := Limits{
		MemoryBytes: 256 * MiB, Pids: 64, CPUSeconds: 10,
		WallPerCall: Duration(10 * time.Second), WallPerSandbox: Duration(10 * time.Minute),
		OpenFiles: 64, FileSizeBytes: 16 * MiB, OutputBytes: MiB, TmpBytes: 16 * MiB, Cgroups: CgroupsRequired,
	}
	if d.Limits != want {
		t.Errorf("limits = %+v\nwant     %+v", d.Limits, want)
	}
	if d.Network.Mode != NetworkNone {
		t.Errorf("network = %q", d.Network.Mode)
	}
	if d.Protocol.MaxMessageBytes != 16*MiB {
		t.Errorf("max message = %d", d.Protocol.MaxMessageBytes)
	}
	if want := (Pool{MinIdle: 1, MaxSize: 4, QueueTimeout: Duration(5 * time.Second)}); d.Pool != want {
		t.Errorf("pool = %+v", d.Pool)
	}
	if d.Mounts[0].Target != "/srv" {
		t.Errorf("mount target = %q", d.Mounts[0].Target)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	// p is unchanged and shares nothing with d.
	if p.Limits != (Limits{}) || p.Network.Mode != "" || p.Mounts[0].Target != "" {
		t.Errorf("WithDefaults changed its receiver: %+v", p)
	}
	d.Env.Set["A"] = "2"
	if p.Env.Set["A"] != "1" {
		t.Errorf("WithDefaults shares the env map")
	}
}

func TestWithDefaultsKeepsValues(t *testing.T) {
	p, err := Parse(readFixture(t, "full.json"), "full.json")
	if err != nil {
		t.Fatal(err)
	}
	p.Mounts[0].Target = p.Mounts[0].Source // the one default full.json relies on
	if d := p.WithDefaults(); !reflect.DeepEqual(d, p) {
		t.Errorf("a profile with every field set changed:\n%+v\n%+v", d, p)
	}
}

func TestWithDefaultsNetworkPerLauncher(t *testing.T) {
	p := validProfile()
	p.Launcher.Type = LauncherPlain
	p.Seccomp = Seccomp{Disabled: true}
	d := p.WithDefaults()
	if d.Network.Mode != NetworkHost {
		t.Errorf("plain network = %q, want host", d.Network.Mode)
	}
	if err := d.Validate(); err != nil {
		t.Error(err)
	}
}

func TestWithDefaultsMinIdleNotAboveMax(t *testing.T) {
	p := validProfile()
	p.Pool.MaxSize = 1
	if d := p.WithDefaults(); d.Pool.MinIdle != 1 {
		t.Errorf("min idle = %d", d.Pool.MinIdle)
	}
}

func TestClone(t *testing.T) {
	p, err := Parse(readFixture(t, "full.json"), "full.json")
	if err != nil {
		t.Fatal(err)
	}
	c := p.Clone()
	if !reflect.DeepEqual(c, p) {
		t.Fatal("clone differs")
	}
	c.Mounts[0].Source = "/changed"
	c.Env.Allow[0] = "CHANGED"
	c.Env.Set["HOME"] = "/changed"
	if p.Mounts[0].Source == "/changed" || p.Env.Allow[0] == "CHANGED" || p.Env.Set["HOME"] == "/changed" {
		t.Error("clone shares memory with the original")
	}
	var nilp *Profile
	if nilp.Clone() != nil {
		t.Error("nil clone")
	}
}
