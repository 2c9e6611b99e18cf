//go:build linux

package sandbox_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sandbond/sandbond/profiles"
	"github.com/sandbond/sandbond/sandbox"
)

// ExampleCallable runs a Python function on untrusted input in the decoder
// profile: each call gets a fresh rootless container with no network and
// a default-deny seccomp filter. The program must call sandbox.Init first
// thing in main. (Not run by go test: it needs a host that allows
// containers, which go test cannot assume.)
func ExampleCallable() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // closes the pool and its sandboxes

	type stats struct {
		Words int    `json:"words"`
		First string `json:"first"`
	}
	count, err := sandbox.Callable[stats](ctx, profiles.Decoder(), "python", `
def count_words(text):
    words = text.split()
    return {"words": len(words), "first": words[0] if words else ""}
`, "count_words")
	if err != nil {
		log.Fatal(err)
	}
	s, err := count(ctx, "the quick brown fox")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Words, s.First)
}
