package main

import (
	"context"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sandbond/sandbond/internal/testenv"
	"github.com/sandbond/sandbond/sandbox"
)

func TestMain(m *testing.M) {
	sandbox.Init()
	os.Exit(m.Run())
}

// needRoot skips (fails under CI) where containers cannot be started.
func needRoot(t *testing.T) { testenv.NeedRoot(t, "the scatter-gather tests start containers") }

func TestSplit(t *testing.T) {
	text := makeText(1000)
	for _, n := range []int{1, 2, 7, 8, 13} {
		parts := split(text, n)
		if len(parts) != n {
			t.Errorf("split into %d: got %d chunks", n, len(parts))
		}
		if strings.Join(parts, "") != text {
			t.Errorf("split into %d: the chunks do not add up to the text", n)
		}
		for i, p := range parts {
			if !strings.HasSuffix(p, "\n") {
				t.Errorf("split into %d: chunk %d does not end a line", n, i)
			}
		}
	}
}

func TestScatterGather(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	text := makeText(20000)
	g, err := scatterGather(ctx, text, 8)
	if err != nil {
		t.Fatal(err)
	}
	local := countLocal(text)
	if !maps.Equal(g.Counts, local) {
		t.Fatalf("gathered counts differ from the local count: %d vs %d distinct words", len(g.Counts), len(local))
	}
	total := 0
	for _, n := range local {
		total += n
	}
	if g.Words != total || total < 100000 {
		t.Fatalf("gathered %d words, local count %d (want over 100000)", g.Words, total)
	}
	if len(g.Chunks) != 8 {
		t.Fatalf("%d chunk results, want 8", len(g.Chunks))
	}
	// Each sandbox draws its own token at start: chunks with different
	// tokens ran in different sandboxes. Gather runs up to four calls at
	// once on four warm workers, so more than one must have taken part.
	n := 0
	for tok, chunks := range g.PerWorker {
		if len(tok) != 16 {
			t.Errorf("worker token %q is not 16 hex digits", tok)
		}
		n += chunks
	}
	if n != 8 || len(g.PerWorker) < 2 || len(g.PerWorker) > workers {
		t.Fatalf("chunks per worker %v: want 8 chunks over 2 to %d workers", g.PerWorker, workers)
	}
	t.Logf("chunks per worker: %v", g.PerWorker)
}

func TestRun(t *testing.T) {
	needRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"in 8 chunks over 4 sandboxed workers", "chunk 7:", "the most frequent: the ",
		"the gathered counts equal the local count"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
