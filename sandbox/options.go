package sandbox

import (
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sandbond/sandbond/policy"
)

// DefaultHostIDBase and DefaultHostIDCount are the host uid/gid range from
// which a root daemon gives every live sandbox its own unprivileged id.
const (
	DefaultHostIDBase  = 0x70000000
	DefaultHostIDCount = 65536
)

// An Option configures [NewContainerLauncher].
type Option func(*options)

type options struct {
	logger      *slog.Logger
	stateDir    string
	idBase      uint32
	idCount     uint32
	seccompJSON []byte
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithStateDir sets the directory for container state and root
// filesystems. The default is /run/sandbond for root, else
// $XDG_RUNTIME_DIR/sandbond, else $TMPDIR/sandbond-UID.
func WithStateDir(dir string) Option { return func(o *options) { o.stateDir = dir } }

// WithHostIDs sets the host uid/gid range (base, count) a root daemon maps
// sandboxes to, one id per live sandbox. Ignored when not root.
func WithHostIDs(base, count uint32) Option {
	return func(o *options) { o.idBase, o.idCount = base, count }
}

// WithSeccompJSON overrides the profile's seccomp filter with an OCI seccomp
// JSON profile.
func WithSeccompJSON(b []byte) Option { return func(o *options) { o.seccompJSON = b } }

func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/run/sandbond"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "sandbond")
	}
	return filepath.Join(os.TempDir(), "sandbond-"+strconv.Itoa(os.Geteuid()))
}

// effectiveLimits is the profile's limits with the policy defaults filled
// in; -1 means unlimited.
type effectiveLimits struct {
	Memory, Pids, CPUSeconds, OpenFiles, FileSize, Tmp int64
	Wall                                               time.Duration
	CgroupsOptional                                    bool
}

func limitsOf(p *policy.Profile) effectiveLimits {
	l := p.WithDefaults().Limits
	return effectiveLimits{
		Memory: l.MemoryBytes, Pids: l.Pids, CPUSeconds: l.CPUSeconds, OpenFiles: l.OpenFiles,
		FileSize: l.FileSizeBytes, Tmp: l.TmpBytes, Wall: l.WallPerSandbox.Std(),
		CgroupsOptional: l.Cgroups == policy.CgroupsOptional,
	}
}
