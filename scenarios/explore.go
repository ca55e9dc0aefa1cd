package scenarios

// Exhaustive exploration: every schedule of a cell within stated bounds, in place of seeds.

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

// Bounds are an exhaustive exploration's bounds (result.Bounds).
type Bounds = result.Bounds

// DefaultBounds are the smallest bounds: one command, one fault, the kind's fewest consumers and
// one interleaving. Within them each crash point, ack and confirm is one schedule.
var DefaultBounds = Bounds{MaxCommands: 1, MaxFaults: 1, Interleavings: 1}

// DefaultMaxSchedules is how many schedules a cell explores at most unless told otherwise: past
// it, the cell reports the space as not exhausted.
const DefaultMaxSchedules = 100_000

// The enumeration walks the generator's choice tree (GenerateFor's draws) depth first, the
// smaller choice first, so that the first schedule that breaks an invariant is among the
// simplest. It varies the choices of the fault model and pins the others:
//
//   - commands 1..MaxCommands, consumers from the kind's minimum to MaxConsumers, faults
//     1..MaxFaults, and each fault's target, point, link and occurrence (nth, up to the kind's
//     bound for the commands drawn): every value;
//   - a cut's or an outage's duration: the shortest (1 ms) and the longest the generator draws
//     (Limits.MaxDuration), the one healing before a client's retry and the other outlasting it;
//   - the interleaving seed: 1..Interleavings;
//   - everything else at its smallest: one business key, the first account or product, the
//     kind's least prefetch, relay batches of one.
//
// Schedules that come out identical (a kind with no target left draws no fault, whatever the
// number of faults) run once.
type treeSource struct {
	path          []choice
	pos           int
	interleavings int
}

// choice is one draw on the current path: the values it takes in turn and the one taken now.
type choice struct {
	vals []int
	i    int
}

// IntRange implements Source: on the path, the choice taken now; past it, a new choice at its
// first value.
func (s *treeSource) IntRange(label string, lo, hi int) int {
	if s.pos < len(s.path) {
		c := s.path[s.pos]
		s.pos++
		return c.vals[c.i]
	}
	vals := s.values(label, lo, max(lo, hi))
	s.path = append(s.path, choice{vals: vals})
	s.pos++
	return vals[0]
}

func (s *treeSource) values(label string, lo, hi int) []int {
	switch label {
	case "commands", "consumers", "faults", "target", "point", "link", "nth", "site":
		out := make([]int, 0, hi-lo+1)
		for v := lo; v <= hi; v++ {
			out = append(out, v)
		}
		return out
	case "duration":
		if hi > lo {
			return []int{lo, hi}
		}
	case "interleaving":
		out := make([]int, 0, s.interleavings)
		for v := 1; v <= max(1, s.interleavings); v++ {
			out = append(out, min(max(v, lo), hi))
		}
		return out
	}
	return []int{lo}
}

// next backtracks to the next path not walked yet; false once the tree is exhausted.
func (s *treeSource) next() bool {
	s.pos = 0
	for len(s.path) > 0 {
		last := &s.path[len(s.path)-1]
		if last.i+1 < len(last.vals) {
			last.i++
			return true
		}
		s.path = s.path[:len(s.path)-1]
	}
	return false
}

// limitsFor are the generator's limits an exploration within b draws with, and those its cells'
// expectations are stated for (ExpectedWithin reads MaxFaults, MaxConsumers and MaxCommands).
func limitsFor(b Bounds) Limits {
	lim := DefaultLimits
	lim.MaxCommands = max(1, b.MaxCommands)
	lim.MaxKeys = 1
	lim.MaxFaults = max(1, b.MaxFaults)
	lim.MaxConsumers = max(1, b.MaxConsumers) // at most the kind's minimum when not raised
	return lim
}

