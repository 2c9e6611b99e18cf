package drivers

import "errors"

var (
	// ErrUnknownLanguage is returned by Lookup for a language no driver speaks.
	ErrUnknownLanguage = errors.New("unknown language")
	// ErrUnsafeCacheDir: a directory that would hold code the host has an
	// interpreter run (PHP's local start) is writable by other users, or
	// not owned by this one.
	ErrUnsafeCacheDir = errors.New("cache directory not private")
	// ErrUnsupported: the operation is not available on this platform.
	ErrUnsupported = errors.ErrUnsupported
)
