package real_test

import (
	"context"
	"flag"
	"slices"
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
	"pgregory.net/rapid"
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
func TestBufferDelaysEveryEvent(t *testing.T) {
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
			if p-b < period || a < p {
				t.Errorf("%s: %s put at %d ms, published at %d, applied at %d: sooner than the %d ms period", backend, m.ID, b, p, a, period)
			}
			t.Logf("%s: %s put to publish %d ms; commit to effect %d ms", backend, m.ID, p-b, a-c)
		}
	}
}

// TestBufferDropsTheRetriedPut: where the COMMIT took effect and its reply was lost, the
// producer's retry finds the entry and is dropped, on both backends; where the reply never comes,
// the simulator's retry (after its 50 ms COMMIT timeout) is dropped by the buffer and the real
// one (after 1 s, past the period) by the business row's key. Either way one event, one payment.
func TestBufferDropsTheRetriedPut(t *testing.T) {
	dropped := func(h *history.History) bool {
		return slices.ContainsFunc(h.Events, func(e history.Event) bool {
			return e.Proc == "producer" && e.Op == history.OpOutbox && strings.Contains(e.Detail, "repeat dropped")
		})
	}
	keyed := func(h *history.History) bool {
		return slices.ContainsFunc(h.Events, func(e history.Event) bool {
			return e.Proc == "producer" && e.Op == history.OpInsert && e.Outcome == history.Fail && strings.Contains(e.Detail, "duplicate key")
		})
	}
	for _, tc := range []struct {
		scenario             string
		simDropped, realDrop bool
	}{
		{"the buffer drops the retried put of a COMMIT a cut link answered for", true, true},
		{"the buffer's producer retries an unanswered COMMIT and pays once", true, false},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			for backend, out := range both(t, bufferScenario(t, tc.scenario)) {
				h := out.History
				want := map[string]bool{"sim": tc.simDropped, "real": tc.realDrop}[backend]
				if dropped(h) != want || !want && !keyed(h) {
					t.Errorf("%s: repeat dropped by the buffer %v (want %v), by the business key %v:\n%s", backend, dropped(h), want, keyed(h), scenariotest.Describe(h, nil))
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
	old := flag.Lookup("rapid.checks").Value.String()
	_ = flag.Set("rapid.checks", "2")
	defer func() { _ = flag.Set("rapid.checks", old) }()
	var cells []result.Cell
	for _, f := range []string{fault.None, fault.CrashProducer, fault.CrashRelay, fault.AmbiguousCommit, fault.LostConfirm, fault.PartitionDB, fault.Latency} {
		cells = append(cells, result.Cell{Producer: "dedup-buffer", Consumer: "inbox", Workload: "credits", Fault: f})
	}
	for _, f := range []string{fault.CrashProducer, fault.AmbiguousCommit} {
		cells = append(cells, result.Cell{Producer: "dedup-buffer", Consumer: "naive", Workload: "orders", Fault: f})
	}
	start := time.Now()
	for _, c := range cells {
		exp := scenarios.Expected(c)
		t.Run(c.String(), func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				sc := scenariotest.Scenarios(c, scenarios.Limits{MaxCommands: 3, MaxKeys: 2, MaxFaults: 1, MaxDuration: 300}).Draw(rt, "scenario")
				out, err := scenarios.RunScenario(context.Background(), b, sc)
				if err != nil {
					rt.Fatalf("harness: %v", err)
				}
				for _, name := range invariants.Broken(out.Violations) {
					if !slices.Contains(exp.Breaks, name) && !slices.Contains(exp.MayBreak, name) {
						rt.Fatalf("%s broke %s on real servers:\n%s", c, name, scenariotest.Describe(out.History, out.Violations))
					}
				}
			})
		})
	}
	t.Logf("%d cells in %v", len(cells), time.Since(start).Round(time.Second))
}
