package bond

import (
	"io"
	"log/slog"
	"time"

	"github.com/sandbond/sandbond/drivers"
)

// Channel says how the protocol travels between host and interpreter.
type Channel int

const (
	// ChannelAuto uses dedicated descriptors unless Options.Command is
	// set, in which case it uses stdio.
	ChannelAuto Channel = iota
	// ChannelFDs carries the protocol on descriptors 3 and 4; the
	// interpreter's stdout and stderr stay separate pipes.
	ChannelFDs
	// ChannelStdio carries the protocol on stdin and stdout, for commands
	// that pass only stdio along (ssh, sudo).
	ChannelStdio
)

// Defaults.
const (
	DefaultMaxMessageBytes = 32 << 20
	DefaultGracePeriod     = 2 * time.Second
	DefaultStartTimeout    = 30 * time.Second
	DefaultMaxBlobBytes    = 1 << 30
)

// Options configure a bond. The zero value is usable.
type Options struct {
	// Command replaces the interpreter command. It is a shell command
	// string, as in python-bond: "ssh host python3", "sudo -u nobody
	// python3". A command without shell metacharacters is split into
	// words and run directly; any other runs under /bin/sh -c. When its
	// first word is ssh, the words appended to it are quoted a second time
	// for the remote shell. Empty means the driver's interpreter, resolved
	// to its real path once.
	Command string
	// Args are extra interpreter arguments, placed after the default
	// arguments. They are quoted automatically, unlike Command.
	Args []string
	// NoDefaultArgs drops the driver's default interpreter arguments.
	NoDefaultArgs bool
	// Dir is the working directory of the interpreter.
	Dir string
	// Env is the interpreter's environment; nil means the current one.
	Env []string
	// Timeout bounds each top-level call that has no earlier deadline.
	// Zero means no default timeout.
	Timeout time.Duration
	// StartTimeout bounds the start, up to the driver's ready message.
	StartTimeout time.Duration
	// GracePeriod is how long a cancelled call waits after interrupting
	// the interpreter before killing it, and how long Close waits for the
	// interpreter to exit before killing it.
	GracePeriod time.Duration
	// Transcript, when set, receives every protocol line, prefixed with
	// "-> " (host to interpreter) or "<- " (interpreter to host).
	Transcript io.Writer
	// Stdout and Stderr receive what the interpreter prints; nil discards.
	Stdout, Stderr io.Writer
	// Logger receives the bond's own diagnostics; nil discards them.
	Logger *slog.Logger
	// MaxMessageBytes bounds a message from the interpreter.
	MaxMessageBytes int
	// MaxOutputBytes bounds what the interpreter may print over the life
	// of the bond; zero means no limit.
	MaxOutputBytes int64
	// Channel selects the protocol channel.
	Channel Channel
	// NoSideChannel keeps bytes in the protocol lines (base64) and files
	// out of reach, even where the dedicated-fd channel could carry them
	// on its side channel (see PROTOCOL.md).
	NoSideChannel bool
	// MaxBlobBytes bounds the bytes an interpreter may send on the side
	// channel in one message; default DefaultMaxBlobBytes.
	MaxBlobBytes int64
	// Launcher starts the process; nil means a plain child process.
	Launcher Launcher
	// Driver replaces the language's driver (tests use it to play a fake
	// interpreter). It must be a complete driver.
	Driver *drivers.Driver
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.MaxMessageBytes <= 0 {
		r.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if r.MaxBlobBytes <= 0 {
		r.MaxBlobBytes = DefaultMaxBlobBytes
	}
	if r.GracePeriod <= 0 {
		r.GracePeriod = DefaultGracePeriod
	}
	if r.StartTimeout <= 0 {
		r.StartTimeout = DefaultStartTimeout
	}
	if r.Stdout == nil {
		r.Stdout = io.Discard
	}
	if r.Stderr == nil {
		r.Stderr = io.Discard
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.Channel == ChannelAuto {
		r.Channel = ChannelFDs
		if r.Command != "" {
			r.Channel = ChannelStdio
		}
	}
	return r
}
