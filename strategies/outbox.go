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
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return fmt.Errorf("outbox: begin: %w", err)
	}
	if err := tx.InsertBusiness(ctx, m); err != nil {
		_ = tx.Rollback(ctx)
		return fmt.Errorf("outbox: insert %s: %w", m.ID, err)
	}
	if err := tx.AppendOutbox(ctx, m); err != nil {
		_ = tx.Rollback(ctx)
		return fmt.Errorf("outbox: append %s: %w", m.ID, err)
	}
	env.Faults.Point(ctx, PointProducerBeforeCommit)
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("outbox: commit %s: %w", m.ID, err)
	}
	env.Faults.Point(ctx, PointProducerAfterCommit)
	return nil
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
	// Publish the whole batch, then wait for the confirms: confirms pipelined.
	confs := make([]Confirmation, 0, len(rows))
	var failed error
	for _, r := range rows {
		c, err := env.Publisher.Publish(ctx, r.Msg)
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
