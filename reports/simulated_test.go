package reports

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
)

// simulatedCells are the cells of the report golden files made from real simulations: a
// duplicate found and fixed, a lost event, and a second email outside the database.
var simulatedCells = []result.Cell{
	{Producer: "double-write", Consumer: "inbox", Workload: "orders", Fault: "crash-producer"},
	{Producer: "outbox", Consumer: "naive", Workload: "orders", Fault: "crash-relay"},
	{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: "crash-relay"},
	{Producer: "outbox", Consumer: "inbox", Workload: "emails", Fault: "crash-consumer"},
	{Producer: "outbox", Consumer: "idempotency-key", Workload: "emails", Fault: "crash-consumer"},
}

var (
	simulatedOnce    sync.Once
	simulatedResults []result.CellResult
	simulatedErr     error
)

// simulated runs simulatedCells over 20 seeds from seed 1 on the simulator, once: the same
// results on every run and every machine, since the simulator is deterministic.
func simulated(t *testing.T) []result.CellResult {
	t.Helper()
	simulatedOnce.Do(func() {
		opts := scenarios.DefaultOptions()
		opts.Seeds, opts.Search = 20, 0
		simulatedResults, simulatedErr = scenarios.RunMatrix(context.Background(), harness.NewSim(), simulatedCells, opts, nil)
	})
	if simulatedErr != nil {
		t.Fatal(simulatedErr)
	}
	return simulatedResults
}

// TestGoldenFromSimulation: the reports of a fixed-seed simulation, byte for byte. A change here
// is either a change of the simulator (then every seed's history changes) or of a report.
func TestGoldenFromSimulation(t *testing.T) {
	results := simulated(t)
	cases := []struct {
		name string
		f    func(*bytes.Buffer) error
	}{
		{"simulated-matrix", func(b *bytes.Buffer) error { return Matrix(b, results, MatrixOptions{Width: 100}) }},
		{"simulated-markdown", func(b *bytes.Buffer) error { return Markdown(b, results) }},
		{"simulated-cell-email", func(b *bytes.Buffer) error { return Cell(b, results[3]) }},
		{"simulated-report.html", func(b *bytes.Buffer) error { return HTML(b, results) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { golden(t, tc.name, render(t, tc.f)) })
	}
}
