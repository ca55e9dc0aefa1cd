package strategies

import (
	"context"
	"errors"
	"fmt"
)

// Inbox records (consumer, message id) under a unique key in the same transaction as the effect
// (seed 003). A duplicate, even a concurrent one, fails on the key and is only acknowledged.
type Inbox struct{}

// Name implements Consumer.
func (Inbox) Name() string { return "inbox" }

// Doc implements Consumer.
func (Inbox) Doc() string {
	return "insert (message id, consumer) under a unique key in the effect's transaction"
}

// Points implements Consumer.
func (Inbox) Points() []string {
	return []string{PointConsumerAfterReceive, PointConsumerBeforeCommit, PointConsumerAfterEffect}
}

// Handle implements Consumer.
func (Inbox) Handle(ctx context.Context, env ConsumerEnv, d Delivery) error {
	env.Faults.Point(ctx, PointConsumerAfterReceive)
	tx, err := begin(ctx, env, d, "inbox")
	if err != nil {
		return err
	}
	seen, err := tx.InboxContains(ctx, env.Group, d.Msg.ID)
	if err != nil {
		return abort(ctx, env, tx, d, fmt.Errorf("inbox: check %s: %w", d.Msg.ID, err))
	}
	if seen {
		return rollbackAck(ctx, env, tx, d)
	}
	if err := tx.InboxInsert(ctx, env.Group, d.Msg.ID); err != nil {
		if errors.Is(err, ErrDuplicateKey) {
			// A concurrent copy committed first.
			return rollbackAck(ctx, env, tx, d)
		}
		return abort(ctx, env, tx, d, fmt.Errorf("inbox: insert %s: %w", d.Msg.ID, err))
	}
	if err := tx.Apply(ctx, d.Msg); err != nil {
		return abort(ctx, env, tx, d, fmt.Errorf("inbox: apply %s: %w", d.Msg.ID, err))
	}
	return commitAndAck(ctx, env, tx, d, "inbox")
}
