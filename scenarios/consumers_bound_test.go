package scenarios

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

// TestExpectationsFollowMaxConsumers: with more competing consumers than a fault's own draw
// (Limits.MaxConsumers), a cell finds what ExpectedWithin states for those limits, 100 seeds
// and the search as `simulate matrix` runs them; where the bound adds a mechanism, that is not
// what Expected (the default topology) states. Within a kind's own draw (reorder: 1-2,
// concurrent-consumers: 2-3) nothing changes.
func TestExpectationsFollowMaxConsumers(t *testing.T) {
	cell := func(p, c, w, f string) result.Cell {
		return result.Cell{Producer: p, Consumer: c, Workload: w, Fault: f}
	}
	tests := []struct {
		cell      result.Cell
		consumers int
		differs   bool // ExpectedWithin differs from Expected
	}{
		// Two consumers apply two price changes of one product in either order.
		{cell("outbox", "naive", "prices", fault.None), 2, true},
		{cell("double-write", "inbox", "prices", fault.LostAck), 3, true},
		// versioned skips an older credit another consumer took after a newer one.
		{cell("publish-first", "versioned", "credits", fault.None), 2, true},
		// The relay's first copy waits while the broker is away; two consumers take both copies.
		{cell("outbox", "inbox-racy", "orders", fault.BrokerDown), 2, true},
		{cell("log-tailing", "inbox-racy", "credits", fault.BrokerRestart), 3, true},
		// What holds with competing consumers: a unique key, and a flagged copy that finds the
		// first one recorded.
		{cell("outbox", "inbox", "orders", fault.BrokerDown), 3, false},
		{cell("outbox", "redelivered-flag", "credits", fault.PartitionBroker), 2, false},
		// Within the kind's own draw.
		{cell("outbox", "naive", "prices", fault.Reorder), 2, false},
		{cell("outbox", "inbox-racy", "orders", fault.ConcurrentConsumers), 3, false},
	}
	differs := 0
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.cell, tt.consumers), func(t *testing.T) {
			opts := DefaultOptions()
			opts.NoShrink = true
			opts.Limits.MaxConsumers = tt.consumers
			exp := ExpectedWithin(tt.cell, opts.Limits)
			if got := !slices.Equal(exp.Breaks, Expected(tt.cell).Breaks); got != tt.differs {
				t.Fatalf("ExpectedWithin differs from Expected: %v, want %v (%v against %v)", got, tt.differs, exp.Breaks, Expected(tt.cell).Breaks)
			}
			if tt.differs {
				differs++
				if !strings.Contains(exp.Reason(), "competing consumers (Limits.MaxConsumers)") {
					t.Errorf("reason does not name the bound: %s", exp.Reason())
				}
			}
			r, err := RunCell(context.Background(), harness.NewSim(), tt.cell, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Expected, exp.Breaks) && len(r.Expected)+len(exp.Breaks) > 0 {
				t.Errorf("RunCell expects %v, ExpectedWithin %v", r.Expected, exp.Breaks)
			}
			if !r.Matches {
				t.Errorf("found %v, expected %v (may break %v): %s", r.Broken(), r.Expected, r.MayBreak, r.Reason)
			}
		})
	}
	if differs == 0 {
		t.Error("no cell's expectation follows the consumers bound")
	}
}

// TestExploreFollowsMaxConsumers: an exhaustive exploration compares with the expectation for its
// bounds. Within (2 commands, 1 fault, 2 consumers, 4 interleavings) schedule 244 of
// double-write/inbox-racy/orders under partition-broker pays an order twice: a 1 ms cut under the
// producer's second publish loses its confirm and the producer publishes it again, consumer-1 and
// consumer-2 each take a copy, and both look in the processed log before either commits. One
// consumer keeps it.
func TestExploreFollowsMaxConsumers(t *testing.T) {
	c := result.Cell{Producer: "double-write", Consumer: "inbox-racy", Workload: "orders", Fault: fault.PartitionBroker}
	b := Bounds{MaxCommands: 2, MaxFaults: 1, MaxConsumers: 2, Interleavings: 4}
	opts := DefaultOptions()
	opts.Explore = &b
	r, err := RunCell(context.Background(), harness.NewSim(), c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Exhausted || !slices.Contains(r.Broken(), invariants.NoDuplicateEffect) {
		t.Fatalf("exhausted %v, broken %v: want the duplicate", r.Exhausted, r.Broken())
	}
	if !r.Matches || !slices.Contains(r.MayBreak, invariants.NoDuplicateEffect) {
		t.Errorf("matches %v, may break %v: %s", r.Matches, r.MayBreak, r.Reason)
	}
	if Expected(c).Agrees(r.Broken()) {
		t.Errorf("the default topology's expectation agrees with %v: the bound does not matter", r.Broken())
	}
	if r.Counterexample == nil || r.Counterexample.Schedule != 244 {
		t.Errorf("counterexample %+v, want schedule 244", r.Counterexample)
	}
}

// TestCompeteShown: every allowance competing consumers add (competeShown) is shown by the run it
// cites: the run breaks the allowed invariant and nothing the expectation rules out, the cell's
// reason cites it, and a cell allows nothing with fewer consumers than its run has.
func TestCompeteShown(t *testing.T) {
	ctx := context.Background()
	for c, run := range competeShown {
		t.Run(c.String(), func(t *testing.T) {
			lim := DefaultLimits
			lim.MaxConsumers = run.consumers
			sc, err := FromSeed(c, run.seed, lim)
			if run.schedule > 0 {
				lim = limitsFor(run.bounds())
				sc, err = ScheduleOf(c, run.bounds(), run.schedule)
			}
			if err != nil {
				t.Fatal(err)
			}
			exp := ExpectedWithin(c, lim)
			var allowed []invariants.Name
			for _, name := range exp.MayBreak {
				for _, why := range exp.Reasons {
					if strings.HasPrefix(why, "may break "+string(name)+",") && strings.Contains(why, run.String()) {
						allowed = append(allowed, name)
					}
				}
			}
			if len(allowed) == 0 {
				t.Fatalf("no allowance cites %s: %s", run, exp.Reason())
			}
			out, err := RunScenario(ctx, harness.NewSim(), sc)
			if err != nil {
				t.Fatal(err)
			}
			broken := invariants.Broken(out.Violations)
			for _, name := range allowed {
				if !slices.Contains(broken, name) {
					t.Errorf("%s does not break %s (broken: %v)", run, name, broken)
				}
			}
			for _, name := range broken {
				if !slices.Contains(exp.Breaks, name) && !slices.Contains(exp.MayBreak, name) {
					t.Errorf("%s breaks %s, neither expected (%v) nor allowed (%v)", run, name, exp.Breaks, exp.MayBreak)
				}
			}
			if run.consumers > 2 {
				fewer := DefaultLimits
				fewer.MaxConsumers = run.consumers - 1
				for _, name := range allowed {
					if slices.Contains(ExpectedWithin(c, fewer).MayBreak, name) {
						t.Errorf("allows %s with %d consumers; the run has %d", name, fewer.MaxConsumers, run.consumers)
					}
				}
			}
		})
	}
}
