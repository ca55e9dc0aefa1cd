package real_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/containers"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/jackc/pgx/v5"
)

// leftBehind returns what a run named after runID left on PostgreSQL: its schema, its
// replication slot. Other runs on the same server (other tests, other processes) do not count.
func leftBehind(t *testing.T, url, runID string) []string {
	t.Helper()
	if runID == "" {
		t.Fatal("the history names no run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := pg.SchemaPrefix + runID
	var left []string
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		left = append(left, "schema "+name)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		left = append(left, "slot "+name)
	}
	return left
}

// TestConcurrentRunsAreIsolated: two runs at once, each in its own schema and queue, end with
// their own final state and leave nothing behind.
func TestConcurrentRunsAreIsolated(t *testing.T) {
	inf := containers.Require(t)
	b := real.NewBackend(inf)
	mk := func(w string, n int) history.Scenario {
		return history.Scenario{Producer: "outbox", Consumer: "inbox", Workload: w, Fault: "none", Seed: 1,
			Commands: scenarios.Commands(scenarios.NewSeedSource(1), w, n, 1), Consumers: 1, Prefetch: 2, Batch: 2}
	}
	runs := []history.Scenario{mk("orders", 3), mk("credits", 4)}
	hs := make([]*history.History, len(runs))
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, sc := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hs[i], errs[i] = harness.Run(context.Background(), b, sc)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if got, want := len(hs[i].Final.Committed), len(runs[i].Commands); got != want || len(hs[i].Final.Effects) != want {
			t.Errorf("run %d (%s): %d committed, %d effects, want %d of each", i, runs[i].Workload, got, len(hs[i].Final.Effects), want)
		}
	}
	if hs[0].Run == hs[1].Run {
		t.Errorf("both runs are named %q", hs[0].Run)
	}
	for i, h := range hs {
		if left := leftBehind(t, inf.PostgresURL, h.Run); len(left) > 0 {
			t.Errorf("run %d left %v behind", i, left)
		}
	}
}

// TestInterruptedRunCleansUp: a run whose context ends mid-way (an interrupt) still kills its
// workers and removes its schema.
func TestInterruptedRunCleansUp(t *testing.T) {
	inf := containers.Require(t)
	b := real.NewBackend(inf)
	sc := history.Scenario{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: "broker-down", Seed: 1,
		Commands: scenarios.Commands(scenarios.NewSeedSource(1), "orders", 2, 1), Consumers: 1, Prefetch: 1, Batch: 1,
		Faults: []history.Fault{{Kind: "broker-down", Nth: 1, Duration: 20_000}}}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	h, err := harness.Run(ctx, b, sc)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the interrupt", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("cleanup took %v", d)
	}
	if h == nil {
		t.Fatal("an interrupted run returned no history")
	}
	if left := leftBehind(t, inf.PostgresURL, h.Run); len(left) > 0 {
		t.Errorf("the interrupted run left %v behind", left)
	}
}
