package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
)

func versionVerb() verb {
	return verb{name: "version", summary: "print the version", run: func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		fs := newFlags("version", "", stderr)
		if err := parse(fs, args); err != nil {
			return err
		}
		version := "(devel)"
		if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
			version = info.Main.Version
		}
		_, err := fmt.Fprintf(stdout, "sandboxd %s\n", version)
		return err
	}}
}
