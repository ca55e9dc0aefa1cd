package strategies

import (
	"context"
	"fmt"
)

// OutboxOffset is the outbox with an offset relay: the event row is written in the business
// transaction, and the relay remembers the last outbox id it published (a durable cursor) and
// reads the rows with id > last, marking nothing. Ids are taken at insert, like a sequence, so
// two producers whose transactions commit out of id order leave a smaller id committing after
// the relay read past it: that row is never read, its event is lost (Watermill issue 311,
// Eventuous issue 222). A relay that dies or misses a confirm before its cursor commits
// publishes the batch again, as the outbox's relay does.
type OutboxOffset struct{}

// Name implements Producer.
func (OutboxOffset) Name() string { return "outbox-offset" }

// Doc implements Producer.
func (OutboxOffset) Doc() string {
	return "business row and outbox row in one transaction; a relay reads id > its durable cursor, publishes, advances the cursor"
}

// Points implements Producer.
func (OutboxOffset) Points() []string {
	return []string{PointProducerBeforeCommit, PointProducerAfterCommit}
}

// RelayPoints implements Relay.
func (OutboxOffset) RelayPoints() []string {
	return []string{PointRelayAfterRead, PointRelayAfterPublish, PointRelayAfterCommit}
}

// Produce implements Producer.
func (o OutboxOffset) Produce(ctx context.Context, env ProducerEnv, m Message) error {
	return writeWithOutbox(ctx, env, m, o.Name())
}

// RelayPass implements Relay: in one transaction, read the cursor and the rows after it, publish
// them (confirms pipelined), and write the last id read as the cursor. Nothing is locked but the
// cursor's row, which the write takes: a second relay would wait there, then publish its batch
// again.
func (o OutboxOffset) RelayPass(ctx context.Context, env RelayEnv) (int, error) {
	return offsetPass(ctx, env, o.Name(), func(tx Tx) ([]OutboxRow, error) {
		cur, err := tx.RelayCursor(ctx, o.Name())
		if err != nil {
			return nil, fmt.Errorf("cursor: %w", err)
		}
		return tx.ReadOutboxAfter(ctx, cur, env.Batch)
	}, func(tx Tx, last OutboxRow) error {
		return tx.SetRelayCursor(ctx, o.Name(), last.ID)
	})
}

// offsetPass is one pass of a relay that reads by position and marks nothing (outbox-offset,
// outbox-fenced, event-sourcing's subscriber): read after the stored position, publish, store the
// last row's position and commit, all in one transaction. A crash or a failed publish before the
// commit leaves the position where it was, so the batch is published again.
func offsetPass(ctx context.Context, env RelayEnv, name string, read func(Tx) ([]OutboxRow, error), store func(Tx, OutboxRow) error) (int, error) {
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s relay: begin: %w", name, err)
	}
	rows, err := read(tx)
	if err != nil || len(rows) == 0 {
		_ = tx.Rollback(ctx)
		if err != nil {
			return 0, fmt.Errorf("%s relay: read: %w", name, err)
		}
		return 0, nil
	}
	env.Faults.Point(ctx, PointRelayAfterRead)
	if err := publishBatch(ctx, env.Publisher, rows); err != nil {
		_ = tx.Rollback(ctx) // the position stays: a later pass publishes the batch again
		return 0, fmt.Errorf("%s relay: publish: %w", name, err)
	}
	env.Faults.Point(ctx, PointRelayAfterPublish)
	if err := store(tx, rows[len(rows)-1]); err != nil {
		_ = tx.Rollback(ctx)
		return 0, fmt.Errorf("%s relay: store position: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("%s relay: commit: %w", name, err)
	}
	env.Faults.Point(ctx, PointRelayAfterCommit)
	return len(rows), nil
}
