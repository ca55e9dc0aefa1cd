package scenarios

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

// Options say how many seeds a cell runs and whether failures are shrunk.
type Options struct {
	Seeds     int    // runs per cell
	FirstSeed uint64 // seeds are FirstSeed, FirstSeed+1, ...
	Limits    Limits
	NoShrink  bool
	// Search is how many more seeds a cell may draw, after Seeds, to look for a break the
	// catalogue expects and the first Seeds runs did not draw; it stops once none is missing.
	// Rates stay those of the first Seeds runs. Whatever a searched seed breaks that the first
	// runs did not is reported with its seed (CellResult.FoundBySearch), an unexpected break as
	// well as the one looked for, and a searched run the harness failed counts in Errors.
	Search int
	// Invariants are a team's own, checked after the catalogue's on every run of a cell
	// (invariants.CheckWith) and counted and reported as theirs are. A run that breaks one is its
	// cell's counterexample as drawn, unshrunk: shrinking keeps to the catalogue's invariants.
	// Each needs a name of its own, neither a catalogue invariant's nor another's
	// (invariants.Validate): RunCell and RunMatrix refuse others with an error wrapping
	// harness.ErrUsage.
	Invariants []invariants.Checker
	// Explore, when set, replaces the seeds and the search by exhaustive exploration: one run for
	// every schedule within these bounds (Enumerate), up to MaxSchedules (0: DefaultMaxSchedules).
	// Seeds, FirstSeed, Limits, Search and NoShrink are then unused.
	Explore      *Bounds
	MaxSchedules int
}

// DefaultOptions are the catalogue's: 100 seeds a cell, up to 900 more to find an expected break
// that is rarely drawn, shrinking on.
func DefaultOptions() Options {
	return Options{Seeds: 100, FirstSeed: 1, Limits: DefaultLimits, Search: 900}
}

// Outcome of one scenario: its history and the violations found in it.
type Outcome struct {
	History    *history.History
	Violations []invariants.Violation
}

// RunScenario runs one scenario and checks every applicable invariant on its final state.
func RunScenario(ctx context.Context, b harness.Backend, sc history.Scenario) (Outcome, error) {
	h, err := harness.Run(ctx, b, sc)
	if err != nil {
		return Outcome{History: h}, err
	}
	return Outcome{History: h, Violations: invariants.Check(h)}, nil
}

