package servicetest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Loop is one of a service's loops run by hand (its Relay, a Consume), named for the test's
// messages.
type Loop struct {
	Name string
	Run  func(ctx context.Context) error
}

// Start runs each loop in a goroutine of its own, on a context of ctx, until the returned stop
// is called, or the test ends. stop ends the loops' context and waits for them: a loop that does
// not return within wait fails the test at once, one that returns an error fails it at its end.
// A second call of stop does nothing.
func Start(ctx context.Context, t testing.TB, wait time.Duration, loops ...Loop) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	type result struct {
		name string
		err  error
	}
	var wg sync.WaitGroup
	results := make(chan result, len(loops))
	for _, l := range loops {
		wg.Go(func() { results <- result{l.Name, l.Run(ctx)} })
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(wait):
			t.Fatalf("a loop did not return within %s of its context's end", wait)
		}
		close(results)
		for r := range results {
			if r.err != nil {
				t.Errorf("%s: %v", r.name, r.err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}
