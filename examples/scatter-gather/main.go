// Command scatter-gather counts the words of one large text by splitting it
// into chunks, scattering the chunks over a pool of sandboxed Python
// workers with sandbox.Gather, and gathering the per-chunk counts back into
// one result, which it checks against the same count made locally in Go.
//
// The workers run in the shipped worker profile (profiles.Worker():
// rootless containers with no network, reused across calls), sized here
// to four warm workers. Each worker draws a random token when it starts, and
// returns it with every result: the output shows which sandbox counted
// which chunks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"math/rand"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sandbond/sandbond/profiles"
	"github.com/sandbond/sandbond/sandbox"
)

// counterPy is the workers' setup code: it runs once in each sandbox.
const counterPy = `
import re
import secrets

WORKER = secrets.token_hex(8)  # drawn once per sandbox

def count_words(chunk):
    counts = {}
    for word in re.findall(r"[a-z]+", chunk.lower()):
        counts[word] = counts.get(word, 0) + 1
    return {"worker": WORKER, "words": sum(counts.values()), "counts": counts}
`

// chunkResult is what a worker returns for one chunk.
type chunkResult struct {
	Worker string         `json:"worker"`
	Words  int            `json:"words"`
	Counts map[string]int `json:"counts"`
}

// gathered is the combined result of all chunks.
type gathered struct {
	Counts    map[string]int // word counts over the whole text
	Words     int            // words in the whole text
	PerWorker map[string]int // chunks counted by each worker's token
	Chunks    []chunkResult  // in input order
}

// workers is the pool's size: every worker is started before the scatter.
const workers = 4

// scatterGather counts the words of text in chunks across a pool of
// sandboxed workers and combines the counts.
func scatterGather(ctx context.Context, text string, chunks int) (*gathered, error) {
	prof := profiles.Worker()
	prof.Pool.MinIdle, prof.Pool.MaxSize = workers, workers
	pool, err := sandbox.NewPool(ctx, sandbox.PoolConfig{Profile: prof, Language: "python", Setup: counterPy, Function: "count_words"})
	if err != nil {
		return nil, err
	}
	defer pool.Close()

	var inputs [][]any
	for _, c := range split(text, chunks) {
		inputs = append(inputs, []any{c}) // one argument list per call
	}
	results, errs := sandbox.Gather[chunkResult](ctx, pool, inputs)
	if errs != nil {
		return nil, errors.Join(errs...)
	}
	g := &gathered{Counts: map[string]int{}, PerWorker: map[string]int{}, Chunks: results}
	for _, r := range results {
		for w, n := range r.Counts {
			g.Counts[w] += n
		}
		g.Words += r.Words
		g.PerWorker[r.Worker]++
	}
	return g, nil
}

// split cuts text into n chunks of about the same size, at line ends.
func split(text string, n int) []string {
	var out []string
	for len(text) > 0 {
		if n == 1 {
			out = append(out, text)
			break
		}
		cut := len(text) / n
		if i := strings.IndexByte(text[cut:], '\n'); i >= 0 {
			cut += i + 1
		} else {
			cut = len(text)
		}
		out = append(out, text[:cut])
		text = text[cut:]
		n--
	}
	return out
}

// countLocal counts the words of text in Go, as the workers do: runs of
// ASCII letters, lower-cased.
func countLocal(text string) map[string]int {
	counts := map[string]int{}
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return r < 'a' || r > 'z' }) {
		counts[w]++
	}
	return counts
}

// makeText returns lines of pseudo-random sentences (a fixed seed: the same
// text every run), word frequencies following Zipf's law.
func makeText(lines int) string {
	vocab := strings.Fields(`the of and to in a is that for it as was with be by on not he this are
		or his from at which but have an they you were her she there been one all we their has
		would when if so no will can more out up into do any your what some time could them
		sandbox worker chunk gather scatter python bond pool container decoder seccomp limit`)
	r := rand.New(rand.NewSource(2024))
	zipf := rand.NewZipf(r, 1.1, 2, uint64(len(vocab)-1))
	var b strings.Builder
	for range lines {
		n := 4 + r.Intn(12)
		for i := range n {
			w := vocab[zipf.Uint64()]
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			b.WriteString(w)
			switch {
			case i == n-1:
			case r.Intn(8) == 0:
				b.WriteString(", ")
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteString(".\n")
	}
	return b.String()
}

func run(ctx context.Context, w io.Writer) error {
	text := makeText(20000)
	const chunks = 8
	start := time.Now()
	g, err := scatterGather(ctx, text, chunks)
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(w, "%d bytes of text in %d chunks over %d sandboxed workers (%v, pool start included)\n",
		len(text), chunks, workers, took.Round(time.Millisecond))
	for i, c := range g.Chunks {
		fmt.Fprintf(w, "  chunk %d: %6d words, counted by worker %s\n", i, c.Words, c.Worker)
	}
	fmt.Fprintf(w, "%d distinct workers counted the chunks\n", len(g.PerWorker))
	words := slices.SortedFunc(maps.Keys(g.Counts), func(a, b string) int {
		if g.Counts[a] != g.Counts[b] {
			return g.Counts[b] - g.Counts[a]
		}
		return strings.Compare(a, b)
	})
	fmt.Fprintf(w, "%d words, %d distinct; the most frequent:", g.Words, len(g.Counts))
	for _, word := range words[:5] {
		fmt.Fprintf(w, " %s %d", word, g.Counts[word])
	}
	fmt.Fprintln(w)
	if local := countLocal(text); !maps.Equal(local, g.Counts) {
		return fmt.Errorf("the gathered counts differ from the local count (%d distinct words locally, %d gathered)", len(local), len(g.Counts))
	}
	fmt.Fprintln(w, "the gathered counts equal the local count")
	return nil
}

func main() {
	sandbox.Init() // first thing: a container's init re-executes this binary
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		log.Fatal(err)
	}
}
