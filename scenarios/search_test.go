package scenarios

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/strategies"
)

const (
	noDup  = invariants.NoDuplicateEffect
	noLost = invariants.NoLostEffect
)

// scriptedBackend runs no strategy: for an orders scenario it returns a final state that breaks
// the invariants breaks names for the scenario's seed (nothing for other seeds), or errs' error.
type scriptedBackend struct {
	breaks map[uint64][]invariants.Name
	errs   map[uint64]error
}

func (scriptedBackend) Name() string { return "scripted" }

func (b scriptedBackend) Run(_ context.Context, sc history.Scenario, _ strategies.Producer, _ strategies.Consumer) (*history.History, error) {
	if err := b.errs[sc.Seed]; err != nil {
		return nil, err
	}
	order := func(id string) history.Message {
		return history.Message{ID: id, Key: id, Amount: 10, Kind: "OrderPlaced"}
	}
	paid := func(m history.Message) history.Effect { return history.Effect{Msg: m.ID, Key: m.Key, Amount: m.Amount} }
	o1 := order("order-1")
	f := history.Final{Committed: []history.Message{o1}, Effects: []history.Effect{paid(o1)}}
	for _, name := range b.breaks[sc.Seed] {
		switch name {
		case noDup:
			f.Effects = append(f.Effects, paid(o1)) // order-1 paid twice
		case noLost:
			f.Committed = append(f.Committed, order("order-2")) // order-2 never paid
		default:
			panic("scriptedBackend cannot break " + string(name))
		}
	}
	return &history.History{Backend: "scripted", Scenario: sc, Final: f, Quiesced: true}, nil
}

// TestSearchReportsWhatItSaw: the seeds drawn past the first ones to look for a missing expected
// break count like the first seeds: a break they show first is recorded with its seed, expected or
// not, and a run the harness failed counts in Errors; the search stops once nothing expected is
// missing. The cell expects no-duplicate-effect and rules out no-lost-effect.
func TestSearchReportsWhatItSaw(t *testing.T) {
	cell := result.Cell{Producer: "outbox", Consumer: "naive", Workload: "orders", Fault: "crash-relay"}
	if exp := Expected(cell); !slices.Equal(exp.Breaks, []invariants.Name{noDup}) || slices.Contains(exp.MayBreak, noLost) {
		t.Fatalf("%s expects %v, may break %v: the cases below assume dup expected and lost ruled out", cell, exp.Breaks, exp.MayBreak)
	}
	opts := Options{Seeds: 4, FirstSeed: 1, Limits: DefaultLimits, NoShrink: true, Search: 10}
	errHarness := errors.New("scripted: no quiescence")
	type ce struct {
		invariant invariants.Name
		seed      uint64
	}
	tests := []struct {
		name       string
		breaks     map[uint64][]invariants.Name
		errs       map[uint64]error
		searched   int
		found      map[invariants.Name]uint64
		violations map[invariants.Name]int // the counts that are not 0
		errors     int
		matches    bool
		unexpected []invariants.Name
		ce         *ce   // nil: none
		err        error // RunCell's error wraps it
	}{
		{
			name:     "a searched seed finds the expected break",
			breaks:   map[uint64][]invariants.Name{7: {noDup}},
			searched: 3, found: map[invariants.Name]uint64{noDup: 7}, matches: true, ce: &ce{noDup, 7},
		},
		{
			name:     "the search stops once nothing expected is missing",
			breaks:   map[uint64][]invariants.Name{5: {noDup}, 6: {noLost}},
			searched: 1, found: map[invariants.Name]uint64{noDup: 5}, matches: true, ce: &ce{noDup, 5},
		},
		{
			name:     "an unexpected break only in a searched seed",
			breaks:   map[uint64][]invariants.Name{6: {noLost}, 8: {noDup}},
			searched: 4, found: map[invariants.Name]uint64{noLost: 6, noDup: 8}, unexpected: []invariants.Name{noLost}, ce: &ce{noDup, 8},
		},
		{
			name:     "an unexpected break in a searched seed, the expected one never found",
			breaks:   map[uint64][]invariants.Name{6: {noLost}, 9: {noLost}},
			searched: 10, found: map[invariants.Name]uint64{noLost: 6}, unexpected: []invariants.Name{noLost}, ce: &ce{noLost, 6},
		},
		{
			name:     "a break the first seeds showed is not found again",
			breaks:   map[uint64][]invariants.Name{2: {noLost}, 7: {noLost, noDup}},
			searched: 3, found: map[invariants.Name]uint64{noDup: 7}, violations: map[invariants.Name]int{noLost: 1}, unexpected: []invariants.Name{noLost}, ce: &ce{noDup, 7},
		},
		{
			name:     "a harness error in a searched seed",
			breaks:   map[uint64][]invariants.Name{9: {noDup}},
			errs:     map[uint64]error{6: errHarness},
			searched: 5, found: map[invariants.Name]uint64{noDup: 9}, errors: 1, ce: &ce{noDup, 9},
		},
		{
			name:     "harness errors in searched seeds and nothing found",
			errs:     map[uint64]error{5: errHarness, 12: errHarness},
			searched: 10, errors: 2, err: errHarness,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := RunCell(context.Background(), scriptedBackend{tc.breaks, tc.errs}, cell, opts)
			switch {
			case tc.err == nil && err != nil:
				t.Fatalf("RunCell: %v", err)
			case tc.err != nil && !errors.Is(err, tc.err):
				t.Fatalf("RunCell error %v, want one wrapping %v", err, tc.err)
			case tc.err != nil && !strings.Contains(err.Error(), "2 of 14 runs failed"):
				t.Errorf("RunCell error %q does not count the searched runs", err)
			}
			if r.Runs != opts.Seeds || r.Searched != tc.searched {
				t.Errorf("runs %d and searched %d, want %d and %d", r.Runs, r.Searched, opts.Seeds, tc.searched)
			}
			if !maps.Equal(r.FoundBySearch, tc.found) {
				t.Errorf("found by search %v, want %v", r.FoundBySearch, tc.found)
			}
			for name, n := range r.Violations {
				if n != tc.violations[name] {
					t.Errorf("violations %v, want %v and 0 for the others", r.Violations, tc.violations)
					break
				}
			}
			if r.Errors != tc.errors {
				t.Errorf("errors %d, want %d", r.Errors, tc.errors)
			}
			if r.Matches != tc.matches {
				t.Errorf("matches %v, want %v (broken %v, unexpected %v, missing %v, errors %d)", r.Matches, tc.matches, r.Broken(), r.Unexpected(), r.Missing(), r.Errors)
			}
			if got := r.Unexpected(); !slices.Equal(got, tc.unexpected) {
				t.Errorf("unexpected %v, want %v", got, tc.unexpected)
			}
			switch {
			case tc.ce == nil && r.Counterexample != nil:
				t.Errorf("counterexample %s at seed %d, want none", r.Counterexample.Invariant, r.Counterexample.Seed)
			case tc.ce != nil && r.Counterexample == nil:
				t.Errorf("no counterexample, want %s at seed %d", tc.ce.invariant, tc.ce.seed)
			case tc.ce != nil && (r.Counterexample.Invariant != tc.ce.invariant || r.Counterexample.Seed != tc.ce.seed):
				t.Errorf("counterexample %s at seed %d, want %s at seed %d", r.Counterexample.Invariant, r.Counterexample.Seed, tc.ce.invariant, tc.ce.seed)
			}
		})
	}
}
