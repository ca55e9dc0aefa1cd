package strategies

import (
	"context"
	"errors"
	"fmt"
)

// IdempotencyKey is the inbox plus an idempotency key on the effect itself: the effect carries
// the event id, so a repeat that slips past the inbox (the consumer died after the effect and
// before its commit) is dropped where the effect lands. For an effect outside the database (the
// emails workload) that is the only thing that stops a second email: the gateway keeps the key.
type IdempotencyKey struct{}

// Name implements Consumer.
func (IdempotencyKey) Name() string { return "idempotency-key" }

// Doc implements Consumer.
func (IdempotencyKey) Doc() string {
	return "inbox in the effect's transaction, and the effect keyed by the event id (the gateway's idempotency key)"
}

// Points implements Consumer.
func (IdempotencyKey) Points() []string {
	return []string{PointConsumerAfterReceive, PointConsumerBeforeCommit, PointConsumerAfterEffect}
}

// Handle implements Consumer.
func (IdempotencyKey) Handle(ctx context.Context, env ConsumerEnv, d Delivery) error {
	env.Faults.Point(ctx, PointConsumerAfterReceive)
	tx, err := begin(ctx, env, d, "idempotency-key")
	if err != nil {
		return err
	}
	if err := tx.InboxInsert(ctx, env.Group, d.Msg.ID); err != nil {
		if errors.Is(err, ErrDuplicateKey) {
			return rollbackAck(ctx, env, tx, d)
		}
		return abort(ctx, env, tx, d, fmt.Errorf("idempotency-key: inbox %s: %w", d.Msg.ID, err))
	}
	if err := tx.ApplyIdempotent(ctx, d.Msg); err != nil {
		return abort(ctx, env, tx, d, fmt.Errorf("idempotency-key: apply %s: %w", d.Msg.ID, err))
	}
	return commitAndAck(ctx, env, tx, d, "idempotency-key")
}
