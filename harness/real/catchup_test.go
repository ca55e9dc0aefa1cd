package real_test

import (
	"context"
	"testing"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/containers"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
)

// TestNewSubscriberOnReal: a sample of the new-subscriber cells on PostgreSQL and RabbitMQ, over
// the first seeded scenarios of each. Where the catalogue expects a break (the overlap of the
// replay and the live stream without dedup; what double-write published before the subscriber
// came) it is found within the seeds; nothing outside a cell's expectation breaks in any of them.
// In every run no consumer acts before the new subscriber's queue is bound.
func TestNewSubscriberOnReal(t *testing.T) {
	inf := containers.Require(t)
	b := real.NewBackend(inf)
	const seeds = 4
	cells := []result.Cell{
		{Producer: "outbox", Consumer: "naive", Workload: "orders"},
		{Producer: "outbox", Consumer: "inbox", Workload: "orders"},
		{Producer: "double-write", Consumer: "inbox", Workload: "orders"},
		{Producer: "outbox", Consumer: "redelivered-flag", Workload: "credits"},
		{Producer: "log-tailing", Consumer: "natural", Workload: "credits"},
		{Producer: "outbox", Consumer: "versioned", Workload: "prices"},
		{Producer: "outbox", Consumer: "idempotency-key", Workload: "emails"},
	}
	lim := scenarios.Limits{MaxCommands: 3, MaxKeys: 1, MaxFaults: 1, MaxDuration: 300}
	for _, c := range cells {
		c.Fault = fault.NewSubscriber
		t.Run(c.String(), func(t *testing.T) {
			requireWALFor(t, inf, c)
			runCellSeeds(t, b, c, seedRuns{seeds: seeds, lim: lim, each: func(t *testing.T, out scenarios.Outcome) {
				checkSubscribedFirst(t, out.History)
			}})
		})
	}
}

// TestNewSubscriberComesLastOnReal: a schedule whose publish never comes binds the new
// subscriber's queue once everything is published: its queue is purged of every message, and
// the replay alone brings each order once.
func TestNewSubscriberComesLastOnReal(t *testing.T) {
	inf := containers.Require(t)
	b := real.NewBackend(inf)
	sc := history.Scenario{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: fault.NewSubscriber, Seed: 1,
		Commands: scenarios.Commands(scenarios.NewSeedSource(0), "orders", 2, 1), Consumers: 1, Prefetch: 1, Batch: 1,
		Faults: []history.Fault{{Kind: fault.NewSubscriber, Target: "relay", Nth: 9}}}
	out, err := scenarios.RunScenario(context.Background(), b, sc)
	if err != nil {
		t.Fatal(err)
	}
	if broken := invariants.Broken(out.Violations); len(broken) > 0 {
		t.Fatalf("broke %q:\n%s", broken, scenariotest.Describe(out.History, out.Violations))
	}
	checkSubscribedFirst(t, out.History)
	for _, e := range out.History.Events {
		if e.Op == history.OpReceive && e.Redelivered {
			t.Errorf("%s: only the replay should bring the orders", e)
		}
	}
	if len(out.History.Final.Effects) != 2 {
		t.Errorf("%d effect rows, want 2: %v", len(out.History.Final.Effects), out.History.Final.Effects)
	}
}

// checkSubscribedFirst: the history binds the new subscriber's queue once, and no consumer
// process records anything before.
func checkSubscribedFirst(t *testing.T, h *history.History) {
	t.Helper()
	bound := -1
	for i, e := range h.Events {
		if e.Op == fault.SubscribeEvent {
			if bound >= 0 {
				t.Errorf("the queue is bound twice: %s", e)
			}
			bound = i
		}
	}
	if bound < 0 {
		t.Fatalf("the new subscriber's queue was never bound:\n%s", scenariotest.Describe(h, nil))
	}
	for _, e := range h.Events[:bound] {
		if history.RoleOf(e.Proc) == history.RoleConsumer {
			t.Fatalf("%s before the new subscriber's queue was bound", e)
		}
	}
}
