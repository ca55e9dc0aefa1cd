package real_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"github.com/deliveryharness/harness/strategies"
	"pgregory.net/rapid"
)

// setRapidChecks sets rapid's number of draws a check for the rest of t.
func setRapidChecks(t *testing.T, draws int) {
	t.Helper()
	old := flag.Lookup("rapid.checks").Value.String()
	_ = flag.Set("rapid.checks", fmt.Sprint(draws))
	t.Cleanup(func() { _ = flag.Set("rapid.checks", old) })
}

// requireWALFor skips (or fails) t where cell c's producer tails the log and the server's
// wal_level cannot serve it.
func requireWALFor(t *testing.T, inf real.Infra, c result.Cell) {
	t.Helper()
	if c.Producer == (strategies.LogTailing{}).Name() {
		realtest.RequireLogicalWAL(t, inf)
	}
}

// drawCells runs each cell as a subtest of t for draws rapid draws of a scenario within lim on b,
// and fails a draw that breaks an invariant the cell's catalogue line neither expects nor allows.
// check, when not nil, looks at each drawn scenario before it runs.
func drawCells(t *testing.T, inf real.Infra, b harness.Backend, cells []result.Cell, draws int, lim scenarios.Limits, check func(*rapid.T, result.Cell, history.Scenario)) {
	t.Helper()
	setRapidChecks(t, draws)
	for _, c := range cells {
		exp := scenarios.Expected(c)
		t.Run(c.String(), func(t *testing.T) {
			requireWALFor(t, inf, c)
			rapid.Check(t, func(rt *rapid.T) {
				sc := scenariotest.Scenarios(c, lim).Draw(rt, "scenario")
				if check != nil {
					check(rt, c, sc)
				}
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
}

// seedRuns is how runCellSeeds runs a cell's seeded scenarios.
type seedRuns struct {
	seeds uint64
	lim   scenarios.Limits
	// untilFound stops at the first seed by which as many invariants broke as the catalogue
	// expects to break.
	untilFound bool
	// each, when not nil, looks at each run's outcome.
	each func(t *testing.T, out scenarios.Outcome)
}

// runCellSeeds runs cell c's scenarios of seeds 1 to r.seeds on b: it fails t at a run that breaks
// an invariant the catalogue rules out, and errs for each expected break not found. It returns
// the first seed at which each invariant broke.
func runCellSeeds(t *testing.T, b harness.Backend, c result.Cell, r seedRuns) map[invariants.Name]uint64 {
	t.Helper()
	exp := scenarios.Expected(c)
	found := map[invariants.Name]uint64{}
	for seed := uint64(1); seed <= r.seeds && (!r.untilFound || len(found) < len(exp.Breaks)); seed++ {
		sc, err := scenarios.FromSeed(c, seed, r.lim)
		if err != nil {
			t.Fatal(err)
		}
		out, err := scenarios.RunScenario(context.Background(), b, sc)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, name := range invariants.Broken(out.Violations) {
			if !slices.Contains(exp.Breaks, name) && !slices.Contains(exp.MayBreak, name) {
				t.Fatalf("seed %d broke %s, which the catalogue rules out:\n%s", seed, name, scenariotest.Describe(out.History, out.Violations))
			}
			if _, ok := found[name]; !ok {
				found[name] = seed
			}
		}
		if r.each != nil {
			r.each(t, out)
		}
	}
	for _, name := range exp.Breaks {
		if seed, ok := found[name]; ok {
			t.Logf("%s found at seed %d", name, seed)
		} else {
			t.Errorf("%s not found within %d seeds on real servers (%s)", name, r.seeds, exp.Reason())
		}
	}
	return found
}
