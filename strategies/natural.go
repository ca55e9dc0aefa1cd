package strategies

import (
	"context"
	"fmt"
)

// Natural makes the effect itself idempotent: an upsert keyed by the business id, or a set-state
// write (seeds 002-004). Repeats change nothing; it does not order competing writes, so "set the
// price" can still be overtaken by an older price.
type Natural struct{}

// Name implements Consumer.
func (Natural) Name() string { return "natural" }

// Doc implements Consumer.
func (Natural) Doc() string { return "idempotent effect: upsert keyed by the business id, then ack" }

// Points implements Consumer.
func (Natural) Points() []string {
	return []string{PointConsumerAfterReceive, PointConsumerBeforeCommit, PointConsumerAfterEffect}
}

// Handle implements Consumer.
func (Natural) Handle(ctx context.Context, env ConsumerEnv, d Delivery) error {
	env.Faults.Point(ctx, PointConsumerAfterReceive)
	tx, err := begin(ctx, env, d, "natural")
	if err != nil {
		return err
	}
	if err := tx.ApplyIdempotent(ctx, d.Msg); err != nil {
		return abort(ctx, env, tx, d, fmt.Errorf("natural: apply %s: %w", d.Msg.ID, err))
	}
	return commitAndAck(ctx, env, tx, d, "natural")
}
