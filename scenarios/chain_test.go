package scenarios_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/component"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"github.com/deliveryharness/harness/strategies"
	"github.com/deliveryharness/harness/strategies/strategytest"
)

// The chain workload's middle services as teams write them (strategytest): one that emits before
// it pays, one that names its output after the clock, and one that does it right.
func init() {
	if err := strategytest.RegisterChainServices(); err != nil {
		panic(err)
	}
}

func lookupConsumer(t *testing.T, name string) strategies.Consumer {
	t.Helper()
	c, err := strategies.LookupConsumer(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestChainFindsBrokenMiddleServices: the harness finds the ghost message of a middle service
// that emits in a transaction of its own before its payment's, and the different output of one
// that names its message after the clock, each under the faults that make its mistake show;
// without a fault both keep every invariant.
func TestChainFindsBrokenMiddleServices(t *testing.T) {
	b := harness.NewSim()
	outbox, err := strategies.LookupProducer("outbox")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		consumer, fault string
		want            invariants.Name // "": every invariant holds
	}{
		{"chain-emit-first", "crash-consumer", invariants.NoGhostMessage},
		{"chain-emit-first", "none", ""},
		{"chain-fresh-id", "lost-ack", invariants.SameOutput},
		{"chain-fresh-id", "crash-relay", invariants.SameOutput},
		{"chain-fresh-id", "none", ""},
		{"chain-in-tx", "crash-consumer", ""},
		{"chain-in-tx", "lost-ack", ""},
		{"chain-in-tx", "ambiguous-commit", ""},
	} {
		t.Run(tc.consumer+"/"+tc.fault, func(t *testing.T) {
			c := lookupConsumer(t, tc.consumer)
			h, vs, err := scenariotest.FindViolation(context.Background(), b, outbox, c, "chain", tc.fault, 200)
			if err != nil {
				t.Fatal(err)
			}
			broken := invariants.Broken(vs)
			if tc.want == "" {
				if len(vs) > 0 {
					t.Fatalf("broke %v:\n%s", broken, scenariotest.Describe(h, vs))
				}
				return
			}
			if !slices.Contains(broken, tc.want) {
				t.Fatalf("%s not found in 200 draws (found %v)", tc.want, broken)
			}
			t.Logf("seed %d: %s", h.Scenario.Seed, vs[slices.IndexFunc(vs, func(v invariants.Violation) bool { return v.Invariant == tc.want })].Detail)
		})
	}
}

// TestChainDownstream: in a chain run on the simulator every payment's ShipmentRequested reaches
// the shipping service once, through the payment service's outbox, its relay and the second
// queue; the same seed gives the same history; and the other workloads emit nothing.
func TestChainDownstream(t *testing.T) {
	b := harness.NewSim()
	cell := result.Cell{Producer: "outbox", Consumer: "naive", Workload: "chain", Fault: "lost-ack"}
	for seed := uint64(1); seed <= 20; seed++ {
		sc, err := scenarios.FromSeed(cell, seed, scenarios.DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		h, err := harness.Run(context.Background(), b, sc)
		if err != nil {
			t.Fatal(err)
		}
		again, err := harness.Run(context.Background(), b, sc)
		if err != nil {
			t.Fatal(err)
		}
		j1, _ := json.Marshal(h)
		j2, _ := json.Marshal(again)
		if string(j1) != string(j2) {
			t.Fatalf("seed %d: two runs differ", seed)
		}
		paid := map[string]bool{}
		for _, e := range h.Final.Effects {
			paid[e.Msg] = true
		}
		var shipped []string
		for _, s := range h.Final.Shipped {
			shipped = append(shipped, s.Key)
			if s.Msg != "ship-"+s.Key {
				t.Errorf("seed %d: shipment %+v", seed, s)
			}
		}
		var want []string
		for id := range paid {
			want = append(want, id)
		}
		slices.Sort(want)
		slices.Sort(shipped)
		if !reflect.DeepEqual(shipped, want) {
			t.Errorf("seed %d: shipped %v, paid %v", seed, shipped, want)
		}
		if len(h.Final.Emitted) != len(h.Final.Effects) {
			t.Errorf("seed %d: %d rows emitted for %d payments: one row per payment, duplicates included", seed, len(h.Final.Emitted), len(h.Final.Effects))
		}
		if !slices.ContainsFunc(h.Events, func(e history.Event) bool { return e.Proc == component.Shipping }) {
			t.Errorf("seed %d: no event of the shipping service", seed)
		}
	}
	sc, err := scenarios.FromSeed(result.Cell{Producer: "outbox", Consumer: "naive", Workload: "orders", Fault: "none"}, 1, scenarios.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	h, err := harness.Run(context.Background(), b, sc)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Final.Emitted)+len(h.Final.Shipped) > 0 || slices.ContainsFunc(h.Events, func(e history.Event) bool { return e.Proc == component.ShipRelay }) {
		t.Errorf("an orders run emitted downstream: %+v", h.Final)
	}
}
