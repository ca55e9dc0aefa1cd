package real_test

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
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
	start := time.Now()
	cells := natsRealSample()
	if len(cells) == 0 {
		t.Fatal("no nats cells in the sample")
	}
	drawCells(t, inf, b, cells, 2, scenarios.Limits{MaxCommands: 3, MaxKeys: 2, MaxFaults: 1, MaxDuration: 300}, func(rt *rapid.T, c result.Cell, sc history.Scenario) {
		if sc.BrokerOf() != history.BrokerNATS {
			rt.Fatalf("%s drew a scenario on %q", c, sc.Broker)
		}
	})
	t.Logf("%d nats cells x 2 draws in %v", len(cells), time.Since(start).Round(time.Second))
}
