package real_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/containers"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"github.com/deliveryharness/harness/strategies"
)

// bufferScenario is the fidelity scenario of the dedup-buffer producer with that name.
func bufferScenario(t *testing.T, name string) history.Scenario {
	t.Helper()
	for _, n := range scenarios.NamedScenarios() {
		if n.Name == name {
			return n.Scenario
		}
	}
	t.Fatalf("no named scenario %q", name)
	return history.Scenario{}
}

// both runs sc on the simulator and on real servers.
func both(t *testing.T, sc history.Scenario) map[string]scenarios.Outcome {
	t.Helper()
	inf := containers.Require(t)
	out := map[string]scenarios.Outcome{}
	for name, b := range map[string]harness.Backend{"sim": harness.NewSim(), "real": real.NewBackend(inf)} {
		o, err := scenarios.RunScenario(context.Background(), b, sc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = o
	}
	return out
}

// TestBufferDelaysEveryEvent: on both backends the relay publishes no event sooner than
// strategies.BufferPeriod after it was put into the buffer (in its business transaction, just
// before the COMMIT), so its effect commits later still: the delay the buffer costs.
//
// The put's time in the history is when its statement returned; the time the buffer holds is the
// producer's clock before it, ahead of the worker's go-ahead and the statement's round trip. On
// the simulator the two are the same moment. On real servers the put is measured from up to
// putLag earlier (a run here published 99 ms after a put's return, within the 100 ms period of
// its stamp): a buffer that did not hold would publish within the relay's next pass, far sooner.
func TestBufferDelaysEveryEvent(t *testing.T) {
	const putLag = 10 // ms: the go-ahead and the statement, on these machines a few ms
	sc := bufferScenario(t, "the buffer's relay publishes twice when it dies before marking")
	sc.Fault, sc.Faults = fault.None, nil
	sc.Consumer = "inbox"
	sc.Commands = scenarios.Commands(scenarios.NewSeedSource(0), "orders", 3, 1)
	period := strategies.BufferPeriod.Milliseconds()
	for backend, out := range both(t, sc) {
		h := out.History
		put, committed, published, applied := map[string]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{}
		for _, e := range h.Events {
			first := func(m map[string]int64) {
				for _, id := range e.Subjects() {
					if _, ok := m[id]; !ok {
						m[id] = e.Time
					}
				}
			}
			switch {
			case e.Op == history.OpOutbox && e.Proc == "producer" && e.Outcome == history.OK:
				first(put)
			case e.Op == history.OpCommit && e.Proc == "producer" && e.Outcome == history.OK:
				first(committed)
			case e.Op == history.OpPublish && e.Proc == "relay":
				first(published)
			case e.Op == history.OpCommit && strings.HasPrefix(e.Proc, "consumer-") && e.Outcome == history.OK:
				first(applied)
			}
		}
		if len(h.Final.Committed) != 3 || len(invariants.Broken(out.Violations)) > 0 {
			t.Fatalf("%s: %d committed, broke %v:\n%s", backend, len(h.Final.Committed), invariants.Broken(out.Violations), scenariotest.Describe(h, out.Violations))
		}
		for _, m := range h.Final.Committed {
			b, c, p, a := put[m.ID], committed[m.ID], published[m.ID], applied[m.ID]
			held := p - b
			if backend == "real" {
				held += putLag
			}
			if held < period || a < p {
				t.Errorf("%s: %s put at %d ms, published at %d, applied at %d: sooner than the %d ms period", backend, m.ID, b, p, a, period)
			}
			t.Logf("%s: %s put to publish %d ms; commit to effect %d ms", backend, m.ID, p-b, a-c)
		}
	}
}

// TestBufferDropsTheRetriedPut: the producer retries a command whose COMMIT took effect and whose
// reply was lost, and one event, one payment, results on both backends. What stops the repeat
// follows its timing: a retry put within strategies.BufferPeriod of the first put finds the entry
// and is dropped by the buffer; a later one may find the entry published and forgotten, and then
// the business row's key stops it. On the simulator the retry comes 10 ms after a cut, or 60 ms
// after an unanswered COMMIT (its 50 ms timeout): the buffer drops both. On real servers an
// unanswered COMMIT times out after 1 s, past the period.
func TestBufferDropsTheRetriedPut(t *testing.T) {
	period := strategies.BufferPeriod.Milliseconds()
	for _, name := range []string{
		"the buffer drops the retried put of a COMMIT a cut link answered for",
		"the buffer's producer retries an unanswered COMMIT and pays once",
	} {
		t.Run(name, func(t *testing.T) {
			for backend, out := range both(t, bufferScenario(t, name)) {
				h := out.History
				var puts []history.Event
				keyed := false
				for _, e := range h.Events {
					switch {
					case e.Proc == "producer" && e.Op == history.OpOutbox && e.Outcome == history.OK:
						puts = append(puts, e)
					case e.Proc == "producer" && e.Op == history.OpInsert && e.Outcome == history.Fail && strings.Contains(e.Detail, "duplicate key"):
						keyed = true
					}
				}
				if len(puts) != 2 {
					t.Fatalf("%s: %d puts, want the first and one retry:\n%s", backend, len(puts), scenariotest.Describe(h, nil))
				}
				gap := puts[1].Time - puts[0].Time
				dropped := strings.Contains(puts[1].Detail, "repeat dropped")
				t.Logf("%s: the retry put %d ms after the first; dropped by the buffer %v, by the business key %v", backend, gap, dropped, keyed)
				switch {
				case dropped == keyed:
					t.Errorf("%s: dropped by the buffer %v, by the business key %v: want exactly one", backend, dropped, keyed)
				case gap < period && !dropped, backend == "sim" && !dropped:
					t.Errorf("%s: the retry put %d ms after the first (period %d ms) was not dropped by the buffer", backend, gap, period)
				}
				if n := len(h.Final.Outbox); n != 1 || len(h.Final.Effects) != 1 || len(invariants.Broken(out.Violations)) > 0 {
					t.Errorf("%s: %d buffered rows, %d effects, broke %v", backend, n, len(h.Final.Effects), invariants.Broken(out.Violations))
				}
			}
		})
	}
}

// TestBufferCatalogueOnReal: a sample of the dedup-buffer's cells on PostgreSQL and RabbitMQ,
// a few rapid draws each, breaks nothing the catalogue rules out: with an inbox under the
// producer's and the relay's faults, and naive where only the consumer's redeliveries break it.
func TestBufferCatalogueOnReal(t *testing.T) {
	inf := containers.Require(t)
	b := real.NewBackend(inf)
	var cells []result.Cell
	for _, f := range []string{fault.None, fault.CrashProducer, fault.CrashRelay, fault.AmbiguousCommit, fault.LostConfirm, fault.PartitionDB, fault.Latency} {
		cells = append(cells, result.Cell{Producer: "dedup-buffer", Consumer: "inbox", Workload: "credits", Fault: f})
	}
	for _, f := range []string{fault.CrashProducer, fault.AmbiguousCommit} {
		cells = append(cells, result.Cell{Producer: "dedup-buffer", Consumer: "naive", Workload: "orders", Fault: f})
	}
	start := time.Now()
	drawCells(t, inf, b, cells, 2, scenarios.Limits{MaxCommands: 3, MaxKeys: 2, MaxFaults: 1, MaxDuration: 300}, nil)
	t.Logf("%d cells in %v", len(cells), time.Since(start).Round(time.Second))
}
