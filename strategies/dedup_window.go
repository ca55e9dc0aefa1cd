package strategies

import (
	"context"
	"errors"
	"fmt"
)

// DedupWindow is seed 004's garbage-collected message store: the inbox, but a record lives only
// Window. In the effect's transaction it forgets the consumer's records seen more than Window ago,
// records (consumer, message id, seen now) under a unique key, applies the effect, commits and
// acknowledges. A copy that arrives while the first's record is there fails on the key, as in
// the inbox, and is only acknowledged; a copy that arrives later finds the record forgotten and
// is applied again. MassTransit's inbox keeps its records 30 minutes by default, NServiceBus's
// outbox 7 days: the window is a bet on how late a copy can come.
type DedupWindow struct{}

// Name implements Consumer.
func (DedupWindow) Name() string { return "dedup-window" }

// Doc implements Consumer.
func (DedupWindow) Doc() string {
	return "forget ids seen more than the window ago, record (message id, consumer, seen at) under a unique key in the effect's transaction"
}

// Points implements Consumer.
func (DedupWindow) Points() []string {
	return []string{PointConsumerAfterReceive, PointConsumerBeforeCommit, PointConsumerAfterEffect}
}

// Handle implements Consumer.
func (DedupWindow) Handle(ctx context.Context, env ConsumerEnv, d Delivery) error {
	env.Faults.Point(ctx, PointConsumerAfterReceive)
	tx, err := begin(ctx, env, d, "dedup-window")
	if err != nil {
		return err
	}
	now := env.Clock.Now()
	if _, err := tx.WindowForget(ctx, env.Group, now.Add(-Window)); err != nil {
		return abort(ctx, env, tx, d, fmt.Errorf("dedup-window: forget: %w", err))
	}
	if err := tx.WindowInsert(ctx, env.Group, d.Msg.ID, now); err != nil {
		if errors.Is(err, ErrDuplicateKey) {
			// Seen within the window, or a concurrent copy committed first.
			return rollbackAck(ctx, env, tx, d)
		}
		return abort(ctx, env, tx, d, fmt.Errorf("dedup-window: insert %s: %w", d.Msg.ID, err))
	}
	if err := tx.Apply(ctx, d.Msg); err != nil {
		return abort(ctx, env, tx, d, fmt.Errorf("dedup-window: apply %s: %w", d.Msg.ID, err))
	}
	return commitAndAck(ctx, env, tx, d, "dedup-window")
}
