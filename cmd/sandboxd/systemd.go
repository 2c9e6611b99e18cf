package main

import (
	"fmt"
	"net"
	"os"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
)

// activatedListener returns the listening socket that systemd passed
// (LISTEN_FDS and LISTEN_PID naming this process), or nil when the daemon
// was not socket-activated. The variables are removed from the environment
// and the descriptor is marked close-on-exec, so that workers never
// inherit it.
func activatedListener() (net.Listener, error) {
	ls, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	switch {
	case len(ls) == 0:
		return nil, nil
	case len(ls) > 1:
		for _, l := range ls {
			if l != nil {
				l.Close()
			}
		}
		return nil, fmt.Errorf("socket activation passed %d sockets; fix: give sandboxd.socket exactly one ListenStream", len(ls))
	case ls[0] == nil:
		return nil, fmt.Errorf("socket activation passed a descriptor that is not a listening socket; fix: use ListenStream= in sandboxd.socket")
	}
	if _, ok := ls[0].(*net.UnixListener); !ok {
		ls[0].Close()
		return nil, fmt.Errorf("socket activation passed a %s socket; fix: sandboxd needs a Unix socket (ListenStream=/run/sandboxd/sandboxd.sock): it checks callers with SO_PEERCRED", ls[0].Addr().Network())
	}
	return ls[0], nil
}

// underSystemd reports whether systemd started the daemon (it then logs
// JSON, which journald keeps as structured fields' text).
func underSystemd() bool {
	return os.Getenv("JOURNAL_STREAM") != "" || os.Getenv("INVOCATION_ID") != ""
}

// notify sends a state to systemd's NOTIFY_SOCKET, when there is one
// ("READY=1", "STOPPING=1", "RELOADING=1"). Errors are only logged by the
// caller: outside systemd there is nobody to tell.
func notify(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}