// Enumerate lists the schedules of a cell within b, in a fixed order (see treeSource): the same
// cell and bounds, the same list. It stops after limit schedules (0: no limit); exhausted says
// the list is every schedule within b. Each scenario's Seed is its interleaving seed.
func Enumerate(c result.Cell, b Bounds, limit int) (scs []history.Scenario, exhausted bool, err error) {
	src := &treeSource{interleavings: max(1, b.Interleavings)}
	lim := limitsFor(b)
	seen := map[string]bool{}
	for {
		sc, err := Generate(src, c, lim)
		if err != nil {
			return nil, false, err
		}
		key, err := json.Marshal(sc)
		if err != nil {
			return nil, false, fmt.Errorf("scenarios: enumerate: %w", err)
		}
		if !seen[string(key)] {
			if limit > 0 && len(scs) == limit {
				return scs, false, nil
			}
			seen[string(key)] = true
			scs = append(scs, sc)
		}
		if !src.next() {
			return scs, true, nil
		}
	}
}

// ScheduleOf is the n-th (1-based) schedule Enumerate lists for c within b: what
// `simulate replay --schedule N` runs.
func ScheduleOf(c result.Cell, b Bounds, n int) (history.Scenario, error) {
	if n < 1 {
		return history.Scenario{}, fmt.Errorf("%w: schedule %d: schedules are numbered from 1", harness.ErrUsage, n)
	}
	scs, _, err := Enumerate(c, b, n)
	if err != nil {
		return history.Scenario{}, fmt.Errorf("%w: %w", harness.ErrUsage, err)
	}
	if len(scs) < n {
		return history.Scenario{}, fmt.Errorf("%w: schedule %d: %s has %d schedules within %s", harness.ErrUsage, n, c, len(scs), b)
	}
	return scs[n-1], nil
}

// exploreCell is RunCell under exhaustive exploration: one run per schedule within
// opts.Explore, in Enumerate's order, instead of seeds and search. r arrives with the cell's
// names, expectation and invariants filled in. The counterexample is the first schedule that
// broke an invariant, as enumerated (the order puts the simplest first; it is not shrunk), with
// its index for replay.
func exploreCell(ctx context.Context, b harness.Backend, c result.Cell, opts Options, r result.CellResult) (result.CellResult, error) {
	bounds := *opts.Explore
	r.Bounds = &bounds
	limit := opts.MaxSchedules
	if limit == 0 {
		limit = DefaultMaxSchedules
	}
	scs, exhausted, err := Enumerate(c, bounds, limit)
	if err != nil {
		return r, fmt.Errorf("%w: %w", harness.ErrUsage, err)
	}
	type firstBreak struct {
		index int
		sc    history.Scenario
		out   Outcome
	}
	first := map[invariants.Name]firstBreak{}
	t := tally{r: &r}
	for i, sc := range scs {
		if err := ctx.Err(); err != nil {
			exhausted = false
			if r.Runs == 0 {
				return r, err
			}
			break
		}
		out, err := runScenarioWith(ctx, b, sc, opts.Invariants)
		r.Runs++
		r.Explored++
		if err != nil {
			if err := t.failed(err); err != nil {
				return r, err
			}
			continue
		}
		kept := false
		for _, name := range t.settled(out) {
			if _, ok := first[name]; !ok {
				first[name] = firstBreak{i + 1, sc, out}
				kept = true
			}
		}
		if !kept {
			recycle(b, out.History, opts)
		}
	}
	r.Exhausted = exhausted && r.Explored == len(scs)
	r.Cost = t.meter.cost()
	r.Coverage = t.reach.coverage(c)
	r.Matches = r.Errors == 0 && ExpectedWithin(c, limitsFor(bounds)).Agrees(r.Broken())
	for _, name := range append(invariants.Names(), teamNames(opts.Invariants)...) {
		fb, ok := first[name]
		if !ok {
			continue
		}
		r.Counterexample = &result.Counterexample{
			Seed: fb.sc.Seed, Invariant: name, Scenario: fb.sc, Violations: fb.out.Violations, History: fb.out.History,
			Schedule: fb.index, Bounds: &bounds,
		}
		break
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	if t.firstErr != nil && r.Counterexample == nil {
		return r, fmt.Errorf("%s: %d of %d schedules failed, first: %w", c, r.Errors, r.Runs, t.firstErr)
	}
	return r, nil
}
