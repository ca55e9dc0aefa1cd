package scenarios_test

import (
	"context"
	"reflect"
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

// TestCellCoverage: a cell lists, per role, the declared fault points its runs reached and those
// none reached; a point the strategy never passes is unreached, and a strategy that passes every
// point it declares has none unreached.
func TestCellCoverage(t *testing.T) {
	const (
		effect = strategies.PointConsumerAfterEffect
		check  = strategies.PointConsumerAfterCheck
	)
	outbox := strategies.Outbox{}
	relay := result.RoleCoverage{Role: history.RoleRelay, Declared: outbox.RelayPoints(), Reached: outbox.RelayPoints(), Unreached: []string{}}
	producer := result.RoleCoverage{Role: history.RoleProducer, Declared: outbox.Points(), Reached: outbox.Points(), Unreached: []string{}}
	for _, tc := range []struct {
		name          string
		consumer      passingConsumer
		fault         string
		wantConsumer  result.RoleCoverage
		wantUnreached result.Coverage
	}{
		{"all passed", passingConsumer{name: "coverage-all", declares: []string{effect}, passes: []string{effect}}, "none",
			result.RoleCoverage{Role: "consumer", Declared: []string{effect}, Reached: []string{effect}, Unreached: []string{}}, nil},
		{"one never passed", passingConsumer{name: "coverage-partial", declares: []string{check, effect}, passes: []string{effect}}, "none",
			result.RoleCoverage{Role: "consumer", Declared: []string{check, effect}, Reached: []string{effect}, Unreached: []string{check}},
			result.Coverage{{Role: "consumer", Unreached: []string{check}}}},
		{"never passed, with crashes", passingConsumer{name: "coverage-partial", declares: []string{check, effect}, passes: []string{effect}}, "crash-consumer",
			result.RoleCoverage{Role: "consumer", Declared: []string{check, effect}, Reached: []string{effect}, Unreached: []string{check}},
			result.Coverage{{Role: "consumer", Unreached: []string{check}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			registerOnce(t, tc.consumer)
			c := result.Cell{Producer: outbox.Name(), Consumer: tc.consumer.name, Workload: "orders", Fault: tc.fault}
			opts := scenarios.DefaultOptions()
			opts.Seeds, opts.Search, opts.NoShrink = 10, 0, true
			r, err := scenarios.RunCell(context.Background(), harness.NewSim(), c, opts)
			if err != nil {
				t.Fatal(err)
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
