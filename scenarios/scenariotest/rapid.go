package scenariotest

import (
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"pgregory.net/rapid"
)

// rapidSource draws the generator's choices with rapid, so that a failing scenario shrinks.
type rapidSource struct{ t *rapid.T }

// IntRange implements scenarios.Source.
func (s rapidSource) IntRange(label string, lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return rapid.IntRange(lo, hi).Draw(s.t, label)
}

// Scenarios is the rapid generator of a cell's scenarios: commands × fault schedule ×
// concurrency × interleaving, drawn within lim. Use it in a property:
//
//	rapid.Check(t, func(t *rapid.T) {
//		sc := scenariotest.Scenarios(cell, scenarios.DefaultLimits).Draw(t, "scenario")
//		...
//	})
func Scenarios(c result.Cell, lim scenarios.Limits) *rapid.Generator[history.Scenario] {
	return rapid.Custom(func(t *rapid.T) history.Scenario {
		sc, err := scenarios.Generate(rapidSource{t}, c, lim)
		if err != nil {
			t.Fatalf("generate %s: %v", c, err)
		}
		return sc
	})
}
