package scenariotest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/strategies"
	"pgregory.net/rapid"
)

// Prove checks that a producer and a consumer keep every invariant of the workload under each
// fault kind (every possible one unless Faults names some): with rapid on the simulator, or with
// seeded draws on real servers (OnReal). A team proves its own strategy, written against the
// ports of package strategies, in a plain go test:
//
//	func TestMyConsumer(t *testing.T) {
//		scenariotest.Prove(t, strategies.Outbox{}, &MyConsumer{}, workload.Orders.Name)
//	}
//
// A strategy that holds memory is registered (strategies.RegisterConsumer), so that each process
// incarnation gets a fresh instance from its constructor; on real servers every strategy must be
// registered, since the workers are new processes. A failure reports the scenario with its
// violations and timeline; on the simulator rapid shrinks it and saves it under testdata/rapid/
// for -rapid.failfile. On either backend, a fault point the strategies declare (for a service,
// its protocol points too) that no draw passed is logged (t.Log, not a failure): a crash there
// was never drawn.
func Prove(t *testing.T, p strategies.Producer, c strategies.Consumer, workload string, opts ...Option) {
	t.Helper()
	o := options{draws: 5}
	for _, opt := range opts {
		opt(&o)
	}
	if err := invariants.Validate(o.invariants...); err != nil {
		t.Fatal(err)
	}
	faults := o.faults
	if len(faults) == 0 {
		faults = fault.Names()
	}
	// The fault points the draws passed, over every fault kind (History.Reached).
	var reached []history.Reach
	ran := false
	reach := func(h *history.History) {
		if h == nil {
			return
		}
		for _, r := range h.Reached {
			if !slices.ContainsFunc(reached, func(x history.Reach) bool { return x.Role == r.Role && x.Point == r.Point }) {
				reached = append(reached, history.Reach{Role: r.Role, Point: r.Point})
			}
		}
	}
	for _, name := range faults {
		k, err := fault.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if k.Possible(strategies.HasRelay(p)) != nil {
			continue
		}
		if _, service := p.(interface{ RealOnly() error }); service && k.Producers > 1 {
			continue // a service is one program: service mode runs one producer process
		}
		if o.real != nil {
			ran = true
			t.Run(name, func(t *testing.T) {
				h, vs, err := findViolation(context.Background(), o.real, p, c, workload, name, o.draws, reach, o.invariants...)
				if err != nil {
					t.Fatalf("harness: %v", err)
				}
				if len(vs) > 0 {
					t.Fatalf("%s with %s on %s under %s on %s, seed %d:\n%s", p.Name(), c.Name(), workload, name, o.real.Name(), h.Scenario.Seed, Describe(h, vs))
				}
			})
			continue
		}
		b := harness.NewSim()
		ran = true
		t.Run(name, func(t *testing.T) {
			gen := rapid.Custom(func(rt *rapid.T) history.Scenario {
				sc, err := scenarios.GenerateFor(rapidSource{rt}, p, c, workload, name, scenarios.DefaultLimits)
				if err != nil {
					rt.Fatalf("generate: %v", err)
				}
				return sc
			})
			rapid.Check(t, func(rt *rapid.T) {
				sc := gen.Draw(rt, "scenario")
				h, err := harness.RunWith(context.Background(), b, sc, p, c)
				reach(h)
				if err != nil {
					rt.Fatalf("harness: %v", err)
				}
				if vs := invariants.CheckWith(h, o.invariants...); len(vs) > 0 {
					rt.Fatalf("%s with %s on %s under %s:\n%s", p.Name(), c.Name(), workload, name, Describe(h, vs))
				}
			})
		})
	}
	if ran {
		if u := unreached(scenarios.Coverage(p, c, reached)); u != "" {
			t.Logf("%s with %s on %s: points no draw reached: %s (a crash there was never drawn)", p.Name(), c.Name(), workload, u)
		}
	}
}

// unreached renders the declared points no run reached, "producer: a, b; consumer: c"; "" when
// every one was reached.
func unreached(cov result.Coverage) string {
	var parts []string
	for _, rc := range cov.Unreached() {
		parts = append(parts, rc.Role+": "+strings.Join(rc.Unreached, ", "))
	}
	return strings.Join(parts, "; ")
}

// Option changes how Prove runs.
type Option func(*options)

type options struct {
	real   harness.Backend
	draws  int
	faults []string
	// a team's own invariants, checked beside the catalogue's (Invariants)
	invariants []invariants.Checker
}

// OnReal runs Prove's scenarios on real servers: b is real.NewBackend(inf), with inf from
// realtest.Require. Package scenariotest does not import the real backend, so that a team
// proving on the simulator alone links neither pgx nor amqp091.
//
// The workers are the team's own test binary re-executed, so the test package needs the worker
// hook as the first thing in TestMain, after its strategies are registered (in init, or in
// TestMain before the hook):
//
//	func TestMain(m *testing.M) {
//		if real.IsWorker() {
//			real.WorkerMain()
//		}
//		os.Exit(m.Run())
//	}
//
// On real servers Prove runs seeded draws (see Draws) instead of rapid's, without shrinking.
func OnReal(b harness.Backend) Option { return func(o *options) { o.real = b } }

// Draws sets how many seeded scenarios each fault gets on real servers (5 unless set).
func Draws(n int) Option { return func(o *options) { o.draws = max(1, n) } }

// Faults names the fault kinds to prove under, instead of every possible one.
func Faults(names ...string) Option { return func(o *options) { o.faults = names } }

// FindViolation runs draws seeded scenarios (seeds 1 to draws) of the fault on b and returns the
// first history that breaks an invariant, the catalogue's or one of extra (a team's own), with its
// violations; none means every draw held. Team invariants that fail invariants.Validate are an
// error wrapping harness.ErrUsage.
func FindViolation(ctx context.Context, b harness.Backend, p strategies.Producer, c strategies.Consumer, workload, faultKind string, draws int, extra ...invariants.Checker) (*history.History, []invariants.Violation, error) {
	return findViolation(ctx, b, p, c, workload, faultKind, draws, nil, extra...)
}

// findViolation is FindViolation that shows seen every history it ran.
func findViolation(ctx context.Context, b harness.Backend, p strategies.Producer, c strategies.Consumer, workload, faultKind string, draws int, seen func(*history.History), extra ...invariants.Checker) (*history.History, []invariants.Violation, error) {
	if err := invariants.Validate(extra...); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", harness.ErrUsage, err)
	}
	for seed := uint64(1); seed <= uint64(draws); seed++ {
		sc, err := scenarios.GenerateFor(scenarios.NewSeedSource(seed), p, c, workload, faultKind, scenarios.DefaultLimits)
		if err != nil {
			return nil, nil, err
		}
		sc.Seed = seed
		h, err := harness.RunWith(ctx, b, sc, p, c)
		if err != nil {
			return nil, nil, err
		}
		if seen != nil {
			seen(h)
		}
		if vs := invariants.CheckWith(h, extra...); len(vs) > 0 {
			return h, vs, nil
		}
	}
	return nil, nil, nil
}

// Describe renders violations and the numbered events of their history as plain text.
func Describe(h *history.History, vs []invariants.Violation) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "  %s: %s\n", v.Invariant, v.Detail)
	}
	for _, f := range h.Scenario.Faults {
		fmt.Fprintf(&b, "  fault: %s\n", f)
	}
	for i, e := range h.Events {
		fmt.Fprintf(&b, "  %3d  t=%-5d %s\n", i+1, e.Time, e)
	}
	return b.String()
}
