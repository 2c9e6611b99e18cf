package sandbox

import (
	"maps"
	"os"
	"slices"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/policy"
)

// GracePeriod is how long a sandboxed bond waits for its interpreter after
// interrupting a cancelled or timed-out call, and after closing its input,
// before it kills the sandbox. It is shorter than bond's default: a sandbox
// holds nothing worth waiting for.
const GracePeriod = 500 * time.Millisecond

// BondOptions returns the bond options that a profile asks for, with the
// profile's defaults filled in:
//
//   - MaxMessageBytes from protocol.max_message_bytes,
//   - MaxOutputBytes from limits.output_bytes,
//   - Timeout (per top-level call) from limits.wall_per_call,
//   - GracePeriod set to [GracePeriod],
//   - Env built from env.allow (the host variables so named) and env.set;
//     never the whole host environment.
//
// Launcher is left nil: set it (to a [ContainerLauncher] for the profile)
// before calling [bond.Open]. Output is discarded unless the caller sets
// Stdout and Stderr; the end of stderr still reaches errors.
func BondOptions(profile *policy.Profile) *bond.Options {
	p := profile.WithDefaults()
	o := &bond.Options{Env: []string{}, GracePeriod: GracePeriod}
	if p == nil {
		return o
	}
	o.MaxMessageBytes = int(min(p.Protocol.MaxMessageBytes, int64(maxInt)))
	o.MaxOutputBytes = p.Limits.OutputBytes
	o.Timeout = p.Limits.WallPerCall.Std()
	o.Env = profileEnv(p)
	return o
}

// profileEnv is a profile's environment: the allowed host variables that
// are set, then the fixed ones (which win), never anything else.
func profileEnv(p *policy.Profile) []string {
	env := []string{}
	for _, k := range p.Env.Allow {
		if _, set := p.Env.Set[k]; set {
			continue // env.set wins
		}
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.Env.Set)) {
		env = append(env, k+"="+p.Env.Set[k])
	}
	return env
}

const maxInt = int(^uint(0) >> 1)
