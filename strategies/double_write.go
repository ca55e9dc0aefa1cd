package strategies

import (
	"context"
	"fmt"
)

// DoubleWrite commits the business transaction, then publishes (seed 001's double write). A death
// or an unanswered COMMIT between the two loses the event; a lost confirm duplicates it.
type DoubleWrite struct{}

// Name implements Producer.
func (DoubleWrite) Name() string { return "double-write" }

// Doc implements Producer.
func (DoubleWrite) Doc() string { return "commit the business row, then publish with confirms" }

// Points implements Producer.
func (DoubleWrite) Points() []string {
	return []string{PointProducerAfterCommit, PointProducerAfterPublish}
}

// Produce implements Producer.
func (DoubleWrite) Produce(ctx context.Context, env ProducerEnv, m Message) error {
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return fmt.Errorf("double-write: begin: %w", err)
	}
	if err := tx.InsertBusiness(ctx, m); err != nil {
		_ = tx.Rollback(ctx)
		return fmt.Errorf("double-write: insert %s: %w", m.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		// The outcome is unknown; a service that reports the failure does not publish.
		return fmt.Errorf("double-write: commit %s: %w", m.ID, err)
	}
	env.Faults.Point(ctx, PointProducerAfterCommit)
	if err := publishConfirmed(ctx, env.Publisher, env.Clock, m); err != nil {
		return fmt.Errorf("double-write: %w", err)
	}
	env.Faults.Point(ctx, PointProducerAfterPublish)
	return nil
}
