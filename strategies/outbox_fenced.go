package strategies

import (
	"context"
	"fmt"
)

// OutboxFenced is the offset relay with the fix watermill-sql v4 ships: each outbox row records
// the id of the transaction that inserted it (pg_current_xact_id()), and the relay reads in
// (transaction id, id) order after its durable position, only rows whose transaction id is below
// the oldest transaction still in progress (pg_snapshot_xmin(pg_current_snapshot())). A row whose
// transaction commits late was given its transaction id at that transaction's first write, so
// the fence keeps every row after it back until it ends: nothing committed out of order is
// skipped; such rows wait instead. A relay that dies or misses a confirm before its position
// commits publishes the batch again, as the outbox's relay does.
type OutboxFenced struct{}

// Name implements Producer.
func (OutboxFenced) Name() string { return "outbox-fenced" }

// Doc implements Producer.
func (OutboxFenced) Doc() string {
	return "business row and outbox row (with its transaction id) in one transaction; a relay reads after its (transaction id, id) position below the oldest open transaction"
}

// Points implements Producer.
func (OutboxFenced) Points() []string {
	return []string{PointProducerBeforeCommit, PointProducerAfterCommit}
}

// RelayPoints implements Relay.
func (OutboxFenced) RelayPoints() []string {
	return []string{PointRelayAfterRead, PointRelayAfterPublish, PointRelayAfterCommit}
}

// Produce implements Producer.
func (o OutboxFenced) Produce(ctx context.Context, env ProducerEnv, m Message) error {
	return writeWithOutbox(ctx, env, m, o.Name())
}

// RelayPass implements Relay: in one transaction, read the position and the fenced rows after
// it, publish them, and write the last row's position.
func (o OutboxFenced) RelayPass(ctx context.Context, env RelayEnv) (int, error) {
	return fencedPass(ctx, env, o.Name())
}

// fencedPass is one pass of a relay that reads after its (transaction id, id) position below the
// transaction-id fence (outbox-fenced, event-sourcing's subscriber).
func fencedPass(ctx context.Context, env RelayEnv, name string) (int, error) {
	return offsetPass(ctx, env, name, func(tx Tx) ([]OutboxRow, error) {
		pos, err := tx.RelayPosition(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("position: %w", err)
		}
		return tx.ReadOutboxFenced(ctx, pos, env.Batch)
	}, func(tx Tx, last OutboxRow) error {
		return tx.SetRelayPosition(ctx, name, PositionOf(last))
	})
}
