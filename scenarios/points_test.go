package scenarios_test

import (
	"context"
	"errors"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/component"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/strategies"
)

// pointedConsumer is a team's consumer that applies, commits, passes the fault point passes
// names, then acks; it declares the points declares.
type pointedConsumer struct {
	declares []string
	passes   string
}

func (pointedConsumer) Name() string       { return "pointed" }
func (pointedConsumer) Doc() string        { return "apply, commit, a fault point, ack" }
func (c pointedConsumer) Points() []string { return c.declares }

func (c pointedConsumer) Handle(ctx context.Context, env strategies.ConsumerEnv, d strategies.Delivery) error {
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
	if c.passes != "" {
		env.Faults.Point(ctx, c.passes)
	}
	return env.Sub.Ack(ctx, d.Tag)
}

// TestFaultPointsAreChecked: a point a strategy passes but does not declare (a typo) is a
// harness error, not a run where the crash silently never fires; a strategy that declares no
// point runs its crash cells without the crash, and the generator does not panic.
func TestFaultPointsAreChecked(t *testing.T) {
	const point = strategies.PointConsumerAfterEffect
	for _, tc := range []struct {
		name       string
		consumer   pointedConsumer
		wantErr    error
		wantFaults bool
	}{
		{"declared", pointedConsumer{declares: []string{point}, passes: point}, nil, true},
		{"typo", pointedConsumer{declares: []string{point}, passes: "consumer.after-efect"}, component.ErrUndeclaredPoint, true},
		{"passed, none declared", pointedConsumer{passes: point}, component.ErrUndeclaredPoint, false},
		{"no points", pointedConsumer{}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := harness.NewSim()
			for seed := uint64(1); seed <= 20; seed++ {
				sc, err := scenarios.GenerateFor(scenarios.NewSeedSource(seed), strategies.Outbox{}, tc.consumer, "orders", "crash-consumer", scenarios.DefaultLimits)
				if err != nil {
					t.Fatalf("seed %d: generate: %v", seed, err)
				}
				if got := len(sc.Faults) > 0; got != tc.wantFaults {
					t.Fatalf("seed %d: %d faults drawn, want some: %v", seed, len(sc.Faults), tc.wantFaults)
				}
				sc.Seed = seed
				_, err = harness.RunWith(context.Background(), b, sc, strategies.Outbox{}, tc.consumer)
				if tc.wantErr == nil && err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("seed %d: err = %v, want %v", seed, err, tc.wantErr)
				}
			}
		})
	}
}
