package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatal(err)
	}
	want := "/posts/hello-world\n/posts/perl-node-friends\n/posts/go-in-the-middle\n"
	if out.String() != want {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
}
