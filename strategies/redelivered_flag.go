package strategies

import (
	"context"
	"fmt"
)

// RedeliveredFlag de-duplicates only deliveries the broker flags redelivered (seed 002's advice:
// "if the redelivered flag is not set, it is guaranteed that the message has not been sent more
// than once"). It records every processed id, but checks only flagged deliveries. A producer-side
// duplicate is a new message to the broker, so it arrives unflagged and is applied again; and
// the check, with no unique key, cannot stop a flagged copy racing the first.
type RedeliveredFlag struct{}

// Name implements Consumer.
func (RedeliveredFlag) Name() string { return "redelivered-flag" }

// Doc implements Consumer.
func (RedeliveredFlag) Doc() string {
	return "check the processed log only when the delivery is flagged redelivered"
}

// Points implements Consumer.
func (RedeliveredFlag) Points() []string {
	return []string{PointConsumerAfterReceive, PointConsumerBeforeCommit, PointConsumerAfterEffect}
}

// Handle implements Consumer.
func (RedeliveredFlag) Handle(ctx context.Context, env ConsumerEnv, d Delivery) error {
	env.Faults.Point(ctx, PointConsumerAfterReceive)
	tx, err := begin(ctx, env, d, "redelivered-flag")
	if err != nil {
		return err
	}
	if d.Redelivered {
		seen, err := tx.Processed(ctx, env.Group, d.Msg.ID)
		if err != nil {
			return abort(ctx, env, tx, d, fmt.Errorf("redelivered-flag: check %s: %w", d.Msg.ID, err))
		}
		if seen {
			return rollbackAck(ctx, env, tx, d)
		}
	}
	if err := tx.Apply(ctx, d.Msg); err != nil {
		return abort(ctx, env, tx, d, fmt.Errorf("redelivered-flag: apply %s: %w", d.Msg.ID, err))
	}
	if err := tx.RecordProcessed(ctx, env.Group, d.Msg.ID); err != nil {
		return abort(ctx, env, tx, d, fmt.Errorf("redelivered-flag: record %s: %w", d.Msg.ID, err))
	}
	return commitAndAck(ctx, env, tx, d, "redelivered-flag")
}
