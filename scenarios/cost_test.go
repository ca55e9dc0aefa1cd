package scenarios

import (
	"context"
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

// TestCost: statements and broker operations are counted per committed event, infrastructure
// events are not, and latency runs from the business COMMIT to the effect's commit (or, for an
// effect outside the database, to the email the gateway sent).
func TestCost(t *testing.T) {
	ev := func(at int64, proc, op string, out history.Outcome, msg, detail string) history.Event {
		return history.Event{Time: at, Proc: proc, Op: op, Outcome: out, Msg: msg, Detail: detail}
	}
	ok := history.OK
	orders := &history.History{Backend: "real", Scenario: history.Scenario{Workload: "orders"},
		Final: history.Final{Committed: []history.Message{{ID: "order-1"}, {ID: "order-2"}}},
		Events: []history.Event{
			ev(0, "producer", history.OpProduce, ok, "order-1", ""),
			ev(1, "producer", history.OpInsert, ok, "order-1", ""),
			ev(2, "producer", history.OpCommit, ok, "order-1", ""),
			ev(3, "producer", history.OpPublish, ok, "order-1", ""),
			ev(3, "broker", history.OpEnqueue, history.Info, "order-1", ""),
			ev(4, "producer", history.OpConfirm, ok, "order-1", ""),
			ev(5, "producer", history.OpInsert, ok, "order-2", ""),
			ev(6, "producer", history.OpCommit, ok, "order-2", ""),
			ev(10, "consumer-1", history.OpApply, ok, "order-1", ""),
			ev(11, "consumer-1", history.OpApply, ok, "order-2", ""),
			{Time: 12, Proc: "consumer-1", Op: history.OpCommit, Outcome: ok, Msgs: []string{"order-1", "order-2"}, Detail: "order-1 order-2"},
			ev(13, "consumer-1", history.OpAck, ok, "order-1", ""),
			ev(1000, "harness", history.OpQuiesce, history.Info, "", ""),
		}}
	var m costMeter
	m.add(orders)
	c := m.cost()
	if c.Events != 2 || c.DBStatements != 3.5 || c.BrokerOps != 1.5 {
		t.Errorf("counts %+v, want 2 events, 3.5 statements and 1.5 broker operations per event", c)
	}
	if c.LatencyP50 != 6 || c.LatencyP99 != 10 {
		t.Errorf("latency p50 %v p99 %v, want 6 and 10 ms", c.LatencyP50, c.LatencyP99)
	}
	if c.Throughput != 166.7 { // 2 events from the first command (t=0) to the last effect (t=12)
		t.Errorf("throughput %v, want 2 events in 12 ms", c.Throughput)
	}

	emails := &history.History{Backend: "sim", Scenario: history.Scenario{Workload: "emails"},
		Final: history.Final{Committed: []history.Message{{ID: "signup-1"}}},
		Events: []history.Event{
			ev(1, "producer", history.OpCommit, ok, "signup-1", ""),
			ev(7, "consumer-1", history.OpApply, ok, "signup-1", ""),
			ev(7, "gateway", history.OpSend, history.Info, "signup-1", "email to user-1"),
			ev(9, "consumer-1", history.OpCommit, ok, "signup-1", ""),
		}}
	m = costMeter{}
	m.add(emails)
	c = m.cost()
	if c.LatencyP50 != 6 || c.Throughput != 0 {
		t.Errorf("emails: %+v, want 6 ms to the email and no throughput on the simulator", c)
	}
	if (&costMeter{}).cost() != nil {
		t.Error("a cost without events")
	}
}

// TestNoShrinkKeepsTheFailingRun: without shrinking, the counterexample is the run that broke
// the invariant, as drawn, and says so (on real servers a second run need not break it again).
func TestNoShrinkKeepsTheFailingRun(t *testing.T) {
	c := result.Cell{Producer: "outbox", Consumer: "naive", Workload: "orders", Fault: "crash-relay"}
	opts := DefaultOptions()
	opts.Seeds, opts.NoShrink = 20, true
	r, err := RunCell(context.Background(), harness.NewSim(), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	ce := r.Counterexample
	if ce == nil || !ce.AsDrawn {
		t.Fatalf("counterexample %+v, want one marked as drawn", ce)
	}
	want, err := FromSeed(c, ce.Seed, opts.Limits)
	if err != nil {
		t.Fatal(err)
	}
	if len(ce.Scenario.Commands) != len(want.Commands) || len(ce.Scenario.Faults) != len(want.Faults) || ce.History == nil {
		t.Errorf("scenario %d commands, %d faults; the seed draws %d and %d", len(ce.Scenario.Commands), len(ce.Scenario.Faults), len(want.Commands), len(want.Faults))
	}
	if !slices.Contains(invariants.Broken(ce.Violations), ce.Invariant) {
		t.Errorf("the counterexample does not break %s", ce.Invariant)
	}
}
