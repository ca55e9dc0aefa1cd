package scenarios_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"pgregory.net/rapid"
)

// natsChanged are the faults whose cells NATS changes (catalogue_nats.go): every cell of them is
// in the sample.
var natsChanged = []string{fault.LostConfirm, fault.CrashRelay, fault.CrashConsumer, fault.LostAck, fault.PartitionBroker, fault.BrokerDown, fault.ConcurrentConsumers}

// natsSample is the NATS cells the property tests run, in the order of scenarios.BrokerCells:
// every stride-th cell of the workloads orders and prices under the faults NATS changes, and
// every (4*stride)-th of the others; with HARNESS_NATS_ALL=1, every NATS cell. The whole set is
// about as many cells as RabbitMQ's, and as slow as TestNothingUnexpected.
func natsSample(stride int) []result.Cell {
	all := scenarios.BrokerCells(history.BrokerNATS)
	if os.Getenv("HARNESS_NATS_ALL") == "1" {
		return all
	}
	var out []result.Cell
	for i, c := range all {
		changed := slices.Contains(natsChanged, c.Fault) && (c.Workload == "orders" || c.Workload == "prices")
		if changed && i%stride == 0 || i%(4*stride) == 0 {
			out = append(out, c)
		}
	}
	return out
}

// TestNATSCells: the NATS cells are RabbitMQ's, on NATS, less broker-restart and new-subscriber.
func TestNATSCells(t *testing.T) {
	rabbit, nats := scenarios.Cells(), scenarios.BrokerCells(history.BrokerNATS)
	if !slices.Equal(scenarios.BrokerCells(history.BrokerRabbitMQ), rabbit) || !slices.Equal(scenarios.BrokerCells(""), rabbit) {
		t.Error("BrokerCells(rabbitmq) is not Cells()")
	}
	want := 0
	for _, c := range rabbit {
		if c.Fault != fault.BrokerRestart && c.Fault != fault.NewSubscriber {
			want++
		}
	}
	if len(nats) != want {
		t.Errorf("%d NATS cells, want %d", len(nats), want)
	}
	for _, c := range nats {
		if c.Broker != history.BrokerNATS || c.Fault == fault.BrokerRestart || c.Fault == fault.NewSubscriber || !strings.HasSuffix(c.String(), "@nats") {
			t.Fatalf("NATS cell %s", c)
		}
	}
	if scenarios.BrokerCells("kafka") != nil {
		t.Error("an unknown broker has cells")
	}
}

// TestNATSNothingUnexpected: for the sampled NATS cells, every drawn scenario breaks only
// invariants the catalogue expects or allows there: the correct pairings hold on NATS.
func TestNATSNothingUnexpected(t *testing.T) {
	b := harness.NewSim()
	for _, c := range natsSample(4) {
		exp := scenarios.Expected(c)
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			rapid.Check(t, func(rt *rapid.T) {
				sc := scenariotest.Scenarios(c, scenarios.DefaultLimits).Draw(rt, "scenario")
				if sc.Broker != history.BrokerNATS {
					rt.Fatalf("drawn on broker %q", sc.Broker)
				}
				out, err := scenarios.RunScenario(context.Background(), b, sc)
				if err != nil {
					rt.Fatalf("harness failed: %v", err)
				}
				for _, name := range invariants.Broken(out.Violations) {
					if !slices.Contains(exp.Breaks, name) && !slices.Contains(exp.MayBreak, name) {
						rt.Fatalf("%s broke %s, which the catalogue says holds (%s):\n%s", c, name, exp.Reason(), scenariotest.Describe(out.History, out.Violations))
					}
				}
			})
		})
	}
}

