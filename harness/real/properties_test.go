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

// realDraws is how many rapid draws each cell gets on real servers (a run takes about a second).
const realDraws = 3

// TestCatalogueHoldsOnReal: the exactly-once pairing (outbox with inbox) keeps every invariant
// under every fault on PostgreSQL and RabbitMQ, for realDraws rapid draws per fault and workload.
func TestCatalogueHoldsOnReal(t *testing.T) {
	inf := containers.Require(t)
	b := real.NewBackend(inf)
	start := time.Now()
	var cells []result.Cell
	for _, w := range []string{"orders", "credits"} {
		for _, f := range fault.Names() {
			cells = append(cells, result.Cell{Producer: "outbox", Consumer: "inbox", Workload: w, Fault: f})
		}
	}
	drawCells(t, inf, b, cells, realDraws, scenarios.Limits{MaxCommands: 3, MaxKeys: 2, MaxFaults: 1, MaxDuration: 300}, nil)
	t.Logf("%d cells x %d draws in %v", 2*len(fault.Names()), realDraws, time.Since(start).Round(time.Second))
}

// TestFixesHoldOnReal: the fixes of the catalogue's newer cells hold on PostgreSQL and RabbitMQ:
// log tailing with an inbox under every fault, the idempotency key under the faults that send a
// second email without it, versioned under the faults that reorder prices.
func TestFixesHoldOnReal(t *testing.T) {
	inf := containers.Require(t)
	b := real.NewBackend(inf)
	var cells []result.Cell
	for _, f := range fault.Names() {
		cells = append(cells, result.Cell{Producer: "log-tailing", Consumer: "inbox", Workload: "orders", Fault: f})
	}
	for _, f := range []string{"crash-consumer", "partition-db", "latency", "lost-ack"} {
		cells = append(cells, result.Cell{Producer: "outbox", Consumer: "idempotency-key", Workload: "emails", Fault: f})
	}
	for _, f := range []string{"reorder", "concurrent-consumers", "partition-db"} {
		cells = append(cells, result.Cell{Producer: "outbox", Consumer: "versioned", Workload: "prices", Fault: f})
	}
	start := time.Now()
	for _, c := range cells {
		if exp := scenarios.Expected(c); len(exp.Breaks) > 0 {
			t.Fatalf("%s: the catalogue expects %v; this test is for cells that hold", c, exp.Breaks)
		}
	}
	drawCells(t, inf, b, cells, realDraws, scenarios.Limits{MaxCommands: 3, MaxKeys: 1, MaxFaults: 1, MaxDuration: 300}, nil)
	t.Logf("%d cells x %d draws in %v", len(cells), realDraws, time.Since(start).Round(time.Second))
}

// TestKnownBreaksFoundOnReal: each mechanism of the catalogue that does not depend on a race is
// found on real servers within a few seeded scenarios, and nothing outside the cell's expectation
// breaks on the way.
func TestKnownBreaksFoundOnReal(t *testing.T) {
	inf := containers.Require(t)
	b := real.NewBackend(inf)
	const bound = 12
	cells := []result.Cell{
		{Producer: "double-write", Consumer: "naive", Workload: "orders", Fault: "crash-consumer"},
		{Producer: "double-write", Consumer: "inbox", Workload: "orders", Fault: "crash-producer"},
		{Producer: "publish-first", Consumer: "inbox", Workload: "orders", Fault: "crash-producer"},
		{Producer: "outbox", Consumer: "naive", Workload: "orders", Fault: "crash-relay"},
		{Producer: "outbox", Consumer: "ack-first", Workload: "orders", Fault: "crash-consumer"},
		{Producer: "outbox", Consumer: "ack-first", Workload: "orders", Fault: "lost-ack"},
		{Producer: "outbox", Consumer: "redelivered-flag", Workload: "credits", Fault: "lost-confirm"},
		{Producer: "double-write", Consumer: "naive", Workload: "credits", Fault: "ambiguous-commit"},
		{Producer: "log-tailing", Consumer: "naive", Workload: "orders", Fault: "crash-relay"},
		{Producer: "outbox", Consumer: "inbox", Workload: "emails", Fault: "crash-consumer"},
		{Producer: "log-tailing", Consumer: "redelivered-flag", Workload: "emails", Fault: "lost-confirm"},
	}
	lim := scenarios.Limits{MaxCommands: 2, MaxKeys: 1, MaxFaults: 1, MaxDuration: 300}
	for _, c := range cells {
		t.Run(c.String(), func(t *testing.T) {
			requireWALFor(t, inf, c)
			runCellSeeds(t, b, c, seedRuns{seeds: bound, lim: lim, untilFound: true})
		})
	}
}
