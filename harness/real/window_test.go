package real_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/containers"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"pgregory.net/rapid"
)

// TestDedupWindowOnReal: on PostgreSQL and RabbitMQ, with the wall clock and a window of
// strategies.Window, the dedup window lets a copy through that late-redelivery holds back past
// it (found within a few seeded scenarios), and holds where every copy comes inside it (rapid
// draws); the inbox holds under late-redelivery.
func TestDedupWindowOnReal(t *testing.T) {
	inf := containers.Require(t)
	b := real.NewBackend(inf)
	start := time.Now()
	t.Run("found", func(t *testing.T) {
		const bound = 12
		lim := scenarios.Limits{MaxCommands: 2, MaxKeys: 1, MaxFaults: 1, MaxDuration: 300}
		for _, c := range []result.Cell{
			{Producer: "outbox", Consumer: "dedup-window", Workload: "orders", Fault: fault.LateRedelivery},
			{Producer: "double-write", Consumer: "dedup-window", Workload: "credits", Fault: fault.LateRedelivery},
		} {
			exp := scenarios.Expected(c)
			if len(exp.Breaks) == 0 {
				t.Fatalf("%s: the catalogue expects nothing to break; this case is for a known break", c)
			}
			t.Run(c.String(), func(t *testing.T) {
				found := map[invariants.Name]uint64{}
				for seed := uint64(1); seed <= bound && len(found) < len(exp.Breaks); seed++ {
					sc, err := scenarios.FromSeed(c, seed, lim)
					if err != nil {
						t.Fatal(err)
					}
					out, err := scenarios.RunScenario(context.Background(), b, sc)
					if err != nil {
						t.Fatalf("seed %d: %v", seed, err)
					}
					for _, name := range invariants.Broken(out.Violations) {
						if !slices.Contains(exp.Breaks, name) && !slices.Contains(exp.MayBreak, name) {
							t.Fatalf("seed %d broke %s, which the catalogue rules out:\n%s", seed, name, scenariotest.Describe(out.History, out.Violations))
						}
						if _, ok := found[name]; !ok {
							found[name] = seed
						}
					}
				}
				for _, name := range exp.Breaks {
					if seed, ok := found[name]; ok {
						t.Logf("%s found at seed %d", name, seed)
					} else {
						t.Errorf("%s not found within %d seeds on real servers (%s)", name, bound, exp.Reason())
					}
				}
			})
		}
	})
	t.Run("holds", func(t *testing.T) {
		old := flag.Lookup("rapid.checks").Value.String()
		_ = flag.Set("rapid.checks", fmt.Sprint(realDraws))
		defer func() { _ = flag.Set("rapid.checks", old) }()
		cells := []result.Cell{
			{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: fault.LateRedelivery},
			{Producer: "double-write", Consumer: "inbox", Workload: "credits", Fault: fault.LateRedelivery},
		}
		for _, f := range []string{fault.None, fault.CrashConsumer, fault.CrashRelay, fault.LostAck} {
			cells = append(cells, result.Cell{Producer: "outbox", Consumer: "dedup-window", Workload: "credits", Fault: f})
		}
		for _, c := range cells {
			exp := scenarios.Expected(c)
			if len(exp.Breaks) > 0 {
				t.Fatalf("%s: the catalogue expects %v; this case is for cells that hold", c, exp.Breaks)
			}
			t.Run(c.String(), func(t *testing.T) {
				rapid.Check(t, func(rt *rapid.T) {
					sc := scenariotest.Scenarios(c, scenarios.Limits{MaxCommands: 3, MaxKeys: 1, MaxFaults: 1, MaxDuration: 300}).Draw(rt, "scenario")
					out, err := scenarios.RunScenario(context.Background(), b, sc)
					if err != nil {
						rt.Fatalf("harness: %v", err)
					}
					for _, name := range invariants.Broken(out.Violations) {
						if !slices.Contains(exp.MayBreak, name) {
							rt.Fatalf("%s broke %s on real servers:\n%s", c, name, scenariotest.Describe(out.History, out.Violations))
						}
					}
				})
			})
		}
	})
	t.Logf("in %v", time.Since(start).Round(time.Second))
}
