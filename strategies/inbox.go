package strategies

import (
	"context"
	"errors"
	"fmt"
)

// Inbox records (consumer, message id) under a unique key in the same transaction as the effect
// (seed 003). The key decides: a duplicate, even a concurrent one, fails on it and is only
// acknowledged. There is no check before the insert; InboxCheckFirst is seed 003's written form,
// which looks first.
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
	return inboxInsertApply(ctx, env, tx, d, "inbox")
}

// inboxInsertApply is the inbox's transaction after BEGIN: the key, then the effect, then the
// commit and the ack. A duplicate key (a copy already committed, or committed concurrently) is
// rolled back and acknowledged.
func inboxInsertApply(ctx context.Context, env ConsumerEnv, tx Tx, d Delivery, name string) error {
	if err := tx.InboxInsert(ctx, env.Group, d.Msg.ID); err != nil {
		if errors.Is(err, ErrDuplicateKey) {
			return rollbackAck(ctx, env, tx, d)
		}
		return abort(ctx, env, tx, d, fmt.Errorf("%s: insert %s: %w", name, d.Msg.ID, err))
	}
	if err := tx.Apply(ctx, d.Msg); err != nil {
		return abort(ctx, env, tx, d, fmt.Errorf("%s: apply %s: %w", name, d.Msg.ID, err))
	}
	return commitAndAck(ctx, env, tx, d, name)
}

// InboxCheckFirst is seed 003 as written: it looks the message up in the inbox (a SELECT)
// before the insert under the unique key, which decides all the same. It is not in the
// catalogue (its outcomes are the inbox's); the real-server benchmarks measure what the extra
// statement costs.
type InboxCheckFirst struct{}

// Name implements Consumer.
func (InboxCheckFirst) Name() string { return "inbox-check-first" }

// Doc implements Consumer.
func (InboxCheckFirst) Doc() string {
	return "look (message id, consumer) up in the inbox, then insert it under a unique key in the effect's transaction"
}

// Points implements Consumer.
func (InboxCheckFirst) Points() []string { return Inbox{}.Points() }

// Handle implements Consumer.
func (InboxCheckFirst) Handle(ctx context.Context, env ConsumerEnv, d Delivery) error {
	const name = "inbox-check-first"
	env.Faults.Point(ctx, PointConsumerAfterReceive)
	tx, err := begin(ctx, env, d, name)
	if err != nil {
		return err
	}
	seen, err := tx.InboxContains(ctx, env.Group, d.Msg.ID)
	if err != nil {
		return abort(ctx, env, tx, d, fmt.Errorf("%s: check %s: %w", name, d.Msg.ID, err))
	}
	if seen {
		return rollbackAck(ctx, env, tx, d)
	}
	return inboxInsertApply(ctx, env, tx, d, name)
}
