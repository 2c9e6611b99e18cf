//go:build !linux

package sandbox

// Init must be called first thing in main; on this platform it does nothing.
func Init() {}
