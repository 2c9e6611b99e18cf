package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sandbond/sandbond/policy"
	"github.com/sandbond/sandbond/profiles"
	"github.com/sandbond/sandbond/sandbox"
	"sigs.k8s.io/yaml"
)

// Config defaults and bounds.
const (
	configVersion          = 1
	defaultSocketPath      = "/run/sandboxd/sandboxd.sock"
	defaultSocketMode      = 0o660
	defaultMaxRequestBytes = 8 << 20
	minMaxRequestBytes     = 1 << 10
	maxMaxRequestBytes     = 1 << 30
	defaultDrainTimeout    = 30 * time.Second
	maxConfigBytes         = 4 << 20
	maxSetupBytes          = 4 << 20
)

// configFile is the daemon's config file as written (JSON canonical, YAML
// accepted). See testdata/full.json for every field.
type configFile struct {
	// Version must be 1.
	Version int `json:"version"`
	// Socket is where the API listens.
	Socket socketConfig `json:"socket"`
	// Metrics is the opt-in Prometheus listener.
	Metrics metricsConfig `json:"metrics"`
	// Log configures the daemon's own logs.
	Log logConfig `json:"log"`
	// Attach configures the attach endpoint.
	Attach attachConfig `json:"attach"`
	// Limits bound requests and shutdown.
	Limits serverLimits `json:"limits"`
	// Profiles names profile files (relative to the config file), for
	// callables to refer to by name. Shipped profiles ("decoder",
	// "worker") need no entry.
	Profiles map[string]string `json:"profiles"`
	// Callables are the functions the daemon serves.
	Callables []callableConfig `json:"callables"`
}

// socketConfig says where the API listens.
type socketConfig struct {
	// Path of the Unix socket; default /run/sandboxd/sandboxd.sock.
	// Ignored under socket activation.
	Path string `json:"path"`
	// Mode is the socket file's mode as an octal string; default "0660".
	Mode string `json:"mode"`
	// Group, when set, owns the socket file (a name or a number).
	Group string `json:"group"`
}

// metricsConfig is the opt-in Prometheus listener.
type metricsConfig struct {
	// Listen is a TCP host:port such as "127.0.0.1:9464"; empty: no
	// metrics listener.
	Listen string `json:"listen"`
}

// logConfig configures the daemon's logs.
type logConfig struct {
	// Format is auto (JSON under systemd, text otherwise), json or text.
	Format string `json:"format"`
	// Level is debug, info (default), warn or error.
	Level string `json:"level"`
}

// attachConfig configures the attach endpoint.
type attachConfig struct {
	// Enabled turns on attach (a REPL on a worker of a callable for root
	// and the daemon's own user). Off by default.
	Enabled bool `json:"enabled"`
}

// serverLimits bound requests and shutdown.
type serverLimits struct {
	// MaxRequestBytes bounds a request body; default 8 MiB.
	MaxRequestBytes int64 `json:"max_request_bytes"`
	// DrainTimeout bounds how long SIGTERM waits for calls in progress
	// before cancelling them; default "30s".
	DrainTimeout policy.Duration `json:"drain_timeout"`
}

// callableConfig is one function the daemon serves.
type callableConfig struct {
	// Name is the callable's name in the API: letters, digits, '_', '-',
	// '.'; at most 64 characters.
	Name string `json:"name"`
	// Description is free text, shown by GET /v1/callables.
	Description string `json:"description"`
	// Profile is a shipped profile name, a name from profiles, or a path
	// to a profile file (relative to the config file).
	Profile string `json:"profile"`
	// Language overrides the profile's language.
	Language string `json:"language"`
	// Setup is code run once in every worker before it serves calls.
	Setup string `json:"setup"`
	// SetupFile is a file holding the setup code (relative to the config
	// file); not together with Setup.
	SetupFile string `json:"setup_file"`
	// Function is the function (or callable expression) called with the
	// request's arguments.
	Function string `json:"function"`
	// Pool overrides the profile's pool settings.
	Pool poolOverrides `json:"pool"`
	// Allow lists the callers besides root and the daemon's own user.
	Allow allowConfig `json:"allow"`
}

// poolOverrides override the pool section of a callable's profile.
type poolOverrides struct {
	// MinIdle overrides pool.min_idle.
	MinIdle *int `json:"min_idle"`
	// MaxSize overrides pool.max_size.
	MaxSize *int `json:"max_size"`
	// FreshPerTask overrides pool.fresh_per_task.
	FreshPerTask *bool `json:"fresh_per_task"`
	// RecycleAfter overrides pool.recycle_after.
	RecycleAfter *int `json:"recycle_after"`
	// QueueTimeout overrides pool.queue_timeout.
	QueueTimeout *policy.Duration `json:"queue_timeout"`
}

