// Package drivers holds the per-language drivers of sandbond: the code that
// runs inside an interpreter and speaks the bond protocol (see
// bond/PROTOCOL.md), embedded in the Go binary and injected at start, so
// that nothing needs to be installed on the interpreter's side.
//
// A driver is started in two stages. Stage 1 is a one-line program given on
// the interpreter's command line (python3 -c, php -r, perl -e, node -e) that
// reads stage 2, the driver proper, from the protocol channel and runs it.
package drivers
