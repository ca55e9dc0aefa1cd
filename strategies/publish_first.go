package strategies

import (
	"context"
	"fmt"
)

// PublishFirst publishes, then commits: a death or a failed commit after the publish leaves an
// event for a transaction that never committed.
type PublishFirst struct{}

// Name implements Producer.
func (PublishFirst) Name() string { return "publish-first" }

// Doc implements Producer.
func (PublishFirst) Doc() string { return "publish with confirms, then commit the business row" }

// Points implements Producer.
func (PublishFirst) Points() []string {
	return []string{PointProducerAfterPublish, PointProducerAfterCommit}
}

// Produce implements Producer.
func (PublishFirst) Produce(ctx context.Context, env ProducerEnv, m Message) error {
	if err := publishConfirmed(ctx, env.Publisher, env.Clock, m); err != nil {
		return fmt.Errorf("publish-first: %w", err)
	}
	env.Faults.Point(ctx, PointProducerAfterPublish)
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return fmt.Errorf("publish-first: begin: %w", err)
	}
	if err := tx.InsertBusiness(ctx, m); err != nil {
		_ = tx.Rollback(ctx)
		return fmt.Errorf("publish-first: insert %s: %w", m.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("publish-first: commit %s: %w", m.ID, err)
	}
	env.Faults.Point(ctx, PointProducerAfterCommit)
	return nil
}