// TestNATSKnownBreaksAreFound: every invariant the catalogue expects a sampled NATS cell to break
// is found within findBound draws, and shrinks to a small scenario.
func TestNATSKnownBreaksAreFound(t *testing.T) {
	b := harness.NewSim()
	restore := setRapidFlags(t, map[string]string{"rapid.checks": fmt.Sprint(findBound), "rapid.nofailfile": "true", "rapid.seed": "1"})
	defer restore()
	t.Run("cells", func(t *testing.T) {
		for _, c := range natsSample(8) {
			for _, inv := range scenarios.Expected(c).Breaks {
				t.Run(c.String()+"/"+string(inv), func(t *testing.T) {
					t.Parallel()
					var last *history.Scenario
					tb := &quietTB{name: t.Name()}
					rapid.Check(tb, func(rt *rapid.T) {
						sc := scenariotest.Scenarios(c, scenarios.DefaultLimits).Draw(rt, "scenario")
						out, err := scenarios.RunScenario(context.Background(), b, sc)
						if err != nil {
							t.Errorf("harness failed: %v", err)
							return
						}
						if slices.Contains(invariants.Broken(out.Violations), inv) {
							last = &sc
							rt.Fatalf("broken")
						}
					})
					if last == nil {
						t.Fatalf("%s: %s not found within %d draws (%s)", c, inv, findBound, scenarios.Expected(c).Reason())
					}
					small, err := scenarios.Shrink(context.Background(), b, *last, inv)
					if err != nil {
						t.Fatal(err)
					}
					if small.Broker != history.BrokerNATS {
						t.Fatalf("shrunk onto broker %q", small.Broker)
					}
					if len(small.Commands) > natsSmallest(c) || len(small.Faults) > 1 {
						t.Errorf("%s: %s shrank only to %d commands and %d faults: %+v", c, inv, len(small.Commands), len(small.Faults), small)
					}
				})
			}
		}
	})
}

// natsSmallest is how many commands a NATS cell's smallest counterexample needs. Where a fault
// closes a consumer's connection at its ack (lost-ack, and a cut or an outage at amqp.ack), the
// delivery it acked is applied already, and a consumer that skips repeats skips its redelivery:
// the stale one is a second, prefetched delivery the closed connection also left unacknowledged,
// which comes back after the ack wait behind a third, newer one. Three commands, then.
func natsSmallest(c result.Cell) int {
	switch c.Fault {
	case fault.LostAck, fault.PartitionBroker, fault.BrokerDown, fault.ConcurrentConsumers:
		return max(3, smallest(c))
	}
	return smallest(c)
}

