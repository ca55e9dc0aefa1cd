package scenarios

import (
	"context"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/scenarios/result"
)

// benchScenario is a 20-order scenario with a fault: outbox and inbox, the relay dying after it
// publishes, two consumers, prefetch 3, batches of 5.
func benchScenario(p, c string, f history.Fault) history.Scenario {
	sc, _ := FromSeed(result.Cell{Producer: p, Consumer: c, Workload: workload.Orders.Name, Fault: f.Kind}, 1, Limits{MaxCommands: 1, MaxKeys: 1, MaxFaults: 1, MaxDuration: 1})
	sc.Commands = Commands(NewSeedSource(1), workload.Orders.Name, 20, 1)
	sc.Faults = []history.Fault{f}
	sc.Consumers, sc.Prefetch, sc.Batch = 2, 3, 5
	return sc
}

// BenchmarkScenario20Orders measures one simulated 20-order scenario with a fault, checked.
func BenchmarkScenario20Orders(b *testing.B) {
	cases := []struct {
		name, p, c string
		f          history.Fault
	}{
		{"outbox-inbox-crash-relay", "outbox", "inbox", history.Fault{Kind: "crash-relay", Target: "relay", Point: "relay.after-publish", Nth: 2}},
		{"double-write-naive-lost-confirm", "double-write", "naive", history.Fault{Kind: "lost-confirm", Target: "producer", Nth: 5}},
		{"outbox-inbox-broker-down", "outbox", "inbox", history.Fault{Kind: "broker-down", Nth: 10, Duration: 100}},
	}
	be := harness.NewSim()
	for _, tc := range cases {
		sc := benchScenario(tc.p, tc.c, tc.f)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := RunScenario(context.Background(), be, sc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "scenarios/s")
		})
	}
}

// BenchmarkDefaultMatrix measures the wall time of the default catalogue: every cell, 100 seeds,
// shrinking included, on all CPUs.
func BenchmarkDefaultMatrix(b *testing.B) {
	be := harness.NewSim()
	cells := Cells()
	for b.Loop() {
		if _, err := RunMatrix(context.Background(), be, cells, DefaultOptions(), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(cells)*100*b.N)/b.Elapsed().Seconds(), "runs/s")
}
