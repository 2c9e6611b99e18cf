package policy

import (
	"reflect"
	"strings"
)

// suggest returns the known name closest to key, or "" when none is close
// enough to be a likely misspelling. It tries, in order: the same name in
// another case or with '-' or camelCase for '_'; a name that starts with
// key, that key starts with or that contains key ("memory" for
// "memory_bytes", "timeout" for "queue_timeout"); then the
// smallest edit distance (with transpositions) of at most a third of the
// known name's length.
func suggest(key string, known []string) string {
	nk := squash(key)
	for _, k := range known {
		if squash(k) == nk {
			return k
		}
	}
	if len(nk) >= 3 {
		best := ""
		for _, k := range known {
			sk := squash(k)
			if strings.HasPrefix(sk, nk) || strings.HasPrefix(nk, sk) || (len(nk) >= 4 && strings.Contains(sk, nk)) {
				if best == "" || absDiff(len(k), len(key)) < absDiff(len(best), len(key)) {
					best = k
				}
			}
		}
		if best != "" {
			return best
		}
	}
	best, bestDist := "", len(key)+1
	for _, k := range known {
		if len(key) > 2*len(k) {
			continue
		}
		if d := editDistance(strings.ToLower(key), k); d <= max(1, len(k)/3) && d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// squash lower-cases s and drops '_', '-' and spaces.
func squash(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '_', '-', ' ':
			return -1
		}
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

func absDiff(a, b int) int {
	if a > b {
		return a - b
	}
	return b - a
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and adjacent transpositions.
// Inputs are field names, short; long keys are cut to keep it cheap.
func editDistance(a, b string) int {
	ra, rb := []rune(truncate(a, 64)), []rune(truncate(b, 64))
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// elsewhere returns the dotted path of a field named like key in another
// part of the schema than path ("limits.memory_bytes" for a memory_bytes
// written at the top level), or "".
func elsewhere(key, path string) string {
	nk := squash(key)
	var found string
	var walk func(t reflect.Type, at string)
	walk = func(t reflect.Type, at string) {
		for t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == durationType || found != "" {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name := jsonName(f)
			if name == "" {
				continue
			}
			p := join(at, name)
			if squash(name) == nk && at != path {
				found = p
				return
			}
			if f.Type.Kind() == reflect.Slice {
				p += "[]"
			}
			walk(f.Type, p)
		}
	}
	walk(profileType, "")
	return found
}
