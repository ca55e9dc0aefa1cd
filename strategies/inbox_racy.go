package strategies

import (
	"context"
	"fmt"
)

// InboxRacy checks "processed?" and then applies and records in a separate step, with no unique
// key (seed 000's first snippet). It is right one delivery at a time and wrong when two copies
// are processed at once: both check before either records.
type InboxRacy struct{}

// Name implements Consumer.
func (InboxRacy) Name() string { return "inbox-racy" }

// Doc implements Consumer.
func (InboxRacy) Doc() string {
	return "check the processed log, then apply and record it; no unique key"
}

// Points implements Consumer.
func (InboxRacy) Points() []string {
	return []string{PointConsumerAfterReceive, PointConsumerAfterCheck, PointConsumerBeforeCommit, PointConsumerAfterEffect}
}

// Handle implements Consumer.
func (InboxRacy) Handle(ctx context.Context, env ConsumerEnv, d Delivery) error {
	env.Faults.Point(ctx, PointConsumerAfterReceive)
	check, err := begin(ctx, env, d, "inbox-racy")
	if err != nil {
		return err
	}
	seen, err := check.Processed(ctx, env.Group, d.Msg.ID)
	if err != nil {
		return abort(ctx, env, check, d, fmt.Errorf("inbox-racy: check %s: %w", d.Msg.ID, err))
	}
	_ = check.Rollback(ctx)
	if seen {
		return env.Sub.Ack(ctx, d.Tag)
	}
	env.Faults.Point(ctx, PointConsumerAfterCheck)
	tx, err := begin(ctx, env, d, "inbox-racy")
	if err != nil {
		return err
	}
	if err := tx.Apply(ctx, d.Msg); err != nil {
		return abort(ctx, env, tx, d, fmt.Errorf("inbox-racy: apply %s: %w", d.Msg.ID, err))
	}
	if err := tx.RecordProcessed(ctx, env.Group, d.Msg.ID); err != nil {
		return abort(ctx, env, tx, d, fmt.Errorf("inbox-racy: record %s: %w", d.Msg.ID, err))
	}
	return commitAndAck(ctx, env, tx, d, "inbox-racy")
}
