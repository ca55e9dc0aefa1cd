package scenarios_test

import (
	"context"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/strategies"
)

// TestBufferCost: the cost report shows what the dedup buffer costs: its events take at least
// strategies.BufferPeriod from business COMMIT to effect, where the outbox's take less, for about
// the same statements and broker operations per event.
func TestBufferCost(t *testing.T) {
	opts := scenarios.DefaultOptions()
	opts.Seeds, opts.Search = 30, 0
	cost := map[string]*result.Cost{}
	for _, p := range []string{"outbox", "dedup-buffer"} {
		r, err := scenarios.RunCell(context.Background(), harness.NewSim(), result.Cell{Producer: p, Consumer: "inbox", Workload: "orders", Fault: "none"}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if r.Cost == nil {
			t.Fatalf("%s: no cost", p)
		}
		cost[p] = r.Cost
	}
	period := float64(strategies.BufferPeriod.Milliseconds())
	buf, ob := cost["dedup-buffer"], cost["outbox"]
	if ob.LatencyP50 >= period || buf.LatencyP50 < period || buf.LatencyP50-ob.LatencyP50 < period/2 {
		t.Errorf("latency p50: outbox %v ms, dedup-buffer %v ms; want the buffer's at least the %v ms period and the outbox's under it", ob.LatencyP50, buf.LatencyP50, period)
	}
	if buf.BrokerOps != ob.BrokerOps || buf.DBStatements > ob.DBStatements+1 {
		t.Errorf("per event: outbox %v statements %v broker operations, dedup-buffer %v and %v", ob.DBStatements, ob.BrokerOps, buf.DBStatements, buf.BrokerOps)
	}
	t.Logf("p50/p99 commit to effect: outbox %v/%v ms, dedup-buffer %v/%v ms (simulated)", ob.LatencyP50, ob.LatencyP99, buf.LatencyP50, buf.LatencyP99)
}
