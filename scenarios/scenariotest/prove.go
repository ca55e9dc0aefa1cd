package scenariotest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/strategies"
	"pgregory.net/rapid"
)

// Prove checks, with rapid on the simulator, that a producer and a consumer keep every invariant
// of the workload under each named fault kind (every possible one when none is named). A team
// proves its own strategy, written against the ports of package strategies, in a plain go test:
//
//	func TestMyConsumer(t *testing.T) {
//		scenariotest.Prove(t, strategies.Outbox{}, MyConsumer{}, workload.Orders.Name)
//	}
//
// A failure reports the shrunk scenario with its violations and timeline, and rapid saves it
// under testdata/rapid/ for -rapid.failfile.
func Prove(t *testing.T, p strategies.Producer, c strategies.Consumer, workload string, faults ...string) {
	t.Helper()
	if len(faults) == 0 {
		faults = fault.Names()
	}
	b := harness.NewSim()
	for _, name := range faults {
		k, err := fault.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if k.Possible(strategies.HasRelay(p)) != nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			gen := rapid.Custom(func(rt *rapid.T) history.Scenario {
				sc, err := scenarios.GenerateFor(rapidSource{rt}, p, c, workload, name, scenarios.DefaultLimits)
				if err != nil {
					rt.Fatalf("generate: %v", err)
				}
				return sc
			})
			rapid.Check(t, func(rt *rapid.T) {
				sc := gen.Draw(rt, "scenario")
				h, err := harness.RunWith(context.Background(), b, sc, p, c)
				if err != nil {
					rt.Fatalf("harness: %v", err)
				}
				if vs := invariants.Check(h); len(vs) > 0 {
					rt.Fatalf("%s with %s on %s under %s:\n%s", p.Name(), c.Name(), workload, name, Describe(h, vs))
				}
			})
		})
	}
}

// Describe renders violations and the numbered events of their history as plain text.
func Describe(h *history.History, vs []invariants.Violation) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "  %s: %s\n", v.Invariant, v.Detail)
	}
	for _, f := range h.Scenario.Faults {
		fmt.Fprintf(&b, "  fault: %s\n", f)
	}
	for i, e := range h.Events {
		fmt.Fprintf(&b, "  %3d  t=%-5d %s\n", i+1, e.Time, e)
	}
	return b.String()
}
