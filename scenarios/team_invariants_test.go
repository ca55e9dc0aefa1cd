package scenarios

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

// firstCommitted is a team's invariant that the catalogue's cells keep or break as the test
// wants: it flags the first committed message of every run (strict) or never (lenient).
type firstCommitted struct {
	strict  bool
	effects []workload.Effect // where it applies; nil: everywhere
}

func (firstCommitted) Name() invariants.Name { return "team-first-committed" }
func (firstCommitted) Doc() string           { return "flags the first committed message" }
func (f firstCommitted) Applies(e workload.Effect) bool {
	return f.effects == nil || slices.Contains(f.effects, e)
}
func (f firstCommitted) Check(h *history.History) []invariants.Violation {
	if !f.strict || len(h.Final.Committed) == 0 {
		return nil
	}
	m := h.Final.Committed[0]
	return []invariants.Violation{{Key: m.Key, Msgs: []string{m.ID}, Detail: m.ID + " was committed first"}}
}

// TestCellTeamInvariants: a team's invariant in Options is counted in the cell's Violations
// beside the catalogue's, makes a cell that breaks it differ from the catalogue, and gives the
// counterexample (as drawn) with its evidence; one that does not apply is not listed.
func TestCellTeamInvariants(t *testing.T) {
	const team = invariants.Name("team-first-committed")
	cell := result.Cell{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: "none"}
	cases := []struct {
		name    string
		extra   []invariants.Checker
		listed  bool // the team's name is a key of Violations
		breaks  int  // runs that broke it
		matches bool
		wantCE  bool // a counterexample for the team's invariant
	}{
		{"none", nil, false, 0, true, false},
		{"kept", []invariants.Checker{firstCommitted{}}, true, 0, true, false},
		{"broken", []invariants.Checker{firstCommitted{strict: true}}, true, 5, false, true},
		{"not-applying", []invariants.Checker{firstCommitted{strict: true, effects: []workload.Effect{workload.Set}}}, false, 0, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.Seeds, opts.Search, opts.Invariants = 5, 0, c.extra
			r, err := RunCell(context.Background(), harness.NewSim(), cell, opts)
			if err != nil {
				t.Fatal(err)
			}
			n, listed := r.Violations[team]
			if listed != c.listed || n != c.breaks || r.Matches != c.matches {
				t.Fatalf("Violations[%s] = %d (listed %v), Matches %v; want %d (listed %v), Matches %v",
					team, n, listed, r.Matches, c.breaks, c.listed, c.matches)
			}
			ce := r.Counterexample
			if (ce != nil) != c.wantCE {
				t.Fatalf("counterexample %+v, want one: %v", ce, c.wantCE)
			}
			if ce == nil {
				return
			}
			if ce.Invariant != team || !ce.AsDrawn || !slices.Contains(invariants.Broken(ce.Violations), team) {
				t.Errorf("counterexample for %s (as drawn %v), broken %v; want %s as drawn", ce.Invariant, ce.AsDrawn, invariants.Broken(ce.Violations), team)
			}
			for _, v := range ce.Violations {
				if v.Invariant == team && len(v.Evidence) == 0 {
					t.Errorf("team violation %+v without evidence", v)
				}
			}
		})
	}
}

// namedAs is firstCommitted (lenient) under another name.
type namedAs struct {
	firstCommitted
	name invariants.Name
}

func (n namedAs) Name() invariants.Name { return n.name }

// TestTeamInvariantNames: RunCell and RunMatrix refuse a team invariant named like a catalogue
// invariant or like another team invariant, before running anything, with a usage error.
func TestTeamInvariantNames(t *testing.T) {
	cell := result.Cell{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: "none"}
	for _, tc := range []struct {
		name  string
		extra []invariants.Checker
		fails bool
	}{
		{"own name", []invariants.Checker{firstCommitted{}}, false},
		{"built-in name", []invariants.Checker{namedAs{name: invariants.NoLostEffect}}, true},
		{"built-in name of another workload", []invariants.Checker{namedAs{name: invariants.Balance}}, true},
		{"two alike", []invariants.Checker{firstCommitted{}, namedAs{name: "team-first-committed"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.Seeds, opts.Search, opts.Invariants = 2, 0, tc.extra
			_, cellErr := RunCell(context.Background(), harness.NewSim(), cell, opts)
			_, matrixErr := RunMatrix(context.Background(), harness.NewSim(), []result.Cell{cell}, opts, nil)
			for what, err := range map[string]error{"RunCell": cellErr, "RunMatrix": matrixErr} {
				switch {
				case !tc.fails && err != nil:
					t.Errorf("%s: %v", what, err)
				case tc.fails && (!errors.Is(err, harness.ErrUsage) || !errors.Is(err, invariants.ErrTeamName)):
					t.Errorf("%s: err = %v, want a usage error wrapping invariants.ErrTeamName", what, err)
				}
			}
		})
	}
}