// RunCell runs a cell over opts.Seeds seeds (or, with opts.Explore, over every schedule within
// its bounds: see exploreCell), counts the runs that broke each invariant, searches
// up to opts.Search more seeds while an expected break is missing, compares with the catalogue
// and shrinks the first failure of the first broken invariant. A searched seed reports what it
// saw as a first seed does: a break the first seeds did not show goes into FoundBySearch
// (expected or not), a harness failure into Errors; either can make the cell differ. The fault
// points the settled runs passed, first and searched, make the cell's Coverage.
func RunCell(ctx context.Context, b harness.Backend, c result.Cell, opts Options) (result.CellResult, error) {
	if err := invariants.Validate(opts.Invariants...); err != nil {
		return result.CellResult{}, fmt.Errorf("%w: %w", harness.ErrUsage, err)
	}
	exp := ExpectedWithin(c, opts.Limits)
	if opts.Explore != nil {
		exp = ExpectedWithin(c, limitsFor(*opts.Explore))
	}
	r := result.CellResult{
		Producer: c.Producer, Consumer: c.Consumer, Workload: c.Workload, Fault: c.Fault, Broker: c.Broker,
		Backend: b.Name(), Violations: map[invariants.Name]int{}, Expected: exp.Breaks, MayBreak: exp.MayBreak, Reason: exp.Reason(),
	}
	if r.Expected == nil {
		r.Expected = []invariants.Name{}
	}
	for _, inv := range append(invariants.For(c.Workload), teamFor(opts.Invariants, c.Workload)...) {
		r.Violations[inv.Name()] = 0
	}
	if opts.Explore != nil {
		return exploreCell(ctx, b, c, opts, r)
	}
	// The run that first broke each invariant, and its seed.
	type firstBreak struct {
		seed uint64
		out  Outcome
	}
	first := map[invariants.Name]firstBreak{}
	// note keeps the run that first broke name; it reports whether it kept it.
	note := func(name invariants.Name, seed uint64, out Outcome) bool {
		if _, ok := first[name]; !ok {
			first[name] = firstBreak{seed, out}
			return true
		}
		return false
	}
	runSeed := func(seed uint64) (Outcome, error) {
		sc, err := FromSeed(c, seed, opts.Limits)
		if err != nil {
			return Outcome{}, fmt.Errorf("%w: %w", harness.ErrUsage, err)
		}
		return runScenarioWith(ctx, b, sc, opts.Invariants)
	}
	t := tally{r: &r}
	for i := range opts.Seeds {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		seed := opts.FirstSeed + uint64(i)
		out, err := runSeed(seed)
		r.Runs++
		if err != nil {
			if err := t.failed(err); err != nil {
				return r, err
			}
			continue
		}
		kept := false
		for _, name := range t.settled(out) {
			kept = note(name, seed, out) || kept
		}
		if !kept {
			recycle(b, out.History, opts)
		}
	}
	for i := 0; i < opts.Search && len(r.Missing()) > 0; i++ {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		seed := opts.FirstSeed + uint64(opts.Seeds+i)
		out, err := runSeed(seed)
		r.Searched++
		if err != nil {
			if err := t.failed(err); err != nil {
				return r, err
			}
			continue
		}
		t.reach.add(out.History) // its coverage; its cost and breaks are not the first runs' rates
		kept := false
		for _, name := range invariants.Broken(out.Violations) {
			if _, found := r.FoundBySearch[name]; r.Violations[name] > 0 || found {
				continue
			}
			if r.FoundBySearch == nil {
				r.FoundBySearch = map[invariants.Name]uint64{}
			}
			r.FoundBySearch[name] = seed
			kept = note(name, seed, out) || kept
		}
		if !kept {
			recycle(b, out.History, opts)
		}
	}
	r.Cost = t.meter.cost()
	r.Coverage = t.reach.coverage(c)
	r.Matches = r.Errors == 0 && exp.Agrees(r.Broken())
	for _, name := range append(invariants.Names(), teamNames(opts.Invariants)...) {
		fb, ok := first[name]
		if !ok {
			continue
		}
		if opts.NoShrink || !invariants.IsCatalogue(name) {
			// The run that broke it, as it was: on real servers a second run of the same
			// scenario need not break it again.
			h := fb.out.History
			r.Counterexample = &result.Counterexample{Seed: fb.seed, Invariant: name, Scenario: h.Scenario, Violations: fb.out.Violations, History: h, AsDrawn: true}
			break
		}
		ce, err := FindCounterexample(ctx, b, c, fb.seed, name, opts)
		if err != nil {
			return r, err
		}
		r.Counterexample = ce
		break
	}
	if t.firstErr != nil && r.Counterexample == nil {
		return r, fmt.Errorf("%s: %d of %d runs failed, first: %w", c, r.Errors, r.Runs+r.Searched, t.firstErr)
	}
	return r, nil
}

// tally counts a cell's runs as they come, RunCell's seeds and exploreCell's schedules alike:
// the runs the harness failed, and what the settled ones cost, reached and broke.
type tally struct {
	r        *result.CellResult
	firstErr error // the first run the harness failed
	meter    costMeter
	reach    reachMeter
}

// failed counts a run the harness failed. A usage error is returned: it stops the cell.
func (t *tally) failed(err error) error {
	if errors.Is(err, harness.ErrUsage) {
		return err
	}
	t.r.Errors++
	if t.firstErr == nil {
		t.firstErr = err
	}
	return nil
}

