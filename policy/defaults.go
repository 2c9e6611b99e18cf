package policy

import (
	"maps"
	"slices"
	"time"
)

// Defaults filled in by [Profile.WithDefaults] for fields left at zero.
// They are what a profile gets when it does not say otherwise, and what
// [Profile.Describe] reports.
const (
	DefaultMemoryBytes     = 256 * MiB
	DefaultPids            = 64
	DefaultCPUSeconds      = 10
	DefaultWallPerCall     = Duration(10 * time.Second)
	DefaultWallPerSandbox  = Duration(10 * time.Minute)
	DefaultOpenFiles       = 64
	DefaultFileSizeBytes   = 16 * MiB
	DefaultOutputBytes     = 1 * MiB
	DefaultTmpBytes        = 16 * MiB
	DefaultCgroups         = CgroupsRequired
	DefaultMaxMessageBytes = 16 * MiB
	DefaultPoolMinIdle     = 1
	DefaultPoolMaxSize     = 4
	DefaultQueueTimeout    = Duration(5 * time.Second)
)

// Clone returns a deep copy of p: changing the copy's slices and maps does
// not change p.
func (p *Profile) Clone() *Profile {
	if p == nil {
		return nil
	}
	c := *p
	c.Launcher.SSHOptions = slices.Clone(p.Launcher.SSHOptions)
	c.Mounts = slices.Clone(p.Mounts)
	c.Env.Allow = slices.Clone(p.Env.Allow)
	c.Env.Set = maps.Clone(p.Env.Set)
	return &c
}

// WithDefaults returns a copy of p with every zero field that has a default
// filled in (see the Default constants): network mode "none" for the
// container launcher and "host" for the others (which cannot isolate the
// network), each mount's empty target set to its source, the limits,
// cgroups "required", the protocol limit and the pool settings (MinIdle is
// never raised above MaxSize). p itself is not changed. Launcher, language,
// interpreter, environment and seccomp have no defaults: a profile states
// them. A nil p gives nil.
func (p *Profile) WithDefaults() *Profile {
	if p == nil {
		return nil
	}
	c := p.Clone()
	if c.Network.Mode == "" {
		if c.Launcher.Type == LauncherContainer || c.Launcher.Type == "" {
			c.Network.Mode = NetworkNone
		} else {
			c.Network.Mode = NetworkHost
		}
	}
	for i := range c.Mounts {
		if c.Mounts[i].Target == "" {
			c.Mounts[i].Target = c.Mounts[i].Source
		}
	}
	l := &c.Limits
	setInt64(&l.MemoryBytes, DefaultMemoryBytes)
	setInt64(&l.Pids, DefaultPids)
	setInt64(&l.CPUSeconds, DefaultCPUSeconds)
	setDuration(&l.WallPerCall, DefaultWallPerCall)
	setDuration(&l.WallPerSandbox, DefaultWallPerSandbox)
	setInt64(&l.OpenFiles, DefaultOpenFiles)
	setInt64(&l.FileSizeBytes, DefaultFileSizeBytes)
	setInt64(&l.OutputBytes, DefaultOutputBytes)
	setInt64(&l.TmpBytes, DefaultTmpBytes)
	if l.Cgroups == "" {
		l.Cgroups = DefaultCgroups
	}
	setInt64(&c.Protocol.MaxMessageBytes, DefaultMaxMessageBytes)
	if c.Pool.MaxSize == 0 {
		c.Pool.MaxSize = DefaultPoolMaxSize
	}
	if c.Pool.MinIdle == 0 {
		c.Pool.MinIdle = min(DefaultPoolMinIdle, c.Pool.MaxSize)
	}
	setDuration(&c.Pool.QueueTimeout, DefaultQueueTimeout)
	return c
}

func setInt64(v *int64, def int64) {
	if *v == 0 {
		*v = def
	}
}

func setDuration(v *Duration, def Duration) {
	if *v == 0 {
		*v = def
	}
}
