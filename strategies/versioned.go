package strategies

import (
	"context"
	"fmt"
)

// Versioned applies a set-state event only when its version is newer than the state's (seed
// 004's remark on ordering): the upsert's WHERE compares the event's per-key sequence with the
// stored one. Repeats and overtaken older events change nothing, so prices converge whatever the
// delivery order. On events that are not set-state (credits) an older event that arrives late is
// skipped as well, and its effect is lost.
type Versioned struct{}

// Name implements Consumer.
func (Versioned) Name() string { return "versioned" }

// Doc implements Consumer.
func (Versioned) Doc() string {
	return "apply only when the event's version is newer than the stored one, then ack"
}

// Points implements Consumer.
func (Versioned) Points() []string {
	return []string{PointConsumerAfterReceive, PointConsumerBeforeCommit, PointConsumerAfterEffect}
}

// Handle implements Consumer.
func (Versioned) Handle(ctx context.Context, env ConsumerEnv, d Delivery) error {
	env.Faults.Point(ctx, PointConsumerAfterReceive)
	tx, err := begin(ctx, env, d, "versioned")
	if err != nil {
		return err
	}
	if _, err := tx.ApplyVersioned(ctx, d.Msg); err != nil {
		return abort(ctx, env, tx, d, fmt.Errorf("versioned: apply %s: %w", d.Msg.ID, err))
	}
	return commitAndAck(ctx, env, tx, d, "versioned")
}