// settled counts a settled run's cost, coverage and the invariants it broke, and returns those.
func (t *tally) settled(out Outcome) []invariants.Name {
	t.meter.add(out.History)
	t.reach.add(out.History)
	broken := invariants.Broken(out.Violations)
	for _, name := range broken {
		t.r.Violations[name]++
	}
	return broken
}

// FindCounterexample rebuilds the scenario of seed, shrinks it (unless opts.NoShrink) while it
// still breaks invariant, and returns it with its history.
func FindCounterexample(ctx context.Context, b harness.Backend, c result.Cell, seed uint64, invariant invariants.Name, opts Options) (*result.Counterexample, error) {
	sc, err := FromSeed(c, seed, opts.Limits)
	if err != nil {
		return nil, err
	}
	if !opts.NoShrink {
		if sc, err = Shrink(ctx, b, sc, invariant); err != nil {
			return nil, err
		}
	}
	out, err := RunScenario(ctx, b, sc)
	if err != nil {
		return nil, err
	}
	return &result.Counterexample{Seed: seed, Invariant: invariant, Scenario: sc, Violations: out.Violations, History: out.History, AsDrawn: opts.NoShrink}, nil
}

// breaksInvariant reports whether sc still breaks invariant.
func breaksInvariant(ctx context.Context, b harness.Backend, sc history.Scenario, invariant invariants.Name) bool {
	out, err := RunScenario(ctx, b, sc)
	if err != nil {
		return false
	}
	broke := slices.Contains(invariants.Broken(out.Violations), invariant)
	recycle(b, out.History, Options{})
	return broke
}

// recycler is a backend that takes back a history's memory for later runs (harness.Sim).
type recycler interface{ Recycle(*history.History) }

// recycle hands h back to the backend, when it takes histories back, once the caller is done
// with it. A team's invariants may have kept a reference to it: then it is left alone.
func recycle(b harness.Backend, h *history.History, opts Options) {
	if r, ok := b.(recycler); ok && h != nil && len(opts.Invariants) == 0 {
		r.Recycle(h)
	}
}

// Shrink makes a failing scenario smaller while it keeps breaking invariant: fewer faults, fewer
// commands, earlier and shorter faults, fewer consumers, prefetch and batch of one. A smaller
// candidate is tried with the scenario's interleaving seed first and then with a few others, since
// removing a command changes the interleaving; each step is kept only if the failure survives it,
// so the result fails the same way. It stops after a bounded number of runs.
//
// Candidates are resolved by name through the strategies' registry, so a team's strategy shrinks
// once it is registered. A scenario whose strategies do not resolve by name is an error, never
// returned unshrunk in silence.
func Shrink(ctx context.Context, b harness.Backend, sc history.Scenario, invariant invariants.Name) (history.Scenario, error) {
	if _, _, err := harness.Validate(sc); err != nil {
		return sc, fmt.Errorf("scenarios: shrink: %w (register a team's strategies with strategies.RegisterProducer and RegisterConsumer)", err)
	}
	sc = shrinkSteps(ctx, b, sc, invariant)
	// Two commands, or one more for each producer process past the first: removing a command
	// moves every later one to another producer (fault.ProducerCommands), so the steps may not
	// get there.
	few := 1 + fault.ProducersOf(sc.Fault)
	if len(sc.Commands) <= few && len(sc.Faults) <= 1 {
		return sc, nil
	}
	// Still large: look for a small scenario of the same cell that fails the same way, drawn
	// afresh with at most that many commands and one fault, then shrink that.
	c := result.Cell{Producer: sc.Producer, Consumer: sc.Consumer, Workload: sc.Workload, Fault: sc.Fault, Broker: sc.Broker}
	small := DefaultLimits
	small.MaxCommands, small.MaxFaults = few, 1
	for seed := uint64(1); seed <= smallSearch && ctx.Err() == nil; seed++ {
		cand, err := FromSeed(c, seed, small)
		if err != nil {
			break
		}
		if breaksInvariant(ctx, b, cand, invariant) {
			return shrinkSteps(ctx, b, cand, invariant), nil
		}
	}
	return sc, nil
}

