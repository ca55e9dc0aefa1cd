package strategies

import (
	"context"
	"fmt"
)

// EventSourcing is seed 001's full event sourcing: the events table is the state. A command
// appends its event to the event store (the outbox table: the position is its id) and nothing
// else, so there is no business row to disagree with the event; a subscriber publishes the
// events by position and stores its position durably.
//
// The subscriber's read by position is fenced: positions are taken at insert, so a reader that
// trusts the position alone skips an event whose transaction commits after a later position
// was read (outbox-offset shows it). An event store must not let a subscriber skip an event of
// its own state; a store on PostgreSQL fences the read as watermill-sql v4 does (the rows of
// transactions below the oldest one still in progress, in transaction-id order), so under
// concurrent-producers the later event waits for the earlier transaction instead of overtaking
// it. A subscriber that dies or misses a confirm before its position commits publishes again.
type EventSourcing struct{}

// Name implements Producer.
func (EventSourcing) Name() string { return "event-sourcing" }

// Doc implements Producer.
func (EventSourcing) Doc() string {
	return "the event appended to the event store is the state; a subscriber publishes by stored position, below the transaction-id fence"
}

// EventSourced implements EventSourcer.
func (EventSourcing) EventSourced() {}

// Points implements Producer.
func (EventSourcing) Points() []string {
	return []string{PointProducerBeforeCommit, PointProducerAfterCommit}
}

// RelayPoints implements Relay.
func (EventSourcing) RelayPoints() []string {
	return []string{PointRelayAfterRead, PointRelayAfterPublish, PointRelayAfterCommit}
}

// Produce implements Producer: the event appended in its own transaction.
func (e EventSourcing) Produce(ctx context.Context, env ProducerEnv, m Message) error {
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", e.Name(), err)
	}
	if err := tx.AppendOutbox(ctx, m); err != nil {
		_ = tx.Rollback(ctx)
		return fmt.Errorf("%s: append %s: %w", e.Name(), m.ID, err)
	}
	env.Faults.Point(ctx, PointProducerBeforeCommit)
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s: commit %s: %w", e.Name(), m.ID, err)
	}
	env.Faults.Point(ctx, PointProducerAfterCommit)
	return nil
}

// RelayPass implements Relay: the subscriber's pass, a fenced read after its stored position.
func (e EventSourcing) RelayPass(ctx context.Context, env RelayEnv) (int, error) {
	return fencedPass(ctx, env, e.Name())
}
