package policy

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a [time.Duration] that reads and writes as a Go duration
// string in profile files: "5s", "1m30s", "250ms". Numbers are refused, so
// that "5" can never silently mean five nanoseconds.
type Duration time.Duration

// Std returns d as a [time.Duration].
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like [time.Duration.String].
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string, e.g. "5s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string such as "5s". JSON null leaves d
// unchanged, as for the built-in types; anything else is an error.
func (d *Duration) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	if len(data) == 0 || data[0] != '"' {
		return fmt.Errorf("policy: a duration must be a string with a unit such as \"5s\" or \"250ms\", not %s", truncate(string(data), 40))
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("policy: bad duration %s: %w", truncate(string(data), 40), err)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDuration parses a Go duration string ("5s", "1m30s") as a
// [Duration]. Bare numbers other than "0" are refused: they have no unit.
func ParseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("policy: bad duration %q: want a number with a unit such as \"5s\", \"250ms\" or \"10m\"", truncate(s, 40))
	}
	return Duration(v), nil
}
