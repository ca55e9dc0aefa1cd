package strategies

import (
	"context"
	"fmt"
)

// Naive applies the effect, commits, then acks: at least once, not idempotent. Every redelivery
// and every producer-side duplicate is applied again.
type Naive struct{}

// Name implements Consumer.
func (Naive) Name() string { return "naive" }

// Doc implements Consumer.
func (Naive) Doc() string { return "apply the effect, commit, then ack" }

// Points implements Consumer.
func (Naive) Points() []string {
	return []string{PointConsumerAfterReceive, PointConsumerBeforeCommit, PointConsumerAfterEffect}
}

// Handle implements Consumer.
func (Naive) Handle(ctx context.Context, env ConsumerEnv, d Delivery) error {
	env.Faults.Point(ctx, PointConsumerAfterReceive)
	tx, err := begin(ctx, env, d, "naive")
	if err != nil {
		return err
	}
	if err := tx.Apply(ctx, d.Msg); err != nil {
		return abort(ctx, env, tx, d, fmt.Errorf("naive: apply %s: %w", d.Msg.ID, err))
	}
	return commitAndAck(ctx, env, tx, d, "naive")
}
