package scenarios_test

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"pgregory.net/rapid"
)

// findBound is how many rapid draws a known break must be found within.
const findBound = 1000

// TestNothingUnexpected: for every cell of the catalogue, every drawn scenario breaks only
// invariants the catalogue expects (or allows) there. For the cells that hold, that is "every
// invariant holds for every draw". A failure is saved under testdata/rapid/ and replays with
// -rapid.failfile.
func TestNothingUnexpected(t *testing.T) {
	b := harness.NewSim()
	for _, c := range scenarios.Cells() {
		exp := scenarios.Expected(c)
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			rapid.Check(t, func(rt *rapid.T) {
				sc := scenariotest.Scenarios(c, scenarios.DefaultLimits).Draw(rt, "scenario")
				out, err := scenarios.RunScenario(context.Background(), b, sc)
				if err != nil {
					rt.Fatalf("harness failed: %v", err)
				}
				for _, name := range invariants.Broken(out.Violations) {
					if !slices.Contains(exp.Breaks, name) && !slices.Contains(exp.MayBreak, name) {
						rt.Fatalf("%s broke %s, which the catalogue says holds (%s):\n%s", c, name, exp.Reason(), scenariotest.Describe(out.History, out.Violations))
					}
				}
			})
		})
	}
}

// TestKnownBreaksAreFound: every invariant the catalogue expects a cell to break is found within
// findBound draws, and the failure rapid shrinks, shrunk further by the harness, is small: one or
// two commands and a single fault.
func TestKnownBreaksAreFound(t *testing.T) {
	b := harness.NewSim()
	// A fixed seed: which draw finds a break is then the same on every run.
	restore := setRapidFlags(t, map[string]string{"rapid.checks": fmt.Sprint(findBound), "rapid.nofailfile": "true", "rapid.seed": "1"})
	defer restore()
	var mu sync.Mutex
	worst, worstCell := 0, ""
	// The cells run in parallel inside one group, so that the rapid flags are restored only
	// after the last of them.
	t.Run("cells", func(t *testing.T) {
		for _, c := range scenarios.Cells() {
			for _, inv := range scenarios.Expected(c).Breaks {
				t.Run(c.String()+"/"+string(inv), func(t *testing.T) {
					t.Parallel()
					draws, found := 0, -1
					var last history.Scenario
					tb := &quietTB{name: t.Name()}
					rapid.Check(tb, func(rt *rapid.T) {
						draws++
						sc := scenariotest.Scenarios(c, scenarios.DefaultLimits).Draw(rt, "scenario")
						out, err := scenarios.RunScenario(context.Background(), b, sc)
						if err != nil {
							t.Errorf("harness failed: %v", err)
							return
						}
						if slices.Contains(invariants.Broken(out.Violations), inv) {
							if found < 0 {
								found = draws
							}
							last = sc
							rt.Fatalf("broken")
						}
					})
					if found < 0 {
						t.Fatalf("%s: %s not found within %d draws (%s)", c, inv, findBound, scenarios.Expected(c).Reason())
					}
					mu.Lock()
					if found > worst {
						worst, worstCell = found, c.String()+" "+string(inv)
					}
					mu.Unlock()
					maxCommands, maxFaults := smallest(c), 1
					// rapid shrinks each draw toward smaller values; the harness's Shrink then merges
					// what rapid cannot (two short cuts into one longer one).
					small, err := scenarios.Shrink(context.Background(), b, last, inv)
					if err != nil {
						t.Fatal(err)
					}
					if len(small.Commands) > maxCommands || len(small.Faults) > maxFaults {
						t.Errorf("%s: %s shrank only to %d commands and %d faults: %+v", c, inv, len(small.Commands), len(small.Faults), small)
					}
				})
			}
		}
	})
	t.Logf("the slowest break to find took %d draws: %s", worst, worstCell)
}

// TestShrinkIsSmall: the CLI's shrinker brings every cell's first counterexample down to one or
// two commands and one fault (three commands and two faults for the rare combinations the catalogue
// only allows), and the shrunk scenario still breaks the invariant.
func TestShrinkIsSmall(t *testing.T) {
	b := harness.NewSim()
	opts := scenarios.DefaultOptions()
	opts.Seeds = 100
	for _, c := range scenarios.Cells() {
		if len(scenarios.Expected(c).Breaks) == 0 {
			continue
		}
		r, err := scenarios.RunCell(context.Background(), b, c, opts)
		if err != nil {
			t.Fatal(err)
		}
		ce := r.Counterexample
		if ce == nil {
			t.Errorf("%s: no counterexample", c)
			continue
		}
		maxCommands, maxFaults := smallest(c), 1
		if slices.Contains(scenarios.Expected(c).MayBreak, ce.Invariant) {
			maxCommands, maxFaults = 3, 2 // a combination of a publisher fault and a consumer fault
		}
		if len(ce.Scenario.Commands) > maxCommands || len(ce.Scenario.Faults) > maxFaults {
			t.Errorf("%s: shrunk only to %d commands and %d faults", c, len(ce.Scenario.Commands), len(ce.Scenario.Faults))
		}
		if !slices.Contains(invariants.Broken(ce.Violations), ce.Invariant) {
			t.Errorf("%s: the shrunk scenario no longer breaks %s", c, ce.Invariant)
		}
	}
}

// setRapidFlags sets rapid's command-line flags for one test and returns what restores them.
func setRapidFlags(t *testing.T, values map[string]string) func() {
	old := map[string]string{}
	for name, v := range values {
		f := flag.Lookup(name)
		if f == nil {
			t.Fatalf("rapid has no flag %s", name)
		}
		old[name] = f.Value.String()
		if err := flag.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		for name, v := range old {
			_ = flag.Set(name, v)
		}
	}
}

// quietTB lets a property fail on purpose: rapid reports the failure to it, and it keeps quiet.
type quietTB struct {
	name   string
	failed bool
}

func (q *quietTB) Helper()               {}
func (q *quietTB) Name() string          { return q.name }
func (q *quietTB) Logf(string, ...any)   {}
func (q *quietTB) Log(...any)            {}
func (q *quietTB) Skipf(string, ...any)  {}
func (q *quietTB) Skip(...any)           {}
func (q *quietTB) SkipNow()              {}
func (q *quietTB) Errorf(string, ...any) { q.failed = true }
func (q *quietTB) Error(...any)          { q.failed = true }
func (q *quietTB) Fatalf(string, ...any) { q.failed = true }
func (q *quietTB) Fatal(...any)          { q.failed = true }
func (q *quietTB) FailNow()              { q.failed = true }
func (q *quietTB) Fail()                 { q.failed = true }
func (q *quietTB) Failed() bool          { return q.failed }

// smallest is how many commands a cell's smallest counterexample needs: two, except where the
// mechanism takes three. publish-first under concurrent-producers publishes each change before
// its COMMIT, so the first producer's held change is already at the broker when the second
// producer starts: the second's change (price-2) arrives after a newer one only when the held
// change is the first producer's second (price-3).
func smallest(c result.Cell) int {
	if c.Producer == "publish-first" && c.Fault == fault.ConcurrentProducers {
		return 3
	}
	if n, ok := positionRelaySmallest(c); ok {
		return n
	}
	return 2
}
