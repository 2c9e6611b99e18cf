package sandbox

import "runtime"

// Keep the main goroutine on the main thread for the life of the program.
//
// libcontainer runs goroutines that lock their thread, join a container's
// mount namespace and exit, expecting the runtime to destroy that thread.
// The main thread cannot be destroyed: when such a goroutine lands on it,
// Go parks the thread instead, and the program keeps that container's mount
// namespace (and its mounts) alive. Pinning the main goroutine here, in a
// package init function, makes sure no other goroutine ever runs on the
// main thread. Every program that imports this package gets it.
func init() { runtime.LockOSThread() }
