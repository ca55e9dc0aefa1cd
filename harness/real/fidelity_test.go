package real_test

import (
	"context"
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/containers"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"github.com/deliveryharness/harness/strategies"
)

// TestFidelity runs the named scenarios on the simulator and on real servers and requires the
// same verdict per invariant. Where they differ, the simulator's model is wrong, or the
// difference is explained in the README.
func TestFidelity(t *testing.T) {
	inf := containers.Require(t)
	realB := real.NewBackend(inf)
	simB := harness.NewSim()
	for _, n := range scenarios.NamedScenarios() {
		t.Run(n.Name, func(t *testing.T) {
			if n.Scenario.Producer == (strategies.LogTailing{}).Name() {
				realtest.RequireLogicalWAL(t, inf)
			}
			if n.Scenario.BrokerOf() == history.BrokerNATS {
				realtest.RequireNATS(t) // the scenario's broker
			}
			simOut, err := scenarios.RunScenario(context.Background(), simB, n.Scenario)
			if err != nil {
				t.Fatalf("sim: %v", err)
			}
			realOut, err := scenarios.RunScenario(context.Background(), realB, n.Scenario)
			if err != nil {
				t.Fatalf("real: %v", err)
			}
			for _, f := range n.Scenario.Faults {
				for backend, h := range map[string]*history.History{"sim": simOut.History, "real": realOut.History} {
					if !slices.ContainsFunc(h.Events, func(e history.Event) bool { return e.Op == history.OpFault && e.Detail == f.String() }) {
						t.Errorf("%s: the fault %s never fired:\n%s", backend, f, scenariotest.Describe(h, nil))
					}
				}
			}
			s, r := invariants.Broken(simOut.Violations), invariants.Broken(realOut.Violations)
			if !slices.Equal(s, r) {
				t.Errorf("verdicts differ: sim broke %q, real broke %q\nreal:\n%s\nsim:\n%s", s, r,
					scenariotest.Describe(realOut.History, realOut.Violations), scenariotest.Describe(simOut.History, simOut.Violations))
			}
		})
	}
}
