//go:build linux

package sandbox

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"

	"github.com/opencontainers/cgroups"
	devices "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sandbond/sandbond/policy"
)

// Paths masked and made read-only in /proc, as runc's defaults.
var (
	maskedPaths = []string{
		"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/proc/sysrq-trigger",
	}
	readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"}
)

// specconvMu serializes specconv.CreateLibcontainerConfig (see buildConfig).
var specconvMu sync.Mutex

// bindMount is one read-only (or writable) bind of a host path.
type bindMount struct {
	Source, Target string
	Writable       bool
}

// containerSpec is everything that varies between two starts.
type containerSpec struct {
	ID       string
	Rootfs   string
	DevDir   string // a prebound /dev to bind (rootfs.devDir), or "": a tmpfs
	Binds    []bindMount
	HostUID  uint32 // container root maps to this host uid
	HostGID  uint32 // and to this host gid
	Rootless bool
	Cgroups  bool
	Network  string
	Limits   effectiveLimits
	Seccomp  *configs.Seccomp
}

// buildConfig turns a containerSpec into a libcontainer configuration,
// going through an OCI runtime spec and runc's own converter.
func buildConfig(cs *containerSpec) (*configs.Config, error) {
	lim := cs.Limits
	spec := &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: cs.Rootfs, Readonly: true},
		Hostname: "sandbox",
		Process: &specs.Process{
			Cwd:             "/",
			NoNewPrivileges: true,
			Capabilities:    &specs.LinuxCapabilities{},
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "noexec", "strictatime", "mode=755", "size=64k"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "noexec", "mode=1777", "size=" + strconv.FormatInt(sizeOrMax(lim.Tmp), 10)}},
		},
		Linux: &specs.Linux{
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.UserNamespace}, {Type: specs.MountNamespace}, {Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.CgroupNamespace},
			},
			UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: cs.HostUID, Size: 1}},
			GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: cs.HostGID, Size: 1}},
		},
	}
	if cs.DevDir != "" {
		// One recursive bind of the prebound /dev (the device nodes
		// are mounts in it) instead of a tmpfs, four binds and the
		// symlinks at every start; read-only, unlike the tmpfs.
		spec.Mounts[1] = specs.Mount{Destination: "/dev", Type: "bind", Source: cs.DevDir, Options: []string{"rbind", "nosuid", "noexec", "ro"}}
	}
	if cs.Network != policy.NetworkHost {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	for _, b := range cs.Binds {
		opts := []string{"rbind", "nosuid", "nodev"}
		if !b.Writable {
			opts = append(opts, "ro")
		}
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: b.Target, Type: "bind", Source: b.Source, Options: opts})
	}
	// specconv puts pointers to its global AllowedDevices into the config
	// and writes each container's root uid into them: serialize it and
	// keep private copies, or concurrent starts race on the owner.
	specconvMu.Lock()
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName:      cs.ID,
		NoNewKeyring:    true,
		Spec:            spec,
		RootlessEUID:    cs.Rootless,
		RootlessCgroups: cs.Rootless || !cs.Cgroups,
	})
	var devs []*devices.Device // none with a prebound /dev: its nodes are there
	if err == nil && cs.DevDir == "" {
		for _, d := range cfg.Devices {
			if slices.Contains(devNodes, d.Path) {
				c := *d
				devs = append(devs, &c)
			}
		}
	}
	specconvMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("sandbox: container config: %w", err)
	}
	cfg.Devices = devs
	// No cgroup settings for libcontainer: the launcher creates the
	// sandbox's memory and pids cgroups itself, and starts the init in
	// them (cgroup v1) or lets libcontainer join the init to them (v2);
	// see cgroupLayout. The path is what libcontainer
	// would recompute if it ever loaded this state without its paths.
	// There is no devices cgroup: /dev holds only the nodes of devNodes,
	// bound from the host (a read-only bind of the prebound rootfs's /dev,
	// or a tmpfs with each node bound), and the container's user namespace
	// can neither create device nodes nor open any on its own mounts
	// (nodev, and SB_I_NODEV for every filesystem mounted in a user
	// namespace).
	cfg.Cgroups = &cgroups.Cgroup{Path: cgroupDirName + "/" + cs.ID, Resources: &cgroups.Resources{}}
	if cs.Network == policy.NetworkNone || cs.Network == "" {
		cfg.Networks = nil // loopback stays down
	}
	cfg.Rlimits = rlimits(cs) // specconv leaves process rlimits to its caller
	cfg.Seccomp = cs.Seccomp  // nil: the trampoline loads the filter (start_seccomp_linux.go)
	cfg.ParentDeathSignal = 0 // see Process: pidfds, not Pdeathsig
	return cfg, nil
}

func sizeOrMax(v int64) int64 {
	if v < 0 {
		return math.MaxInt32
	}
	return v
}

func rlimits(cs *containerSpec) []configs.Rlimit {
	lim := cs.Limits
	out := []configs.Rlimit{{Type: unix.RLIMIT_CORE, Hard: 0, Soft: 0}}
	set := func(typ int, soft, hard int64) {
		if soft < 0 {
			return
		}
		out = append(out, configs.Rlimit{Type: typ, Soft: uint64(soft), Hard: uint64(hard)})
	}
	set(unix.RLIMIT_NOFILE, lim.OpenFiles, lim.OpenFiles)
	set(unix.RLIMIT_FSIZE, lim.FileSize, lim.FileSize)
	// The container's init ignores SIGXCPU at the soft limit (it is pid 1
	// of its namespace, and default-action signals are not delivered to
	// it), so the hard limit one second later kills it.
	set(unix.RLIMIT_CPU, lim.CPUSeconds, lim.CPUSeconds+1)
	if !cs.Cgroups {
		// Each root-mode sandbox has its own host uid, so NPROC counts
		// exactly its processes; rootless, all share the daemon's uid.
		if !cs.Rootless {
			set(unix.RLIMIT_NPROC, lim.Pids, lim.Pids)
		}
		// No RLIMIT_AS: it applies to libcontainer's init (a Go program
		// that reserves far more address space than it uses) before the
		// interpreter starts, and to V8's reservations after.
	}
	return out
}
