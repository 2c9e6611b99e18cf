//go:build linux

package sandbox

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/sandbond/sandbond/bond"
	"github.com/sandbond/sandbond/profiles"
)

// BenchmarkColdStart compares a sandboxed `python3 -c pass` (start to exit,
// container removed) with the bare interpreter, interleaved in the same
// loop so that machine noise hits both alike. It reports medians in ms:
// bare, sandboxed, sandboxed without the seccomp filter, sandboxed without
// filter and cgroups, and the overhead.
func BenchmarkColdStart(b *testing.B) {
	needRoot(b)
	const py = "/usr/bin/python3"
	l := newTestLauncher(b, testProfile("python"))
	nl := newTestLauncher(b, testProfile("python"))
	nl.noSeccomp = true
	// ncg has neither the filter nor cgroups: what the cgroup v1 joins cost.
	pn := testProfile("python")
	pn.Limits.Cgroups = "optional"
	ncg := newTestLauncher(b, pn)
	ncg.noSeccomp, ncg.cgroups = true, false
	spec := &bond.LaunchSpec{Language: "python", Argv: []string{py, "-c", "pass"}}
	sandboxed := func(l *ContainerLauncher) time.Duration {
		t0 := time.Now()
		p, err := l.Launch(context.Background(), spec)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Wait(); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	sandboxed(l) // resolve the interpreter, warm the caches
	sandboxed(nl)
	sandboxed(ncg)
	var bare, sb, nosc, nocg []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := exec.Command(py, "-c", "pass").Run(); err != nil {
			b.Fatal(err)
		}
		bare = append(bare, time.Since(t0))
		sb = append(sb, sandboxed(l))
		nosc = append(nosc, sandboxed(nl))
		nocg = append(nocg, sandboxed(ncg))
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(ms(median(bare)), "bare-ms")
	b.ReportMetric(ms(median(sb)), "sandboxed-ms")
	b.ReportMetric(ms(median(nosc)), "noseccomp-ms")
	b.ReportMetric(ms(median(nocg)), "noseccomp-nocgroup-ms")
	b.ReportMetric(ms(median(sb)-median(bare)), "overhead-ms")
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkSeccompCompile measures compiling the builtin interpreter
// profile to BPF with libseccomp: what libcontainer's init pays at every
// start (the launcher parses and converts the JSON only once).
func BenchmarkSeccompCompile(b *testing.B) {
	raw, err := profiles.SeccompProfile("builtin:interpreter")
	if err != nil {
		b.Fatal(err)
	}
	f, err := compileSeccomp(raw)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := bpfSize(f.Config)
	b.ReportMetric(float64(n), "insns")
	for b.Loop() {
		if _, err := bpfSize(f.Config); err != nil {
			b.Fatal(err)
		}
	}
}
