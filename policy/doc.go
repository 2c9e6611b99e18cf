// Package policy defines sandbox profiles: versioned, strictly parsed files
// (JSON canonical, YAML accepted) that say how an interpreter is launched and
// what it may touch. It is pure data and validation: it starts nothing and
// imports nothing else from sandbond.
//
// # Files
//
// A profile is one JSON object (or one YAML document) whose field names are
// the json tags of [Profile]. [Parse] and [Load] are strict: at most
// [MaxFileSize] bytes of UTF-8; unknown or misspelt fields (names are
// case-sensitive), duplicate keys, nulls, wrong types and trailing data are
// errors that name the field (with "did you mean ...?" for a misspelling);
// durations are strings such as "5s", sizes are plain numbers of bytes.
// Both validate the profile before returning it, so a bad profile is refused
// at load with every problem listed, each naming the field and the fix:
//
//	profile "decoder": limits.memory_bytes: must be at least 16 MiB (got 1024); fix: set it to e.g. 268435456
//
// Each problem is a [*FieldError]; all of them match [ErrInvalid] with
// [errors.Is], and [FieldErrors] lists them. See [Profile.Validate] for
// the rules.
//
// # Defaults
//
// A field left at zero takes its default, never "unlimited" (negative
// values are refused). [Profile.WithDefaults] returns a copy with the
// defaults filled in, which is what launchers enforce:
//
//	limits.memory_bytes       256 MiB  (at least 16 MiB)
//	limits.pids               64
//	limits.cpu_seconds        10
//	limits.wall_per_call      10s      (at most wall_per_sandbox)
//	limits.wall_per_sandbox   10m
//	limits.open_files         64       (at least 16)
//	limits.file_size_bytes    16 MiB
//	limits.output_bytes       1 MiB    (stdout and stderr, per sandbox)
//	limits.tmp_bytes          16 MiB   (the /tmp tmpfs)
//	limits.cgroups            required
//	network.mode              none for the container launcher, host for the others
//	protocol.max_message_bytes 16 MiB  (1 KiB to 1 GiB)
//	pool.min_idle             1        (never above max_size)
//	pool.max_size             4
//	pool.queue_timeout        5s
//	mounts[].target           the mount's source
//
// The launcher type, language, interpreter, environment and seccomp filter
// have no defaults: a profile states them (the container launcher requires
// a seccomp profile, e.g. "builtin:interpreter").
//
// # Review
//
// [Profile.Describe] prints a plain-English summary for a security
// reviewer (what `sandboxd check` shows), with warnings for host network,
// a missing syscall filter, rlimit-only limits and launchers that are not
// sandboxes.
package policy
