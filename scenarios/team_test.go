package scenarios_test

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/strategies"
	"github.com/deliveryharness/harness/strategies/strategytest"
)

// memDedups records every instance the constructor built, so that a test can see which
// instances handled deliveries.
var memDedups struct {
	sync.Mutex
	made []*strategytest.MemoryDedup
}

func newMemDedup() strategies.Consumer {
	m := strategytest.NewMemoryDedup("mem-dedup")
	memDedups.Lock()
	memDedups.made = append(memDedups.made, m)
	memDedups.Unlock()
	return m
}

// handlers counts the instances built since the n-th that handled at least one delivery.
func handlers(n int) int {
	memDedups.Lock()
	defer memDedups.Unlock()
	count := 0
	for _, m := range memDedups.made[n:] {
		if m.Handled > 0 {
			count++
		}
	}
	return count
}

func made() int {
	memDedups.Lock()
	defer memDedups.Unlock()
	return len(memDedups.made)
}

func init() {
	if err := strategies.RegisterConsumer("mem-dedup", newMemDedup); err != nil {
		panic(err)
	}
}

var memCell = result.Cell{Producer: "outbox", Consumer: "mem-dedup", Workload: "orders"}

// draw builds the scenario of seed for the cell under fault.
func draw(t *testing.T, f string, seed uint64) history.Scenario {
	t.Helper()
	c := memCell
	c.Fault = f
	sc, err := scenarios.FromSeed(c, seed, scenarios.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// A team's in-memory dedup set dies with its process: under crash-consumer the redelivered copy
// is applied again. With one instance shared by every incarnation, the set survived the crash
// and no duplicate showed.
func TestTeamMemoryDiesInACrash(t *testing.T) {
	b := harness.NewSim()
	for seed := uint64(1); seed <= 100; seed++ {
		h, err := harness.Run(context.Background(), b, draw(t, "crash-consumer", seed))
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(invariants.Broken(invariants.Check(h)), invariants.NoDuplicateEffect) {
			return
		}
	}
	t.Fatal("mem-dedup never duplicated under crash-consumer in 100 seeds: its memory survived the crash")
}

// Nothing leaks between runs or between competing consumers: the same scenario run twice gives
// the same history, and each competing consumer process has an instance of its own.
func TestTeamMemoryIsNotShared(t *testing.T) {
	b := harness.NewSim()
	mine, err := strategies.LookupConsumer("mem-dedup")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fault string
		seeds uint64
	}{
		{"none", 5},
		{"crash-consumer", 5},
		{"concurrent-consumers", 20},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			competed := false
			for seed := uint64(1); seed <= tc.seeds; seed++ {
				sc := draw(t, tc.fault, seed)
				var hs [2]*history.History
				for i := range hs {
					before := made()
					if hs[i], err = harness.RunWith(context.Background(), b, sc, strategies.Outbox{}, mine); err != nil {
						t.Fatal(err)
					}
					if handlers(before) > 1 {
						competed = true
					}
				}
				if !reflect.DeepEqual(hs[0].Events, hs[1].Events) {
					t.Fatalf("seed %d: a second run of the same scenario differs: memory leaked between runs", seed)
				}
				if tc.fault == "none" && len(invariants.Check(hs[1])) > 0 {
					t.Fatalf("seed %d: the second run broke %v", seed, invariants.Broken(invariants.Check(hs[1])))
				}
			}
			if tc.fault == "concurrent-consumers" && !competed {
				t.Fatal("no run had two consumer instances handling deliveries: competing consumers share one")
			}
		})
	}
}

// Shrink and FindCounterexample resolve a registered team strategy by name and shrink its failure;
// an unregistered one is an error, not a failure returned unshrunk.
func TestShrinkTeamStrategy(t *testing.T) {
	b := harness.NewSim()
	c := memCell
	c.Fault = "crash-consumer"
	for seed := uint64(1); seed <= 100; seed++ {
		sc := draw(t, c.Fault, seed)
		out, err := scenarios.RunScenario(context.Background(), b, sc)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(invariants.Broken(out.Violations), invariants.NoDuplicateEffect) {
			continue
		}
		ce, err := scenarios.FindCounterexample(context.Background(), b, c, seed, invariants.NoDuplicateEffect, scenarios.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if ce.AsDrawn || len(ce.Scenario.Commands) > 2 || len(ce.Scenario.Faults) > 1 {
			t.Fatalf("shrank only to %d commands and %d faults (drawn: %d, %d)", len(ce.Scenario.Commands), len(ce.Scenario.Faults), len(sc.Commands), len(sc.Faults))
		}
		if !slices.Contains(invariants.Broken(ce.Violations), invariants.NoDuplicateEffect) {
			t.Fatalf("the shrunk scenario no longer breaks no-duplicate-effect: %v", ce.Violations)
		}
		unregistered := sc
		unregistered.Consumer = "team-unregistered"
		if _, err := scenarios.Shrink(context.Background(), b, unregistered, invariants.NoDuplicateEffect); err == nil {
			t.Fatal("Shrink of an unregistered strategy returned no error")
		}
		return
	}
	t.Fatal("no seed broke no-duplicate-effect")
}
