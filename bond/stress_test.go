package bond

import (
	"context"
	"errors"
	"math/rand"
	"sync"
	"testing"
	"time"
)

// TestStressCancelAndClose runs calls from many goroutines with random
// deadlines, idle gaps that let the idle reader take over, and a Close
// racing them: every call must end with a value or a typed error, and
// nothing may hang or leak (TestMain checks goroutines and children).
func TestStressCancelAndClose(t *testing.T) {
	b, err := Open(context.Background(), "python", &Options{GracePeriod: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.EvalBlock(context.Background(), "import time\ndef nap(s):\n    time.sleep(s)\n    return s"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			for i := 0; i < 40; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(5+r.Intn(60))*time.Millisecond)
				v, err := b.Call(ctx, "nap", float64(r.Intn(20))/1000)
				cancel()
				kind := "value"
				switch {
				case err == nil:
					if _, ok := v.(float64); !ok {
						t.Errorf("nap returned %#v", v)
					}
				case errors.Is(err, context.DeadlineExceeded):
					kind = "deadline"
				case errors.Is(err, ErrClosed), errors.Is(err, ErrTerminated):
					kind = "closed"
				default:
					t.Errorf("untyped outcome: %v", err)
				}
				mu.Lock()
				outcomes[kind]++
				mu.Unlock()
				if r.Intn(4) == 0 {
					time.Sleep(3 * time.Millisecond) // past idleDelay: the idle reader runs
				}
			}
		}(int64(g))
	}
	time.Sleep(400 * time.Millisecond)
	if err := b.Err(); err != nil {
		t.Fatalf("the bond broke under cancellations (an interrupt did not work): %v", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- b.Close() }()
	wg.Wait()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	if outcomes["value"] == 0 || outcomes["closed"] == 0 {
		t.Fatalf("the stress did not cover both values and a close: %v", outcomes)
	}
	t.Logf("outcomes: %v", outcomes)
}
