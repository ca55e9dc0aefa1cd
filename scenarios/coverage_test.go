package scenarios_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/strategies"
)

// passingConsumer is a team's consumer that applies, commits and acks, passing the points in
// passes after its commit; it declares the points in declares.
type passingConsumer struct {
	name     string
	declares []string
	passes   []string
}

func (c passingConsumer) Name() string     { return c.name }
func (passingConsumer) Doc() string        { return "apply, commit, its fault points, ack" }
func (c passingConsumer) Points() []string { return c.declares }

func (c passingConsumer) Handle(ctx context.Context, env strategies.ConsumerEnv, d strategies.Delivery) error {
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	if err := tx.Apply(ctx, d.Msg); err != nil {
		_ = tx.Rollback(ctx)
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	if err := tx.Commit(ctx); err != nil {
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	for _, p := range c.passes {
		env.Faults.Point(ctx, p)
	}
	return env.Sub.Ack(ctx, d.Tag)
}

// registerOnce registers c under its name unless a strategy of that name is registered already
// (a second run of the test in one process).
func registerOnce(t *testing.T, c strategies.Consumer) {
	t.Helper()
	if _, err := strategies.LookupConsumer(c.Name()); err == nil {
		return
	}
	if err := strategies.RegisterConsumer(c.Name(), func() strategies.Consumer { return c }); err != nil {
		t.Fatal(err)
	}
}

// passedIn is the counts of a coverage whose every point of points was passed in all runs runs.
func passedIn(points []string, runs int) map[string]int {
	out := make(map[string]int, len(points))
	for _, p := range points {
		out[p] = runs
	}
	return out
}

// TestCellCoverage: a cell lists, per role, the declared fault points its runs reached, with the
// runs that reached each and the times they passed it, and those none reached; a point the
// strategy never passes is unreached, and a strategy that passes every point it declares has none
// unreached. A point passed twice per message counts both passes.
func TestCellCoverage(t *testing.T) {
	const (
		effect = strategies.PointConsumerAfterEffect
		check  = strategies.PointConsumerAfterCheck
		runs   = 10
	)
	outbox := strategies.Outbox{}
	relay := result.RoleCoverage{Role: history.RoleRelay, Declared: outbox.RelayPoints(), Reached: outbox.RelayPoints(), Unreached: []string{},
		Runs: runs, RunsReached: passedIn(outbox.RelayPoints(), runs)}
	producer := result.RoleCoverage{Role: history.RoleProducer, Declared: outbox.Points(), Reached: outbox.Points(), Unreached: []string{},
		Runs: runs, RunsReached: passedIn(outbox.Points(), runs)}
	for _, tc := range []struct {
		name          string
		consumer      passingConsumer
		fault         string
		wantConsumer  result.RoleCoverage
		wantUnreached result.Coverage
		passesPerRun  int // the least passes of the consumer's reached points per run
	}{
		{"all passed", passingConsumer{name: "coverage-all", declares: []string{effect}, passes: []string{effect}}, "none",
			result.RoleCoverage{Role: "consumer", Declared: []string{effect}, Reached: []string{effect}, Unreached: []string{},
				Runs: runs, RunsReached: passedIn([]string{effect}, runs)}, nil, 1},
		{"passed twice a message", passingConsumer{name: "coverage-twice", declares: []string{effect}, passes: []string{effect, effect}}, "none",
			result.RoleCoverage{Role: "consumer", Declared: []string{effect}, Reached: []string{effect}, Unreached: []string{},
				Runs: runs, RunsReached: passedIn([]string{effect}, runs)}, nil, 2},
		{"one never passed", passingConsumer{name: "coverage-partial", declares: []string{check, effect}, passes: []string{effect}}, "none",
			result.RoleCoverage{Role: "consumer", Declared: []string{check, effect}, Reached: []string{effect}, Unreached: []string{check},
				Runs: runs, RunsReached: passedIn([]string{effect}, runs)},
			result.Coverage{{Role: "consumer", Unreached: []string{check}}}, 1},
		{"never passed, with crashes", passingConsumer{name: "coverage-partial", declares: []string{check, effect}, passes: []string{effect}}, "crash-consumer",
			result.RoleCoverage{Role: "consumer", Declared: []string{check, effect}, Reached: []string{effect}, Unreached: []string{check},
				Runs: runs, RunsReached: passedIn([]string{effect}, runs)},
			result.Coverage{{Role: "consumer", Unreached: []string{check}}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			registerOnce(t, tc.consumer)
			c := result.Cell{Producer: outbox.Name(), Consumer: tc.consumer.name, Workload: "orders", Fault: tc.fault}
			opts := scenarios.DefaultOptions()
			opts.Seeds, opts.Search, opts.NoShrink = runs, 0, true
			r, err := scenarios.RunCell(context.Background(), harness.NewSim(), c, opts)
			if err != nil {
				t.Fatal(err)
			}
			// Passes: one a point for every reached point, at least once a run that reached it (the
			// consumer's, passesPerRun times), none for an unreached one.
			for i, rc := range r.Coverage {
				least := 1
				if rc.Role == history.RoleConsumer {
					least = tc.passesPerRun
				}
				if len(rc.Passes) != len(rc.Reached) {
					t.Errorf("%s: passes %v for the points reached %v", rc.Role, rc.Passes, rc.Reached)
				}
				for _, p := range rc.Reached {
					if n := rc.Passes[p]; n < least*rc.RunsReached[p] || n%least != 0 {
						t.Errorf("%s %s: %d passes in %d runs, want a multiple of %d, at least %d a run", rc.Role, p, n, rc.RunsReached[p], least, least)
					}
				}
				r.Coverage[i].Passes = nil
			}
			want := result.Coverage{producer, relay, tc.wantConsumer}
			if !reflect.DeepEqual(r.Coverage, want) {
				t.Errorf("coverage\n got %+v\nwant %+v", r.Coverage, want)
			}
			if got := r.Coverage.Unreached(); !reflect.DeepEqual(got, tc.wantUnreached) {
				t.Errorf("unreached = %+v, want %+v", got, tc.wantUnreached)
			}
		})
	}
}

// TestCellCoverageCounts: a point's count is the number of the cell's runs whose history lists it,
// and its passes the sum of the passes those histories give it, both counted here run by run from
// the same seeds; every count is at most the runs and at most the passes, the searched
// seeds count like the first ones, and where a fault cuts some runs short (a producer that dies
// before it publishes) some points are reached in only part of the runs.
func TestCellCoverageCounts(t *testing.T) {
	for _, tc := range []struct {
		cell    result.Cell
		search  int
		partial bool // some point reached in some runs only
	}{
		{result.Cell{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: "crash-relay"}, 0, false},
		{result.Cell{Producer: "double-write", Consumer: "naive", Workload: "credits", Fault: "crash-producer"}, 0, true},
		{result.Cell{Producer: "double-write", Consumer: "naive", Workload: "orders", Fault: "ambiguous-commit"}, 0, true},
		// Its break shows in few seeds: the search draws more, and they count too.
		{result.Cell{Producer: "log-tailing", Consumer: "inbox", Workload: "prices", Fault: "concurrent-consumers"}, 40, false},
	} {
		t.Run(tc.cell.String(), func(t *testing.T) {
			opts := scenarios.DefaultOptions()
			opts.Seeds, opts.Search, opts.NoShrink = 20, tc.search, true
			r, err := scenarios.RunCell(context.Background(), harness.NewSim(), tc.cell, opts)
			if err != nil {
				t.Fatal(err)
			}
			if tc.search > 0 && r.Searched == 0 {
				t.Fatalf("the search drew no seed: pick a cell whose expected break the first %d seeds miss", opts.Seeds)
			}
			runs := r.Runs + r.Searched - r.Errors
			type key struct{ role, point string }
			want, wantPasses := map[key]int{}, map[key]int{}
			for i := range r.Runs + r.Searched {
				sc, err := scenarios.FromSeed(tc.cell, opts.FirstSeed+uint64(i), opts.Limits)
				if err != nil {
					t.Fatal(err)
				}
				h, err := harness.Run(context.Background(), harness.NewSim(), sc)
				if err != nil {
					continue // not settled: not counted
				}
				for _, p := range h.Reached {
					want[key{p.Role, p.Point}]++
					wantPasses[key{p.Role, p.Point}] += p.Passes
				}
			}
			partial := false
			for _, rc := range r.Coverage {
				if rc.Runs != runs {
					t.Errorf("%s: counts of %d runs, want %d", rc.Role, rc.Runs, runs)
				}
				if len(rc.RunsReached) != len(rc.Reached) {
					t.Errorf("%s: %d counts for %d points reached", rc.Role, len(rc.RunsReached), len(rc.Reached))
				}
				for _, p := range rc.Declared {
					got, w := rc.RunsReached[p], want[key{rc.Role, p}]
					if got != w {
						t.Errorf("%s %s: reached in %d runs, counted %d run by run", rc.Role, p, got, w)
					}
					if passes, w := rc.Passes[p], wantPasses[key{rc.Role, p}]; passes != w || passes < got {
						t.Errorf("%s %s: passed %d times in %d runs, counted %d run by run", rc.Role, p, passes, got, w)
					}
					if got > runs {
						t.Errorf("%s %s: reached in %d of %d runs", rc.Role, p, got, runs)
					}
					partial = partial || got > 0 && got < runs
				}
			}
			if partial != tc.partial {
				t.Errorf("some point reached in only part of the runs: %v, want %v: %+v", partial, tc.partial, r.Coverage)
			}
		})
	}
}

// TestCoverageCounts: Coverage counts, per declared point, the runs whose points reached lists it
// (each run's History.Reached, appended run after run) and the passes they list; a point of
// another role or an undeclared one counts for nothing, and points without passes (histories
// written before passes were counted) have none.
func TestCoverageCounts(t *testing.T) {
	outbox, inbox := strategies.Outbox{}, strategies.Inbox{}
	run := func(points ...history.Reach) []history.Reach { return points }
	prod := func(p string) history.Reach { return history.Reach{Role: history.RoleProducer, Point: p} }
	passed := func(r history.Reach, n int) history.Reach { r.Passes = n; return r }
	rel := func(p string) history.Reach { return history.Reach{Role: history.RoleRelay, Point: p} }
	cons := func(p string) history.Reach { return history.Reach{Role: history.RoleConsumer, Point: p} }
	var (
		before, after            = strategies.PointProducerBeforeCommit, strategies.PointProducerAfterCommit
		claim, publish, mark     = strategies.PointRelayAfterClaim, strategies.PointRelayAfterPublish, strategies.PointRelayAfterCommit
		receive, precommit, done = strategies.PointConsumerAfterReceive, strategies.PointConsumerBeforeCommit, strategies.PointConsumerAfterEffect
	)
	for _, tc := range []struct {
		name string
		runs [][]history.Reach
		want result.Coverage
	}{
		{"three runs, the relay cut short in one", [][]history.Reach{
			run(prod(before), prod(after), rel(claim), rel(publish), rel(mark), cons(receive), cons(precommit), cons(done)),
			run(prod(before), prod(after), rel(claim), rel(publish), cons(receive)),
			run(prod(before), prod(after), rel(claim), rel(publish), rel(mark), cons(receive), cons(precommit), cons(done)),
		}, result.Coverage{
			{Role: "producer", Declared: outbox.Points(), Reached: []string{before, after}, Unreached: []string{}, RunsReached: map[string]int{before: 3, after: 3}, Passes: map[string]int{}},
			{Role: "relay", Declared: outbox.RelayPoints(), Reached: []string{claim, publish, mark}, Unreached: []string{}, RunsReached: map[string]int{claim: 3, publish: 3, mark: 2}, Passes: map[string]int{}},
			{Role: "consumer", Declared: inbox.Points(), Reached: []string{receive, precommit, done}, Unreached: []string{}, RunsReached: map[string]int{receive: 3, precommit: 2, done: 2}, Passes: map[string]int{}},
		}},
		{"a producer that died before its commit", [][]history.Reach{
			run(prod(before)),
			run(prod(before), rel(precommit), cons(claim)), // other roles' points count for nothing
		}, result.Coverage{
			{Role: "producer", Declared: outbox.Points(), Reached: []string{before}, Unreached: []string{after}, RunsReached: map[string]int{before: 2}, Passes: map[string]int{}},
			{Role: "relay", Declared: outbox.RelayPoints(), Reached: []string{}, Unreached: outbox.RelayPoints(), RunsReached: map[string]int{}, Passes: map[string]int{}},
			{Role: "consumer", Declared: inbox.Points(), Reached: []string{}, Unreached: inbox.Points(), RunsReached: map[string]int{}, Passes: map[string]int{}},
		}},
		{"two runs with passes, a relay claiming three times", [][]history.Reach{
			run(passed(prod(before), 1), passed(prod(after), 1), passed(rel(claim), 3), passed(rel(publish), 1), passed(cons(receive), 2)),
			run(passed(prod(before), 2), passed(rel(claim), 1), passed(rel(mark), 1), passed(cons(receive), 1), passed(cons(claim), 5)),
		}, result.Coverage{
			{Role: "producer", Declared: outbox.Points(), Reached: []string{before, after}, Unreached: []string{},
				RunsReached: map[string]int{before: 2, after: 1}, Passes: map[string]int{before: 3, after: 1}},
			{Role: "relay", Declared: outbox.RelayPoints(), Reached: []string{claim, publish, mark}, Unreached: []string{},
				RunsReached: map[string]int{claim: 2, publish: 1, mark: 1}, Passes: map[string]int{claim: 4, publish: 1, mark: 1}},
			{Role: "consumer", Declared: inbox.Points(), Reached: []string{receive}, Unreached: []string{precommit, done},
				RunsReached: map[string]int{receive: 2}, Passes: map[string]int{receive: 3}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := scenarios.Coverage(outbox, inbox, slices.Concat(tc.runs...)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Coverage\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestHistoryReached: a run's history lists each fault point its processes passed once, by role
// (consumer-1 and consumer-2 are the consumer), sorted; the simulator gives the same list for the
// same seed.
func TestHistoryReached(t *testing.T) {
	c := result.Cell{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: "concurrent-consumers"}
	sc, err := scenarios.FromSeed(c, 3, scenarios.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	h, err := harness.Run(context.Background(), harness.NewSim(), sc)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Reached) == 0 {
		t.Fatal("no point reached")
	}
	for i, r := range h.Reached {
		if r.Role != history.RoleProducer && r.Role != history.RoleRelay && r.Role != history.RoleConsumer {
			t.Errorf("reach %+v: role is not producer, relay or consumer", r)
		}
		if i > 0 {
			prev := h.Reached[i-1]
			if prev.Role > r.Role || prev.Role == r.Role && prev.Point >= r.Point {
				t.Errorf("reached not sorted or repeated: %+v then %+v", prev, r)
			}
		}
	}
	again, err := harness.Run(context.Background(), harness.NewSim(), sc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.Reached, again.Reached) {
		t.Errorf("same seed, different reached: %+v, %+v", h.Reached, again.Reached)
	}
}
