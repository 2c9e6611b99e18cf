// Package profiles ships sandbond's tested policy profiles and the
// builtin seccomp filters they name.
//
// Two profiles are shipped, both rootless containers with no network:
//
//   - decoder ([Decoder]): the strictest, for untrusted input. A fresh
//     sandbox per task, no host paths beyond what the interpreter needs,
//     128 MiB of memory, 32 processes, 5 s of CPU, 5 s per call, 1 min per
//     sandbox, a 16 MiB /tmp, 1 MiB of output, 8 MiB messages and the
//     builtin:interpreter syscall filter.
//   - worker ([Worker]): a recycled worker (replaced after 1000 calls) with
//     more generous limits: 512 MiB, 128 processes, 30 s per call.
//
// Both name python as their language. The filter they use,
// builtin:interpreter, serves all four drivers, so a caller that wants
// another language copies the profile and sets it:
//
//	p := profiles.Decoder() // a fresh copy: change it freely
//	p.Language = policy.LanguageNode
//
// Both set limits.cgroups to "optional" so that a daemon running as an
// ordinary user still works; there, memory and process limits fall back to
// rlimits, and the sandbox logs it. Set it to "required" in a copy to
// refuse to start without cgroups instead.
//
// The profiles are the JSON files beside this package's source, embedded
// at build time; `sandboxd check` prints a reviewer's summary of any of
// them ([policy.Profile.Describe]).
package profiles
