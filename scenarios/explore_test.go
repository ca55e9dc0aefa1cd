package scenarios_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
)

// TestEnumerateCounts: the schedules within bounds, counted by hand for small cells.
func TestEnumerateCounts(t *testing.T) {
	orders := func(p, c, f string) result.Cell {
		return result.Cell{Producer: p, Consumer: c, Workload: "orders", Fault: f}
	}
	tests := []struct {
		name   string
		cell   result.Cell
		bounds scenarios.Bounds
		want   int
	}{
		// The relay's 3 points (after-claim, after-publish, after-commit), each at its 1st pass.
		{"crash-relay (1,1)", orders("outbox", "naive", fault.CrashRelay), scenarios.DefaultBounds, 3},
		// 1 command: 3 points x nth 1; 2 commands: 3 points x nth 1..2 = 6. 3 + 6 = 9.
		{"crash-relay (2,1)", orders("outbox", "naive", fault.CrashRelay), scenarios.Bounds{MaxCommands: 2, MaxFaults: 1, Interleavings: 1}, 9},
		// One fault: 3; two faults: 3 x 3 ordered pairs = 9. 3 + 9 = 12.
		{"crash-relay (1,2)", orders("outbox", "naive", fault.CrashRelay), scenarios.Bounds{MaxCommands: 1, MaxFaults: 2, Interleavings: 1}, 12},
		// Each of the 3 schedules with interleaving seeds 1 and 2.
		{"crash-relay (1,1) x2 interleavings", orders("outbox", "naive", fault.CrashRelay), scenarios.Bounds{MaxCommands: 1, MaxFaults: 1, Interleavings: 2}, 6},
		// Targets: the publisher (the producer: no relay) and consumer-1 = 2; nth 1..3 (3 broker
		// operations a command); durations 1 ms and 300 ms = 2. 2 x 3 x 2 = 12.
		{"partition-broker (1,1)", orders("double-write", "naive", fault.PartitionBroker), scenarios.DefaultBounds, 12},
		// The producer's links db and broker, consumer-1's db, broker and gateway = 5 (target,
		// link) pairs; nth 1..3; 2 durations. 5 x 3 x 2 = 30.
		{"latency emails (1,1)", result.Cell{Producer: "double-write", Consumer: "naive", Workload: "emails", Fault: fault.Latency}, scenarios.DefaultBounds, 30},
		// naive's 3 points (after-receive, before-commit, after-effect) on consumer-1.
		{"crash-consumer (1,1)", orders("outbox", "naive", fault.CrashConsumer), scenarios.DefaultBounds, 3},
		// Up to 2 consumers: 1 consumer, 3 points; 2 consumers, 2 targets x 3 points = 6. 3 + 6 = 9.
		{"crash-consumer (1,1) 2 consumers", orders("outbox", "naive", fault.CrashConsumer), scenarios.Bounds{MaxCommands: 1, MaxFaults: 1, MaxConsumers: 2, Interleavings: 1}, 9},
		// No fault to draw: 1 command, then 2 commands = 2.
		{"none (2,1)", orders("outbox", "inbox", fault.None), scenarios.Bounds{MaxCommands: 2, MaxFaults: 1, Interleavings: 1}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scs, exhausted, err := scenarios.Enumerate(tt.cell, tt.bounds, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(scs) != tt.want || !exhausted {
				for _, sc := range scs {
					t.Logf("%d commands, %d consumers, seed %d: %v", len(sc.Commands), sc.Consumers, sc.Seed, sc.Faults)
				}
				t.Fatalf("%d schedules (exhausted %v), want %d, all", len(scs), exhausted, tt.want)
			}
			// A limit below the count stops the enumeration and says so.
			part, exhausted, err := scenarios.Enumerate(tt.cell, tt.bounds, tt.want-1)
			if err != nil || exhausted || len(part) != tt.want-1 || !reflect.DeepEqual(part, scs[:tt.want-1]) {
				t.Fatalf("limit %d: %d schedules, exhausted %v, err %v: want the first %d, not exhausted", tt.want-1, len(part), exhausted, err, tt.want-1)
			}
		})
	}
}

// TestExploreDeterministic: the same cell and bounds, the same schedules, runs and verdict.
func TestExploreDeterministic(t *testing.T) {
	c := result.Cell{Producer: "publish-first", Consumer: "inbox", Workload: "credits", Fault: fault.PartitionBroker}
	b := scenarios.Bounds{MaxCommands: 2, MaxFaults: 1, Interleavings: 2}
	run := func() result.CellResult {
		r, err := scenarios.RunCell(context.Background(), harness.NewSim(), c, scenarios.Options{Explore: &b})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, z := run(), run()
	if a.Explored == 0 || !a.Exhausted || a.Runs != a.Explored {
		t.Fatalf("explored %d (exhausted %v) in %d runs", a.Explored, a.Exhausted, a.Runs)
	}
	if fmt.Sprint(a.Violations, a.Explored, a.Matches) != fmt.Sprint(z.Violations, z.Explored, z.Matches) ||
		(a.Counterexample == nil) != (z.Counterexample == nil) ||
		a.Counterexample != nil && (a.Counterexample.Schedule != z.Counterexample.Schedule || !reflect.DeepEqual(a.Counterexample.Scenario, z.Counterexample.Scenario)) {
		t.Fatalf("two explorations differ:\n%+v\n%+v", a, z)
	}
}

// TestExploreFindsCatalogueBreaks: at one command and one fault, exhaustive exploration finds
// every break the catalogue expects under the crash, ack and confirm faults, in every cell, and
// a counterexample's schedule replays to the same break (ScheduleOf).
func TestExploreFindsCatalogueBreaks(t *testing.T) {
	kinds := []string{fault.CrashProducer, fault.CrashRelay, fault.CrashConsumer, fault.LostAck, fault.LostConfirm}
	b := scenarios.DefaultBounds
	n := 0
	for _, c := range scenarios.Cells() {
		if !contains(kinds, c.Fault) {
			continue
		}
		n++
		r, err := scenarios.RunCell(context.Background(), harness.NewSim(), c, scenarios.Options{Explore: &b})
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if !r.Exhausted || !r.Matches || len(r.Missing()) > 0 {
			t.Errorf("%s: explored %d (exhausted %v), broke %v, expected %v", c, r.Explored, r.Exhausted, r.Broken(), r.Expected)
			continue
		}
		ce := r.Counterexample
		if ce == nil {
			continue
		}
		sc, err := scenarios.ScheduleOf(c, b, ce.Schedule)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		out, err := scenarios.RunScenario(context.Background(), harness.NewSim(), sc)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if !contains(invariants.Broken(out.Violations), ce.Invariant) {
			t.Errorf("%s: schedule %d does not break %s again", c, ce.Schedule, ce.Invariant)
		}
	}
	if n == 0 {
		t.Fatal("no cell of the catalogue under a crash, ack or confirm fault")
	}
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
