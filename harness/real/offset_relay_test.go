package real_test

import (
	"context"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/strategies"
)

// positionRelays are the catalogue's relays that read by position and mark nothing.
var positionRelays = []strategies.Producer{strategies.OutboxOffset{}, strategies.OutboxFenced{}, strategies.EventSourcing{}}

// TestPositionRelaysSettle: a run whose relay reads after a stored position and marks nothing
// settles on both backends (the work left is the rows after the position, not the unpublished
// ones) and keeps every invariant with the inbox consumer, without faults and under crash-relay,
// where some relay dies. Event sourcing writes no business row: its committed record is its events.
func TestPositionRelaysSettle(t *testing.T) {
	backends := []struct {
		name  string
		b     func(t *testing.T) harness.Backend
		seeds uint64
	}{
		{"sim", func(*testing.T) harness.Backend { return harness.NewSim() }, 60},
		{"real", func(t *testing.T) harness.Backend { return real.NewBackend(realtest.Require(t)) }, 3},
	}
	for _, be := range backends {
		for _, p := range positionRelays {
			for _, kind := range []string{fault.None, fault.CrashRelay} {
				t.Run(be.name+"/"+p.Name()+"/"+kind, func(t *testing.T) {
					b := be.b(t)
					crashes := 0
					for seed := uint64(1); seed <= be.seeds; seed++ {
						sc, err := scenarios.GenerateFor(scenarios.NewSeedSource(seed), p, strategies.Inbox{}, workload.Orders.Name, kind, scenarios.DefaultLimits)
						if err != nil {
							t.Fatal(err)
						}
						sc.Seed = seed
						h, err := harness.RunWith(context.Background(), b, sc, p, strategies.Inbox{})
						if err != nil {
							t.Fatalf("seed %d: %v", seed, err)
						}
						if vs := invariants.Check(h); len(vs) > 0 {
							t.Fatalf("seed %d: %v", seed, vs)
						}
						if !h.Quiesced || len(h.Final.Effects) != len(sc.Commands) || len(h.Final.Committed) != len(sc.Commands) {
							t.Fatalf("seed %d: quiesced %v with %d committed and %d effects, want %d", seed, h.Quiesced, len(h.Final.Committed), len(h.Final.Effects), len(sc.Commands))
						}
						for _, r := range h.Final.Outbox {
							if r.Published {
								t.Fatalf("seed %d: outbox row %d marked published by a relay that marks nothing", seed, r.ID)
							}
						}
						for _, e := range h.Events {
							if e.Op == history.OpCrash && e.Proc == "relay" {
								crashes++
							}
						}
					}
					if kind == fault.CrashRelay && crashes == 0 {
						t.Errorf("no relay crash in %d seeds", be.seeds)
					}
					t.Logf("%d seeds, %d relay crashes", be.seeds, crashes)
				})
			}
		}
	}
}

// TestPositionRelaysOnReal: the catalogue's cells of the relays that read by position, sampled on
// PostgreSQL and RabbitMQ. Each cell that breaks shows its break within a few seeds, and nothing
// the catalogue rules out breaks on the way; each cell that holds holds for every seed.
func TestPositionRelaysOnReal(t *testing.T) {
	b := real.NewBackend(realtest.Require(t))
	const seeds = 4
	cell := func(p, c, w, f string) result.Cell {
		return result.Cell{Producer: p, Consumer: c, Workload: w, Fault: f}
	}
	cells := []result.Cell{
		// breaks
		cell("outbox-offset", "inbox", "orders", fault.ConcurrentProducers),
		cell("outbox-offset", "naive", "orders", fault.CrashRelay),
		cell("outbox-fenced", "naive", "credits", fault.LostConfirm),
		cell("event-sourcing", "naive", "orders", fault.CrashRelay),
		cell("outbox-fenced", "natural", "prices", fault.ConcurrentProducers),
		// holds
		cell("outbox-fenced", "inbox", "orders", fault.ConcurrentProducers),
		cell("outbox-fenced", "inbox", "credits", fault.CrashRelay),
		cell("event-sourcing", "inbox", "orders", fault.ConcurrentProducers),
		cell("event-sourcing", "inbox", "credits", fault.AmbiguousCommit),
		cell("event-sourcing", "inbox", "orders", fault.CrashProducer),
		cell("outbox-offset", "inbox", "credits", fault.PartitionDB),
	}
	lim := scenarios.Limits{MaxCommands: 3, MaxKeys: 1, MaxFaults: 1, MaxDuration: 300}
	for _, c := range cells {
		t.Run(c.String(), func(t *testing.T) {
			found := runCellSeeds(t, b, c, seedRuns{seeds: seeds, lim: lim})
			t.Logf("expected %v, found %v", scenarios.Expected(c).Breaks, found)
		})
	}
}