// allowConfig lists the callers of a callable, checked with SO_PEERCRED.
type allowConfig struct {
	// UIDs are user ids allowed to call.
	UIDs []uint32 `json:"uids"`
	// GIDs are group ids allowed to call (the caller's effective group).
	GIDs []uint32 `json:"gids"`
	// Users are user names, resolved at load.
	Users []string `json:"users"`
	// Groups are group names, resolved at load.
	Groups []string `json:"groups"`
}

// config is a loaded, validated config.
type config struct {
	Path            string
	SocketPath      string
	SocketMode      os.FileMode
	SocketGID       int // -1: leave as is
	MetricsListen   string
	LogFormat       string
	LogLevel        string
	AttachEnabled   bool
	MaxRequestBytes int64
	DrainTimeout    time.Duration
	Callables       []*callable
}

// callable is a validated callable.
type callable struct {
	Name        string
	Description string
	ProfileRef  string          // as written in the config
	Profile     *policy.Profile // with language and pool overrides applied
	Language    string
	Setup       string
	Function    string
	UIDs        []uint32
	GIDs        []uint32
}

// lookup returns the callable called name, or nil.
func (c *config) lookup(name string) *callable {
	for _, k := range c.Callables {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// configError is one problem in a config file, naming the field and the
// fix. Validation joins all of them with errors.Join.
type configError struct {
	File    string
	Field   string
	Problem string
	Fix     string
}

// Error formats the problem as one line: "config FILE: FIELD: PROBLEM; fix: FIX".
func (e *configError) Error() string {
	var b strings.Builder
	if e.File != "" {
		fmt.Fprintf(&b, "config %s: ", e.File)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Problem)
	if e.Fix != "" {
		b.WriteString("; fix: " + e.Fix)
	}
	return b.String()
}

// errorLines splits a joined error into its one-line parts.
func errorLines(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, errorLines(e)...)
		}
		return out
	}
	return strings.Split(err.Error(), "\n")
}

var (
	// compiled on first use: every sandbox's init process runs this
	// program's package initializers
	nameRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	})
	configFileRT = reflect.TypeFor[configFile]()
)

// loadConfig reads, strictly decodes and validates the config file at
// path. All problems are reported at once, each a *configError.
func loadConfig(path string) (*config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &configError{File: path, Problem: "cannot open: " + errText(err), Fix: "give the path of a config file (sandboxd serve -config FILE)"}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, &configError{File: path, Problem: "cannot read: " + errText(err)}
	}
	return parseConfig(data, path)
}

