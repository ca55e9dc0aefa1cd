package real_test

import (
	"context"
	"flag"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
)

// natsRealSample is the sample of NATS cells run on real servers: the exactly-once pairing under
// every fault NATS has, and the cells whose expectation NATS changes (a republish the duplicate
// window drops; redeliveries it does not). The whole set of nats cells (scenarios.BrokerCells)
// takes hours on real servers at a few seconds a run; the simulator runs it all.
func natsRealSample() []result.Cell {
	var out []result.Cell
	for _, c := range scenarios.BrokerCells(history.BrokerNATS) {
		switch {
		case c.Producer == "outbox" && c.Consumer == "inbox" && c.Workload == "orders",
			c.Workload == "orders" && c.Consumer == "naive" && (c.Producer == "double-write" || c.Producer == "outbox") &&
				slices.Contains([]string{"lost-confirm", "lost-ack", "crash-relay", "crash-consumer", "partition-broker"}, c.Fault):
			out = append(out, c)
		}
	}
	return out
}

// TestNATSCatalogueHoldsOnReal: on PostgreSQL and NATS JetStream, each sampled cell breaks
// nothing its catalogue line does not expect, for 2 rapid draws per cell.
func TestNATSCatalogueHoldsOnReal(t *testing.T) {
	inf := realtest.RequireNATS(t)
	b := real.NewBackend(inf)
	old := flag.Lookup("rapid.checks").Value.String()
	_ = flag.Set("rapid.checks", "2")
	defer func() { _ = flag.Set("rapid.checks", old) }()
	start := time.Now()
	cells := natsRealSample()
	if len(cells) == 0 {
		t.Fatal("no nats cells in the sample")
	}
	for _, c := range cells {
		exp := scenarios.Expected(c)
		t.Run(c.String(), func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				sc := scenariotest.Scenarios(c, scenarios.Limits{MaxCommands: 3, MaxKeys: 2, MaxFaults: 1, MaxDuration: 300}).Draw(rt, "scenario")
				if sc.BrokerOf() != history.BrokerNATS {
					rt.Fatalf("%s drew a scenario on %q", c, sc.Broker)
				}
				out, err := scenarios.RunScenario(context.Background(), b, sc)
				if err != nil {
					rt.Fatalf("harness: %v", err)
				}
				for _, name := range invariants.Broken(out.Violations) {
					if !slices.Contains(exp.Breaks, name) && !slices.Contains(exp.MayBreak, name) {
						rt.Fatalf("%s broke %s on real servers:\n%s", c, name, scenariotest.Describe(out.History, out.Violations))
					}
				}
			})
		})
	}
	t.Logf("%d nats cells x 2 draws in %v", len(cells), time.Since(start).Round(time.Second))
}
