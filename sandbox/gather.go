package sandbox

import (
	"context"
	"fmt"
	"sync"
)

// Gather calls p's function once per input (each input is an argument
// list), spreading the calls over the pool's workers (at most
// pool.max_size at once), and returns the results in input order. errs is
// nil when every call succeeded; else errs[i] is the error of input i (nil
// for the inputs that succeeded) and results[i] is T's zero value where
// errs[i] is not nil. When ctx is done, the inputs not yet started fail
// with ctx's error.
func Gather[T any](ctx context.Context, p *Pool, inputs [][]any) (results []T, errs []error) {
	results = make([]T, len(inputs))
	errs = make([]error, len(inputs))
	sem := make(chan struct{}, p.maxSize)
	var wg sync.WaitGroup
	for i, args := range inputs {
		started := false
		if ctx.Err() == nil {
			select {
			case sem <- struct{}{}:
				started = true
			case <-ctx.Done():
			}
		}
		if !started {
			errs[i] = fmt.Errorf("sandbox pool %q: gather: input %d not started: %w", p.name, i, ctx.Err())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i], errs[i] = CallAs[T](ctx, p, args...)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return results, errs
		}
	}
	return results, nil
}
