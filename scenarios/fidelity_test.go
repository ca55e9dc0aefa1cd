package scenarios_test

import (
	"context"
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
)

// TestNamedScenariosOnSim: every named scenario breaks exactly what its mechanism says, on the
// simulator; the fidelity test then holds the real backend to the same verdicts.
func TestNamedScenariosOnSim(t *testing.T) {
	for _, n := range scenarios.NamedScenarios() {
		t.Run(n.Name, func(t *testing.T) {
			out, err := scenarios.RunScenario(context.Background(), harness.NewSim(), n.Scenario)
			if err != nil {
				t.Fatal(err)
			}
			if got := invariants.Broken(out.Violations); !slices.Equal(got, n.Breaks) {
				t.Errorf("broke %q, want %q:\n%s", got, n.Breaks, scenariotest.Describe(out.History, out.Violations))
			}
		})
	}
}
