package main

import (
	"context"
	"net"
	"slices"

	"golang.org/x/sys/unix"
)

// peer is the process at the other end of an API connection, as the kernel
// reports it with SO_PEERCRED when the connection is made.
type peer struct {
	Known    bool // false when the connection is not a Unix socket
	PID      int32
	UID, GID uint32
}

type peerKey struct{}

// connContext stores the peer's credentials in the connection's context
// (http.Server.ConnContext).
func connContext(ctx context.Context, c net.Conn) context.Context {
	if h, ok := c.(*handedConn); ok { // read when the API server accepted it
		return context.WithValue(ctx, peerKey{}, h.who)
	}
	return context.WithValue(ctx, peerKey{}, peerOf(c))
}

// peerOf reads SO_PEERCRED from a Unix connection.
func peerOf(c net.Conn) peer {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return peer{}
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return peer{}
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return peer{}
	}
	return peer{Known: true, PID: cred.Pid, UID: cred.Uid, GID: cred.Gid}
}

// peerFrom returns the peer stored by connContext.
func peerFrom(ctx context.Context) peer {
	p, _ := ctx.Value(peerKey{}).(peer)
	return p
}

// privileged reports whether p is root or the daemon's own user: they may
// use every callable and, when enabled, attach.
func (p peer) privileged(daemonUID uint32) bool {
	return p.Known && (p.UID == 0 || p.UID == daemonUID)
}

// mayCall reports whether p may call k: root, the daemon's own user, and
// the users and groups (the caller's effective group as SO_PEERCRED
// reports it; supplementary groups are not seen) that k's allow lists.
func (p peer) mayCall(k *callable, daemonUID uint32) bool {
	if !p.Known {
		return false
	}
	return p.privileged(daemonUID) || slices.Contains(k.UIDs, p.UID) || slices.Contains(k.GIDs, p.GID)
}