// TestNATSClaims: what the broker changes, cell by cell, as the catalogue states it and as the
// runs show it: the window absorbs a publisher's or a relay's retry within it, not a consumer's
// redelivery nor a republish after it, and a redelivery after the ack wait comes behind a newer
// event.
func TestNATSClaims(t *testing.T) {
	b := harness.NewSim()
	opts := scenarios.DefaultOptions()
	opts.Seeds, opts.Search, opts.NoShrink = 100, 900, true
	tests := []struct {
		cell         result.Cell
		rabbit, nats []invariants.Name
	}{
		// A lost confirm's retry, and a relay's republish after a crash: absorbed.
		{result.Cell{Producer: "double-write", Consumer: "naive", Workload: "orders", Fault: fault.LostConfirm}, []invariants.Name{invariants.NoDuplicateEffect}, nil},
		{result.Cell{Producer: "outbox", Consumer: "redelivered-flag", Workload: "orders", Fault: fault.LostConfirm}, []invariants.Name{invariants.NoDuplicateEffect}, nil},
		{result.Cell{Producer: "outbox", Consumer: "naive", Workload: "orders", Fault: fault.CrashRelay}, []invariants.Name{invariants.NoDuplicateEffect}, nil},
		// A consumer's redelivery: not absorbed; an inbox still holds.
		{result.Cell{Producer: "outbox", Consumer: "naive", Workload: "orders", Fault: fault.LostAck}, []invariants.Name{invariants.NoDuplicateEffect}, []invariants.Name{invariants.NoDuplicateEffect}},
		{result.Cell{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: fault.CrashConsumer}, nil, nil},
		// The redelivery after the ack wait comes after the first consumer committed.
		{result.Cell{Producer: "outbox", Consumer: "inbox-racy", Workload: "orders", Fault: fault.ConcurrentConsumers}, []invariants.Name{invariants.NoDuplicateEffect}, nil},
		// ... and behind a newer event of its key.
		{result.Cell{Producer: "outbox", Consumer: "inbox", Workload: "prices", Fault: fault.CrashConsumer}, nil, []invariants.Name{invariants.Converges}},
		{result.Cell{Producer: "outbox", Consumer: "versioned", Workload: "credits", Fault: fault.CrashConsumer}, nil, []invariants.Name{invariants.NoLostEffect, invariants.Balance}},
	}
	for _, tt := range tests {
		for _, run := range []struct {
			broker string
			want   []invariants.Name
		}{{"", tt.rabbit}, {history.BrokerNATS, tt.nats}} {
			c := tt.cell
			c.Broker = run.broker
			t.Run(c.String(), func(t *testing.T) {
				if got := scenarios.Expected(c).Breaks; !slices.Equal(got, run.want) {
					t.Errorf("the catalogue expects %q, want %q", got, run.want)
				}
				r, err := scenarios.RunCell(context.Background(), b, c, opts)
				if err != nil {
					t.Fatal(err)
				}
				if got := r.Broken(); !slices.Equal(got, run.want) || !r.Matches {
					t.Errorf("the runs broke %q (matches %v), want %q", got, r.Matches, run.want)
				}
			})
		}
	}
}

// TestNATSMayBreakIsReachable: each run a NATS cell's allowance cites breaks it, and the cell's
// reason cites it.
func TestNATSMayBreakIsReachable(t *testing.T) {
	b := harness.NewSim()
	for _, tt := range []struct {
		cell result.Cell
		inv  invariants.Name
		seed uint64
	}{
		{result.Cell{Producer: "publish-first", Consumer: "versioned", Workload: "prices", Fault: fault.BrokerDown, Broker: history.BrokerNATS}, invariants.NoLostEffect, 7},
		{result.Cell{Producer: "publish-first", Consumer: "versioned", Workload: "prices", Fault: fault.PartitionBroker, Broker: history.BrokerNATS}, invariants.NoLostEffect, 405},
		{result.Cell{Producer: "outbox", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery, Broker: history.BrokerNATS}, invariants.Converges, 499},
		{result.Cell{Producer: "log-tailing", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery, Broker: history.BrokerNATS}, invariants.Converges, 499},
		{result.Cell{Producer: "outbox-offset", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery, Broker: history.BrokerNATS}, invariants.Converges, 499},
		{result.Cell{Producer: "outbox-fenced", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery, Broker: history.BrokerNATS}, invariants.Converges, 499},
		{result.Cell{Producer: "event-sourcing", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery, Broker: history.BrokerNATS}, invariants.Converges, 499},
		{result.Cell{Producer: "dedup-buffer", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery, Broker: history.BrokerNATS}, invariants.Converges, 2084},
	} {
		t.Run(tt.cell.String(), func(t *testing.T) {
			exp := scenarios.Expected(tt.cell)
			if !slices.Contains(exp.MayBreak, tt.inv) || !strings.Contains(exp.Reason(), fmt.Sprintf("seed %d", tt.seed)) {
				t.Fatalf("the cell does not allow %s citing seed %d: %s", tt.inv, tt.seed, exp.Reason())
			}
			sc, err := scenarios.FromSeed(tt.cell, tt.seed, scenarios.DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			out, err := scenarios.RunScenario(context.Background(), b, sc)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(invariants.Broken(out.Violations), tt.inv) {
				t.Errorf("seed %d does not break %s", tt.seed, tt.inv)
			}
		})
	}
}
