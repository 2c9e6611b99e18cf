package bench

import (
	"testing"
)

// BenchmarkCases runs every case for the languages with a driver, as Go
// benchmarks: go test -bench . ./internal/bench/
func BenchmarkCases(b *testing.B) {
	for _, c := range Cases(Languages()) {
		for _, side := range []struct {
			name string
			f    func(int) error
		}{{"sandbond", c.Sandbond}, {"floor", c.Floor}} {
			b.Run(c.Lang+"/"+c.Name+"/"+side.name, func(b *testing.B) {
				if err := c.Prepare(); err != nil {
					b.Skipf("%s not available: %v", c.Lang, err)
				}
				b.ResetTimer()
				if err := side.f(b.N); err != nil {
					b.Fatal(err)
				}
			})
		}
		c.Close()
	}
}
