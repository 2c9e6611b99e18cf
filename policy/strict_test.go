package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

type strictDoc struct {
	Version int `json:"version"`
	Socket  struct {
		UID  uint32    `json:"uid"`
		Wait *Duration `json:"wait,omitempty"`
	} `json:"socket"`
	Pool *struct {
		MaxSize *int `json:"max_size,omitempty"`
	} `json:"pool,omitempty"`
}

func TestStrictCheckOtherDocuments(t *testing.T) {
	rt := reflect.TypeFor[strictDoc]()
	cases := []struct {
		name, doc string
		want      []string // substrings of the error; none means valid
	}{
		{"valid", `{"version": 2, "socket": {"uid": 4294967295, "wait": "1s"}, "pool": {"max_size": 3}}`, nil},
		{"uint out of range", `{"socket": {"uid": 4294967296}}`, []string{`config "c.json": socket.uid: must be a whole number from 0 to 4294967295`}},
		{"negative uint", `{"socket": {"uid": -1}}`, []string{"socket.uid: must be a whole number"}},
		{"pointer to struct", `{"pool": {"max_sise": 3}}`, []string{`pool.max_sise: unknown field`, `did you mean "max_size"?`}},
		{"pointer to int", `{"pool": {"max_size": "3"}}`, []string{"pool.max_size: must be a whole number"}},
		{"null pointer", `{"pool": null}`, []string{"pool: is null"}},
		{"bad duration", `{"socket": {"wait": 5}}`, []string{"socket.wait: must be a duration string"}},
		{"not an object", `[1]`, []string{"a config must be an object of fields"}},
		{"empty", ``, []string{"the file holds no config"}},
		{"trailing", `{} {}`, []string{"unexpected data after the config object"}},
		{"no version check", `{"socket": {}}`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := StrictCheck([]byte(c.doc), "c.json", "config", rt, true)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("valid document refused: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want an ErrInvalid naming %q", err, c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, fe := range FieldErrors(err) {
				if fe.Kind != "config" {
					t.Errorf("FieldError.Kind = %q, want config", fe.Kind)
				}
			}
		})
	}
}