// smallSearch is how many small scenarios Shrink draws when the steps leave a large one.
const smallSearch = 400

func shrinkSteps(ctx context.Context, b harness.Backend, sc history.Scenario, invariant invariants.Name) history.Scenario {
	budget := 1500
	try := func(cand history.Scenario) bool {
		if _, _, err := harness.Validate(cand); err != nil {
			return false
		}
		seeds := []uint64{cand.Seed}
		for s := uint64(1); s <= shrinkSeeds; s++ {
			if s != cand.Seed {
				seeds = append(seeds, s)
			}
		}
		for _, seed := range seeds {
			if budget <= 0 || ctx.Err() != nil {
				return false
			}
			budget--
			cand.Seed = seed
			if breaksInvariant(ctx, b, cand, invariant) {
				sc = cand
				return true
			}
		}
		return false
	}
	minConsumers := 1
	if k, err := fault.Lookup(sc.Fault); err == nil {
		minConsumers = k.Consumers
	}
	for progress := true; progress && budget > 0; {
		progress = false
		for i := 0; i < len(sc.Faults) && len(sc.Faults) > 1; i++ {
			cand := sc
			cand.Faults = slices.Delete(slices.Clone(sc.Faults), i, i+1)
			if try(cand) {
				progress = true
				i--
			}
		}
		for i := len(sc.Commands) - 1; i >= 0 && len(sc.Commands) > 1; i-- {
			cand := sc
			cand.Commands = slices.Delete(slices.Clone(sc.Commands), i, i+1)
			if try(cand) {
				progress = true
			}
		}
		for i := range sc.Faults {
			for nth := 1; nth < sc.Faults[i].Nth; nth++ {
				cand := sc
				cand.Faults = slices.Clone(sc.Faults)
				cand.Faults[i].Nth = nth
				if try(cand) {
					progress = true
					break
				}
			}
			for _, d := range []int{1, sc.Faults[i].Duration / 4, sc.Faults[i].Duration / 2} {
				if d < 1 || d >= sc.Faults[i].Duration {
					continue
				}
				cand := sc
				cand.Faults = slices.Clone(sc.Faults)
				cand.Faults[i].Duration = d
				if try(cand) {
					progress = true
					break
				}
			}
		}
		for _, step := range []func(*history.Scenario) bool{
			func(s *history.Scenario) bool { s.Consumers--; return s.Consumers >= minConsumers },
			func(s *history.Scenario) bool { s.Prefetch = 1; return sc.Prefetch > 1 },
			func(s *history.Scenario) bool { s.Batch = 1; return sc.Batch > 1 },
		} {
			cand := sc
			cand.Commands = slices.Clone(sc.Commands)
			cand.Faults = slices.Clone(sc.Faults)
			if step(&cand) && try(cand) {
				progress = true
			}
		}
	}
	return sc
}

// shrinkSeeds is how many other interleavings a shrinking step tries.
const shrinkSeeds = 16

// Progress is told how many cells are done.
type Progress func(done, total int)

// RunMatrix runs every cell on the backend, one cell per worker, as many workers as CPUs; the
// results come back in the order of cells. Team invariants that fail invariants.Validate are
// refused before any cell runs, with an error wrapping harness.ErrUsage.
func RunMatrix(ctx context.Context, b harness.Backend, cells []result.Cell, opts Options, progress Progress) ([]result.CellResult, error) {
	if err := invariants.Validate(opts.Invariants...); err != nil {
		return nil, fmt.Errorf("%w: %w", harness.ErrUsage, err)
	}
	results := make([]result.CellResult, len(cells))
	errs := make([]error, len(cells))
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results[i], errs[i] = RunCell(ctx, b, cells[i], opts)
				mu.Lock()
				done++
				if progress != nil {
					progress(done, len(cells))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range cells {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return results, err
	}
	return results, errors.Join(errs...)
}
