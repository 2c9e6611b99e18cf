// Package policy defines sandbox profiles: versioned, strictly parsed files
// (JSON canonical, YAML accepted) that say how an interpreter is launched and
// what it may touch. It is pure data and validation: it starts nothing.
package policy
