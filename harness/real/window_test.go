package real_test

import (
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/containers"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
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
			if exp := scenarios.Expected(c); len(exp.Breaks) == 0 {
				t.Fatalf("%s: the catalogue expects nothing to break; this case is for a known break", c)
			}
			t.Run(c.String(), func(t *testing.T) {
				runCellSeeds(t, b, c, seedRuns{seeds: bound, lim: lim, untilFound: true})
			})
		}
	})
	t.Run("holds", func(t *testing.T) {
		cells := []result.Cell{
			{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: fault.LateRedelivery},
			{Producer: "double-write", Consumer: "inbox", Workload: "credits", Fault: fault.LateRedelivery},
		}
		for _, f := range []string{fault.None, fault.CrashConsumer, fault.CrashRelay, fault.LostAck} {
			cells = append(cells, result.Cell{Producer: "outbox", Consumer: "dedup-window", Workload: "credits", Fault: f})
		}
		for _, c := range cells {
			if exp := scenarios.Expected(c); len(exp.Breaks) > 0 {
				t.Fatalf("%s: the catalogue expects %v; this case is for cells that hold", c, exp.Breaks)
			}
		}
		drawCells(t, inf, b, cells, realDraws, scenarios.Limits{MaxCommands: 3, MaxKeys: 1, MaxFaults: 1, MaxDuration: 300}, nil)
	})
	t.Logf("in %v", time.Since(start).Round(time.Second))
}
