package sim

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
)

// TestCoroutinesAreReused: a run ends however its processes end (returned, cut short at the time
// bound with deferred port calls still to run, or panicking), its coroutines go back to the idle
// ones and the next run on them behaves as on new ones; the number of goroutines stays bounded.
func TestCoroutinesAreReused(t *testing.T) {
	sc := history.Scenario{Workload: "orders", Seed: 7, Prefetch: 1}
	cfg := DefaultConfig()
	cfg.MaxTime = 500
	returned := func(ctx context.Context, env Ports) {
		tx, err := env.Store.Begin(ctx)
		if err == nil {
			_ = tx.InsertBusiness(ctx, history.Message{ID: env.Name, Key: env.Name})
			_ = tx.Commit(ctx)
		}
	}
	endless := func(ctx context.Context, env Ports) {
		tx, err := env.Store.Begin(ctx)
		if err != nil {
			return
		}
		defer func() { _ = tx.Rollback(ctx) }() // runs when the run ends, with its port calls failing
		_ = tx.InsertBusiness(ctx, history.Message{ID: env.Name, Key: env.Name})
		for {
			env.Clock.Sleep(ctx, 1e6)
		}
	}
	panicking := func(ctx context.Context, env Ports) {
		env.Faults.Point(ctx, "before")
		panic("boom")
	}
	var first *history.History
	start := runtime.NumGoroutine()
	for i := range 200 {
		h, err := RunBodies(sc, cfg, returned, returned)
		if err != nil || len(h.Final.Committed) != 2 {
			t.Fatalf("run %d: %v, committed %v", i, err, h.Final.Committed)
		}
		if first == nil {
			first = h
		} else if len(h.Events) != len(first.Events) {
			t.Fatalf("run %d: %d events, the first run had %d", i, len(h.Events), len(first.Events))
		}
		if _, err := RunBodies(sc, cfg, returned, endless); !errors.Is(err, ErrNoQuiescence) {
			t.Fatalf("run %d with an endless body: %v", i, err)
		}
		if _, err := RunBodies(sc, cfg, panicking, endless); err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("run %d with a panicking body: %v", i, err)
		}
	}
	if n := runtime.NumGoroutine(); n > start+maxIdleCoros {
		t.Errorf("%d goroutines after the runs, %d before", n, start)
	}
}
