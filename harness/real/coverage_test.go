package real_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/realtest"
)

// TestReachedAsOnTheSimulator: the real workers' point gates fill History.Reached as the
// simulator's fault points do: for a run without faults, both list every point of the outbox, its
// relay and the inbox, by role.
func TestReachedAsOnTheSimulator(t *testing.T) {
	inf := realtest.Require(t)
	cmds := []history.Message{
		{ID: "order-1", Key: "order-1", Amount: 100, Kind: "OrderPlaced"},
		{ID: "order-2", Key: "order-2", Amount: 200, Kind: "OrderPlaced"},
	}
	sc := history.Scenario{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: "none", Seed: 1,
		Commands: cmds, Consumers: 1, Prefetch: 1, Batch: 1}
	sim, err := harness.Run(context.Background(), harness.NewSim(), sc)
	if err != nil {
		t.Fatalf("sim: %v", err)
	}
	got, err := harness.Run(context.Background(), real.NewBackend(inf), sc)
	if err != nil {
		t.Fatalf("real: %v", err)
	}
	if len(got.Reached) == 0 {
		t.Fatal("real: no fault point reached")
	}
	if !reflect.DeepEqual(got.Reached, sim.Reached) {
		t.Errorf("real reached %+v\nsim reached %+v", got.Reached, sim.Reached)
	}
}
