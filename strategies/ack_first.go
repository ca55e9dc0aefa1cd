package strategies

import (
	"context"
	"fmt"
)

// AckFirst acknowledges, then applies: at most once per delivery. A death or a failed commit
// after the ack loses the effect; and since a nil Ack does not prove the broker got it, a lost
// ack still brings the message back.
type AckFirst struct{}

// Name implements Consumer.
func (AckFirst) Name() string { return "ack-first" }

// Doc implements Consumer.
func (AckFirst) Doc() string { return "ack, then apply the effect and commit" }

// Points implements Consumer.
func (AckFirst) Points() []string {
	return []string{PointConsumerAfterReceive, PointConsumerAfterAck, PointConsumerBeforeCommit, PointConsumerAfterEffect}
}

// Handle implements Consumer.
func (AckFirst) Handle(ctx context.Context, env ConsumerEnv, d Delivery) error {
	env.Faults.Point(ctx, PointConsumerAfterReceive)
	if err := env.Sub.Ack(ctx, d.Tag); err != nil {
		// Not acknowledged: the broker delivers it again, so do not apply it now.
		return fmt.Errorf("ack-first: ack %s: %w", d.Msg.ID, err)
	}
	env.Faults.Point(ctx, PointConsumerAfterAck)
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return fmt.Errorf("ack-first: begin: %w", err)
	}
	if err := tx.Apply(ctx, d.Msg); err != nil {
		_ = tx.Rollback(ctx)
		return fmt.Errorf("ack-first: apply %s: %w", d.Msg.ID, err)
	}
	env.Faults.Point(ctx, PointConsumerBeforeCommit)
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("ack-first: commit %s: %w", d.Msg.ID, err)
	}
	env.Faults.Point(ctx, PointConsumerAfterEffect)
	return nil
}
