package scenarios

// A team's own invariants beside the catalogue's (Options.Invariants).

import (
	"context"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
)

// runScenarioWith is RunScenario that also checks a team's own invariants, after the catalogue's.
func runScenarioWith(ctx context.Context, b harness.Backend, sc history.Scenario, extra []invariants.Checker) (Outcome, error) {
	h, err := harness.Run(ctx, b, sc)
	if err != nil {
		return Outcome{History: h}, err
	}
	return Outcome{History: h, Violations: invariants.CheckWith(h, extra...)}, nil
}

// teamFor returns the team's invariants that apply to the named workload, in their order.
func teamFor(extra []invariants.Checker, name string) []invariants.Checker {
	effect := workload.EffectOf(name)
	var out []invariants.Checker
	for _, c := range extra {
		if c != nil && c.Applies(effect) {
			out = append(out, c)
		}
	}
	return out
}

// teamNames lists the team's invariant names, in their order.
func teamNames(extra []invariants.Checker) []invariants.Name {
	var out []invariants.Name
	for _, c := range extra {
		if c != nil {
			out = append(out, c.Name())
		}
	}
	return out
}
