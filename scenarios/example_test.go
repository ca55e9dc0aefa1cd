package scenarios_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"github.com/deliveryharness/harness/strategies"
)

// checkThenApply is a team's own consumer, written against the ports: it looks the message up in
// the inbox and, if it is new, applies the effect and records it, all in one transaction but
// without relying on the unique key to stop a concurrent copy.
type checkThenApply struct{}

func (checkThenApply) Name() string     { return "check-then-apply" }
func (checkThenApply) Doc() string      { return "inbox lookup, then apply and record" }
func (checkThenApply) Points() []string { return []string{strategies.PointConsumerAfterEffect} }

func (checkThenApply) Handle(ctx context.Context, env strategies.ConsumerEnv, d strategies.Delivery) error {
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	if seen, err := tx.Processed(ctx, env.Group, d.Msg.ID); err != nil || seen {
		_ = tx.Rollback(ctx)
		return env.Sub.Ack(ctx, d.Tag)
	}
	if err := tx.Apply(ctx, d.Msg); err != nil {
		_ = tx.Rollback(ctx)
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	if err := tx.RecordProcessed(ctx, env.Group, d.Msg.ID); err != nil {
		_ = tx.Rollback(ctx)
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	if err := tx.Commit(ctx); err != nil {
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	env.Faults.Point(ctx, strategies.PointConsumerAfterEffect)
	return env.Sub.Ack(ctx, d.Tag)
}

// Run a team's own consumer through seeded scenarios on the simulator and count the runs that
// break each invariant. One consumer at a time it holds; with competing consumers it charges twice.
func Example_ownStrategy() {
	b := harness.NewSim()
	mine := checkThenApply{}
	for _, f := range []string{"crash-consumer", "concurrent-consumers"} {
		broken := map[invariants.Name]int{}
		for seed := uint64(1); seed <= 100; seed++ {
			sc, err := scenarios.GenerateFor(scenarios.NewSeedSource(seed), strategies.Outbox{}, mine, "orders", f, scenarios.DefaultLimits)
			if err != nil {
				panic(err)
			}
			sc.Seed = seed
			h, err := harness.RunWith(context.Background(), b, sc, strategies.Outbox{}, mine)
			if err != nil {
				panic(err)
			}
			for _, name := range invariants.Broken(invariants.Check(h)) {
				broken[name]++
			}
		}
		fmt.Printf("%s: %d runs broke no-duplicate-effect\n", f, broken[invariants.NoDuplicateEffect])
	}
	// Output:
	// crash-consumer: 0 runs broke no-duplicate-effect
	// concurrent-consumers: 34 runs broke no-duplicate-effect
}

// TestProveOutboxInbox proves the catalogue's exactly-once pairing the way a team proves its own.
func TestProveOutboxInbox(t *testing.T) {
	scenariotest.Prove(t, strategies.Outbox{}, strategies.Inbox{}, "credits")
}
