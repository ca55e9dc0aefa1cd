package real_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/containers"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"github.com/deliveryharness/harness/strategies"
	"github.com/deliveryharness/harness/strategies/strategytest"
)

// The chain's middle services as teams write them (strategytest), registered in this test
// binary, which is also the workers' binary.
func init() {
	if err := strategytest.RegisterChainServices(); err != nil {
		panic(err)
	}
}

// chainScenario is one order through the chain with one consumer-side fault.
func chainScenario(consumer string, f history.Fault, n int) history.Scenario {
	sc := history.Scenario{
		Producer: "outbox", Consumer: consumer, Workload: "chain", Fault: f.Kind, Seed: 1,
		Commands:  scenarios.Commands(scenarios.NewSeedSource(0), "chain", n, 1),
		Consumers: 1, Prefetch: 1, Batch: 1,
	}
	if f.Kind != "none" {
		sc.Faults = []history.Fault{f}
	}
	return sc
}

// TestChainOnReal: on PostgreSQL and RabbitMQ, the payment service's shipments reach the shipping
// service through its own outbox, a relay and a second queue of the run's, which the run removes;
// the harness finds the ghost message of a middle service that emits before it pays and the
// second output of one that names its message after the clock, as the simulator does, and a
// middle service that emits in its payment's transaction keeps every invariant on both.
func TestChainOnReal(t *testing.T) {
	inf := containers.Require(t)
	realB := real.NewBackend(inf)
	simB := harness.NewSim()
	none := history.Fault{Kind: "none"}
	crashBeforeCommit := history.Fault{Kind: "crash-consumer", Target: "consumer-1", Point: strategies.PointConsumerBeforeCommit, Nth: 1}
	lostAck := history.Fault{Kind: "lost-ack", Target: "consumer-1", Nth: 1}
	for _, tc := range []struct {
		name string
		sc   history.Scenario
		want []invariants.Name
	}{
		{"inbox ships every payment once", chainScenario("inbox", none, 3), nil},
		{"emit-first emits a ghost when it dies before its payment commits", chainScenario("chain-emit-first", crashBeforeCommit, 1), []invariants.Name{invariants.NoGhostMessage}},
		{"emit-first without a fault", chainScenario("chain-emit-first", none, 2), nil},
		{"fresh-id emits a second message for the redelivered order", chainScenario("chain-fresh-id", lostAck, 1), []invariants.Name{invariants.NoDuplicateEffect, invariants.SameOutput}},
		{"in-tx holds when it dies before its commit", chainScenario("chain-in-tx", crashBeforeCommit, 1), nil},
		{"naive pays twice and ships once", chainScenario("naive", lostAck, 1), []invariants.Name{invariants.NoDuplicateEffect}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, b := range []harness.Backend{simB, realB} {
				out, err := scenarios.RunScenario(context.Background(), b, tc.sc)
				if err != nil {
					t.Fatalf("%s: %v", b.Name(), err)
				}
				h := out.History
				if got := invariants.Broken(out.Violations); !slices.Equal(got, tc.want) {
					t.Errorf("%s broke %q, want %q:\n%s", b.Name(), got, tc.want, scenariotest.Describe(h, out.Violations))
				}
				paid := map[string]bool{}
				for _, e := range h.Final.Effects {
					paid[e.Msg] = true
				}
				shipped := map[string]int{}
				for _, s := range h.Final.Shipped {
					shipped[s.Key]++
				}
				for id := range paid {
					if shipped[id] == 0 {
						t.Errorf("%s: %s paid and never shipped: %+v", b.Name(), id, h.Final.Shipped)
					}
				}
				if len(h.Final.Emitted) == 0 || !slices.ContainsFunc(h.Events, func(e history.Event) bool { return e.Proc == "shipping" && e.Op == history.OpApply }) {
					t.Errorf("%s: no downstream traffic: %+v", b.Name(), h.Final)
				}
				if b == realB {
					q := amqp.QueueOf(inf.AMQPURL, h.Run+real.ChainQueueSuffix)
					exists, err := q.Exists(context.Background())
					_ = q.Close()
					if err != nil || exists {
						t.Errorf("the chain's queue %s outlived its run (exists %v, %v)", q.Name, exists, err)
					}
				}
			}
		})
	}
}

// TestChainCatalogueOnReal: a sample of the chain's catalogue cells on real servers agrees with
// the catalogue, a few seeds a cell: the orders' breaks, and never a ghost or a second output.
func TestChainCatalogueOnReal(t *testing.T) {
	inf := containers.Require(t)
	b := real.NewBackend(inf)
	opts := scenarios.DefaultOptions()
	opts.Seeds = 3
	opts.NoShrink, opts.Search = true, 0
	cells := []result.Cell{
		{Producer: "outbox", Consumer: "inbox", Workload: "chain", Fault: "crash-consumer"},
		{Producer: "outbox", Consumer: "naive", Workload: "chain", Fault: "crash-relay"},
		{Producer: "outbox", Consumer: "natural", Workload: "chain", Fault: "lost-ack"},
		{Producer: "double-write", Consumer: "inbox", Workload: "chain", Fault: "ambiguous-commit"},
		{Producer: "log-tailing", Consumer: "versioned", Workload: "chain", Fault: "crash-consumer"},
		{Producer: "outbox", Consumer: "ack-first", Workload: "chain", Fault: "partition-db"},
	}
	var lines []string
	for _, c := range cells {
		r, err := scenarios.RunCell(context.Background(), b, c, opts)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		exp := scenarios.Expected(c)
		lines = append(lines, fmt.Sprintf("%s: %d runs, broke %v, expected %q", c, r.Runs, r.Violations, exp.Breaks))
		for n, runs := range r.Violations {
			if runs == 0 {
				continue
			}
			if !slices.Contains(exp.Breaks, n) && !slices.Contains(exp.MayBreak, n) {
				t.Errorf("%s broke %s on real servers, which the catalogue rules out (%s)", c, n, exp.Reason())
			}
		}
	}
	t.Log("\n" + strings.Join(lines, "\n"))
}

// TestCleanTakesAChainRunsQueue: after a chain run that was killed (its schema left with its
// liveness lock free), Clean removes its second queue with the first.
func TestCleanTakesAChainRunsQueue(t *testing.T) {
	inf := containers.Require(t)
	ctx := context.Background()
	runID := real.NewRunID()
	schema, err := pg.CreateSchema(ctx, inf.PostgresURL, runID)
	if err != nil {
		t.Fatal(err)
	}
	var queues []*amqp.Queue
	for _, id := range []string{runID, runID + real.ChainQueueSuffix} {
		q, err := amqp.DeclareQueue(ctx, inf.AMQPURL, id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Delete(context.Background()); _ = q.Close() })
		queues = append(queues, q)
	}
	schema.Close() // the run's process is gone
	rep, err := real.Clean(ctx, inf, false)
	if err != nil {
		t.Fatal(err)
	}
	want := amqp.QueueName(runID) + ", " + amqp.QueueName(runID+real.ChainQueueSuffix)
	if !slices.ContainsFunc(rep.Dropped, func(l real.Leftover) bool { return l.Kind == "queue" && l.Name == want }) {
		t.Errorf("dropped %v, want the queues %s", rep.Dropped, want)
	}
	for _, q := range queues {
		if exists, err := q.Exists(ctx); err != nil || exists {
			t.Errorf("%s: exists %v, %v", q.Name, exists, err)
		}
	}
}
