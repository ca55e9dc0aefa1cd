package strategies

import (
	"context"
	"fmt"
)

// Outbox writes the event row in the business transaction; a relay claims unpublished rows with
// FOR UPDATE SKIP LOCKED, publishes them with confirms and marks them published (seeds 000-002).
// Nothing is lost or invented; a relay that dies or misses a confirm between publishing and
// marking publishes again, so consumers see duplicates (seed 003).
type Outbox struct{}

// Name implements Producer.
func (Outbox) Name() string { return "outbox" }

// Doc implements Producer.
func (Outbox) Doc() string {
	return "business row and outbox row in one transaction; a relay claims (SKIP LOCKED), publishes, marks"
}

// Points implements Producer.
func (Outbox) Points() []string {
	return []string{PointProducerBeforeCommit, PointProducerAfterCommit}
}

// RelayPoints implements Relay.
func (Outbox) RelayPoints() []string {
	return []string{PointRelayAfterClaim, PointRelayAfterPublish, PointRelayAfterCommit}
}

// Produce implements Producer.
func (Outbox) Produce(ctx context.Context, env ProducerEnv, m Message) error {
	return writeWithOutbox(ctx, env, m, "outbox")
}

// writeWithOutbox is the producer side of the outbox and of log tailing: the business row and
// the outbox row in one transaction.
func writeWithOutbox(ctx context.Context, env ProducerEnv, m Message, name string) error {
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", name, err)
	}
	if err := tx.InsertBusiness(ctx, m); err != nil {
		_ = tx.Rollback(ctx)
		return fmt.Errorf("%s: insert %s: %w", name, m.ID, err)
	}
	if err := tx.AppendOutbox(ctx, m); err != nil {
		_ = tx.Rollback(ctx)
		return fmt.Errorf("%s: append %s: %w", name, m.ID, err)
	}
	env.Faults.Point(ctx, PointProducerBeforeCommit)
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s: commit %s: %w", name, m.ID, err)
	}
	env.Faults.Point(ctx, PointProducerAfterCommit)
	return nil
}

// publishBatch publishes every message, then waits for every confirm (confirms pipelined); the
// first failure is returned.
func publishBatch(ctx context.Context, pub Publisher, rows []OutboxRow) error {
	confs := make([]Confirmation, 0, len(rows))
	var failed error
	for _, r := range rows {
		c, err := pub.Publish(ctx, r.Msg)
		if err != nil {
			failed = err
			break
		}
		confs = append(confs, c)
	}
	for _, c := range confs {
		if err := c.Wait(ctx); err != nil && failed == nil {
			failed = err
		}
	}
	return failed
}

// RelayPass implements Relay: one claim, publish, mark cycle in one transaction. The claimed
// rows stay locked until the mark commits, so competing relays skip them.
func (Outbox) RelayPass(ctx context.Context, env RelayEnv) (int, error) {
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("relay: begin: %w", err)
	}
	rows, err := tx.ClaimOutbox(ctx, env.Batch)
	if err != nil || len(rows) == 0 {
		_ = tx.Rollback(ctx)
		if err != nil {
			return 0, fmt.Errorf("relay: claim: %w", err)
		}
		return 0, nil
	}
	env.Faults.Point(ctx, PointRelayAfterClaim)
	failed := publishBatch(ctx, env.Publisher, rows)
	if failed != nil {
		// Unmarked rows are published again by a later pass.
		_ = tx.Rollback(ctx)
		return 0, fmt.Errorf("relay: publish: %w", failed)
	}
	env.Faults.Point(ctx, PointRelayAfterPublish)
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	if err := tx.MarkPublished(ctx, ids); err != nil {
		_ = tx.Rollback(ctx)
		return 0, fmt.Errorf("relay: mark: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("relay: commit: %w", err)
	}
	env.Faults.Point(ctx, PointRelayAfterCommit)
	return len(rows), nil
}
