package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDurationRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, time.Nanosecond, 250 * time.Millisecond, 5 * time.Second, 90 * time.Second, 10 * time.Minute, 36 * time.Hour} {
		t.Run(d.String(), func(t *testing.T) {
			data, err := json.Marshal(Duration(d))
			if err != nil {
				t.Fatal(err)
			}
			if want := `"` + d.String() + `"`; string(data) != want {
				t.Errorf("marshal = %s, want %s", data, want)
			}
			var got Duration
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if got.Std() != d {
				t.Errorf("round trip = %v, want %v", got, d)
			}
		})
	}
}

func TestDurationUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: `"5s"`, want: 5 * time.Second},
		{in: `"1m30s"`, want: 90 * time.Second},
		{in: `"250ms"`, want: 250 * time.Millisecond},
		{in: `"0"`, want: 0},
		{in: `null`, want: 7}, // unchanged
		{in: `5`, err: `must be a string with a unit`},
		{in: `5.5`, err: `must be a string with a unit`},
		{in: `true`, err: `must be a string with a unit`},
		{in: `"5"`, err: `bad duration "5"`},
		{in: `"five seconds"`, err: `bad duration "five seconds"`},
		{in: `""`, err: `bad duration ""`},
		{in: `"99999999999h"`, err: `bad duration`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			d := Duration(7)
			err := json.Unmarshal([]byte(tc.in), &d)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Std() != tc.want {
				t.Errorf("got %v, want %v", d, tc.want)
			}
		})
	}
}

func TestDurationInStruct(t *testing.T) {
	var l Limits
	if err := json.Unmarshal([]byte(`{"wall_per_call": "2s"}`), &l); err != nil {
		t.Fatal(err)
	}
	if l.WallPerCall != Duration(2*time.Second) {
		t.Fatalf("got %v", l.WallPerCall)
	}
	data, err := json.Marshal(Limits{WallPerSandbox: Duration(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"wall_per_sandbox":"1m0s"}` {
		t.Fatalf("got %s", data)
	}
}