// errText is err's message without the *PathError's operation and path.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// parseConfig decodes and validates a config; path names it in messages
// and anchors relative paths.
func parseConfig(data []byte, path string) (*config, error) {
	fail := func(errs []error) error {
		for _, e := range errs {
			var ce *configError
			if errors.As(e, &ce) && ce.File == "" {
				ce.File = path
			}
		}
		return errors.Join(errs...)
	}
	if len(data) > maxConfigBytes {
		return nil, fail([]error{&configError{Problem: "the file is larger than 4 MiB", Fix: "check that this is the right file"}})
	}
	if !utf8.Valid(data) {
		return nil, fail([]error{&configError{Problem: "the file is not valid UTF-8", Fix: "save it as UTF-8"}})
	}
	jsonData, isJSON := data, true
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".yaml" || ext == ".yml" || (ext != ".json" && !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))) {
		isJSON = false
		var err error
		if jsonData, err = yaml.YAMLToJSON(data); err != nil {
			return nil, fail([]error{&configError{Problem: "not valid YAML: " + strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "), Fix: "fix the YAML at the place named"}})
		}
		if bytes.Equal(bytes.TrimSpace(jsonData), []byte("null")) {
			jsonData = nil
		}
	}
	if err := policy.StrictCheck(jsonData, "", "config", configFileRT, isJSON); err != nil {
		var errs []error
		for _, fe := range policy.FieldErrors(err) {
			errs = append(errs, &configError{Field: fe.Field, Problem: fe.Problem, Fix: fe.Fix})
		}
		return nil, fail(errs)
	}
	var cf configFile
	dec := json.NewDecoder(bytes.NewReader(jsonData))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cf); err != nil {
		return nil, fail([]error{&configError{Problem: "cannot decode: " + err.Error()}})
	}
	cfg, errs := cf.validate(filepath.Dir(path))
	if len(errs) > 0 {
		return nil, fail(errs)
	}
	cfg.Path = path
	return cfg, nil
}

// validate checks every field and resolves profiles, setup files, users
// and groups.
func (cf *configFile) validate(dir string) (*config, []error) {
	var errs []error
	add := func(field, problem, fix string) {
		errs = append(errs, &configError{Field: field, Problem: problem, Fix: fix})
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	cfg := &config{
		SocketPath: defaultSocketPath, SocketMode: defaultSocketMode, SocketGID: -1,
		MetricsListen: cf.Metrics.Listen, LogFormat: cf.Log.Format, LogLevel: cf.Log.Level,
		AttachEnabled: cf.Attach.Enabled, MaxRequestBytes: defaultMaxRequestBytes, DrainTimeout: defaultDrainTimeout,
	}
	if cf.Version != configVersion {
		add("version", fmt.Sprintf("this build reads version %d (got %d)", configVersion, cf.Version), `set "version": 1`)
	}
	if p := cf.Socket.Path; p != "" {
		if !filepath.IsAbs(p) {
			add("socket.path", fmt.Sprintf("must be an absolute path (got %q)", p), "write the full path, e.g. "+defaultSocketPath)
		} else if msg := socketPathTooLong(p); msg != "" {
			add("socket.path", msg, "choose a shorter path")
		}
		cfg.SocketPath = p
	}
	if m := cf.Socket.Mode; m != "" {
		v, err := strconv.ParseUint(m, 8, 32)
		if err != nil || v > 0o777 {
			add("socket.mode", fmt.Sprintf("must be an octal mode such as \"0660\" (got %q)", m), `write it as a quoted octal string, e.g. "0660"`)
		} else if v&0o600 != 0o600 {
			add("socket.mode", fmt.Sprintf("%q does not let the daemon's own user connect", m), `include 0600, e.g. "0660"`)
		}
		cfg.SocketMode = os.FileMode(v)
	}
	if g := cf.Socket.Group; g != "" {
		if gid, err := lookupGroup(g); err != nil {
			add("socket.group", err.Error(), "name an existing group, or remove the field")
		} else {
			cfg.SocketGID = int(gid)
		}
	}
	if l := cf.Metrics.Listen; l != "" {
		if _, port, err := net.SplitHostPort(l); err != nil || port == "" {
			add("metrics.listen", fmt.Sprintf("must be host:port (got %q)", l), `write e.g. "127.0.0.1:9464", or remove the field for no metrics listener`)
		}
	}
	if f := cf.Log.Format; f != "" && !slices.Contains([]string{"auto", "json", "text"}, f) {
		add("log.format", fmt.Sprintf("unknown format %q", f), `use "auto", "json" or "text"`)
	}
	if l := cf.Log.Level; l != "" && !slices.Contains([]string{"debug", "info", "warn", "error"}, l) {
		add("log.level", fmt.Sprintf("unknown level %q", l), `use "debug", "info", "warn" or "error"`)
	}
	if n := cf.Limits.MaxRequestBytes; n != 0 {
		if n < minMaxRequestBytes || n > maxMaxRequestBytes {
			add("limits.max_request_bytes", fmt.Sprintf("must be between 1 KiB and 1 GiB (got %d)", n), "remove it for the default (8 MiB) or set e.g. 8388608")
		}
		cfg.MaxRequestBytes = n
	}
	if d := cf.Limits.DrainTimeout; d != 0 {
		if d < 0 {
			add("limits.drain_timeout", "must not be negative", `set e.g. "30s"`)
		}
		cfg.DrainTimeout = d.Std()
	}
	for name, p := range cf.Profiles {
		if !nameRE().MatchString(name) {
			add("profiles."+name, "is not a valid profile name", "use letters, digits, '_', '-' and '.'")
		}
		if p == "" {
			add("profiles."+name, "is empty", "give the path of a profile file")
		}
	}
	if len(cf.Callables) == 0 {
		add("callables", "no callables", `add at least one: {"name": "decode", "profile": "decoder", "function": "decode", "setup": "..."}`)
	}
	loaded := map[string]*policy.Profile{}
	seen := map[string]bool{}
	for i := range cf.Callables {
		c := &cf.Callables[i]
		at := fmt.Sprintf("callables[%d]", i)
		if c.Name != "" {
			at = fmt.Sprintf("callables[%d] (%s)", i, c.Name)
		}
		k := &callable{Name: c.Name, Description: c.Description, ProfileRef: c.Profile, Function: c.Function, UIDs: c.Allow.UIDs, GIDs: c.Allow.GIDs, Setup: c.Setup}
		switch {
		case c.Name == "":
			add(at+".name", "missing", `give the callable a name, e.g. "decode"`)
		case !nameRE().MatchString(c.Name):
			add(at+".name", fmt.Sprintf("%q is not a valid name", c.Name), "use at most 64 letters, digits, '_', '-' and '.', starting with a letter or digit")
		case seen[c.Name]:
			add(at+".name", fmt.Sprintf("%q is used by an earlier callable", c.Name), "give each callable its own name")
		}
		seen[c.Name] = true
		switch {
		case c.Function == "":
			add(at+".function", "missing", "name the function to call, e.g. \"decode\"")
		case len(c.Function) > 256 || strings.ContainsFunc(c.Function, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			add(at+".function", "must be a function name on one line of at most 256 bytes", "name the function defined by the setup code")
		}
		if c.Setup != "" && c.SetupFile != "" {
			add(at+".setup_file", "given together with setup", "keep one of setup and setup_file")
		} else if c.SetupFile != "" {
			data, err := readSmallFile(abs(c.SetupFile), maxSetupBytes)
			if err != nil {
				add(at+".setup_file", err.Error(), "give the path of the setup code, relative to the config file")
			}
			k.Setup = string(data)
		}
		for _, u := range c.Allow.Users {
			uid, err := lookupUser(u)
			if err != nil {
				add(at+".allow.users", err.Error(), "name an existing user, or use allow.uids")
				continue
			}
			k.UIDs = append(k.UIDs, uid)
		}
		for _, g := range c.Allow.Groups {
			gid, err := lookupGroup(g)
			if err != nil {
				add(at+".allow.groups", err.Error(), "name an existing group, or use allow.gids")
				continue
			}
			k.GIDs = append(k.GIDs, gid)
		}
		if c.Profile == "" {
			add(at+".profile", "missing", fmt.Sprintf("name a shipped profile (%s), one from profiles, or a profile file", strings.Join(profiles.Names(), ", ")))
			continue
		}
		base, ok := loaded[c.Profile]
		if !ok {
			var err error
			base, err = resolveProfile(c.Profile, cf.Profiles, abs)
			if err != nil {
				for _, line := range errorLines(err) {
					add(at+".profile", line, "")
				}
				continue
			}
			loaded[c.Profile] = base
		}
		p := base.Clone()
		if c.Language != "" {
			p.Language = c.Language
		}
		o := c.Pool
		if o.MinIdle != nil {
			p.Pool.MinIdle = *o.MinIdle
		}
		if o.MaxSize != nil {
			p.Pool.MaxSize = *o.MaxSize
		}
		if o.FreshPerTask != nil {
			p.Pool.FreshPerTask = *o.FreshPerTask
		}
		if o.RecycleAfter != nil {
			p.Pool.RecycleAfter = *o.RecycleAfter
		}
		if o.QueueTimeout != nil {
			p.Pool.QueueTimeout = *o.QueueTimeout
		}
		if err := p.Validate(); err != nil {
			for _, fe := range policy.FieldErrors(err) {
				field := at + "." + fe.Field
				switch {
				case fe.Field == "language":
				case strings.HasPrefix(fe.Field, "pool."):
				default:
					field = at + ".profile"
				}
				add(field, fe.Problem+fmt.Sprintf(" (profile %q)", p.Name), fe.Fix)
			}
			continue
		}
		if !isContainer(p) {
			// A preset (plain, sudo, ssh, lxc): its command must build.
			if _, err := sandbox.PresetOptions(p); err != nil {
				add(at+".profile", err.Error(), "complete the profile's launcher section")
				continue
			}
		}
		k.Profile = p
		k.Language = p.Language
		cfg.Callables = append(cfg.Callables, k)
	}
	return cfg, errs
}

// resolveProfile loads the profile a callable names: a name from the
// config's profiles, a shipped profile, or a file.
func resolveProfile(ref string, named map[string]string, abs func(string) string) (*policy.Profile, error) {
	if path, ok := named[ref]; ok {
		return policy.Load(abs(path))
	}
	if slices.Contains(profiles.Names(), ref) {
		return profiles.Load(ref)
	}
	if strings.ContainsRune(ref, '/') || slices.Contains([]string{".json", ".yaml", ".yml"}, strings.ToLower(filepath.Ext(ref))) {
		return policy.Load(abs(ref))
	}
	return nil, fmt.Errorf("no profile %q; fix: name a shipped profile (%s), add it to \"profiles\", or give a path to a profile file", ref, strings.Join(profiles.Names(), ", "))
}

// loadProfileRef loads a profile named on the command line: a shipped
// profile's name or a file.
func loadProfileRef(ref string) (*policy.Profile, error) {
	return resolveProfile(ref, nil, func(p string) string { return p })
}

// readSmallFile reads a file of at most limit bytes.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s: %s", path, errText(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %s", path, errText(err))
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%s is not valid UTF-8", path)
	}
	return data, nil
}

// lookupUser resolves a user name or number.
func lookupUser(s string) (uint32, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(n), nil
	}
	u, err := user.Lookup(s)
	if err != nil {
		return 0, fmt.Errorf("no user %q", s)
	}
	n, err := strconv.ParseUint(u.Uid, 10, 32)
	return uint32(n), err
}

// lookupGroup resolves a group name or number.
func lookupGroup(s string) (uint32, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(n), nil
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		return 0, fmt.Errorf("no group %q", s)
	}
	n, err := strconv.ParseUint(g.Gid, 10, 32)
	return uint32(n), err
}
