package strategies

import (
	"context"
	"errors"
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

// RelayPass implements Relay: claim, publish, mark, each batch in its own transaction. The
// claimed rows stay locked until their mark commits, so competing relays skip them.
//
// While the broker confirms one batch, the pass claims and publishes the next (a claim that came
// back full says more rows are waiting): the confirm wait overlaps the next claim, and the
// broker always has a batch in flight. A row is still marked only after its own confirm, and
// only after every batch published before it was marked: when a batch fails before its COMMIT
// (a refused publish, a missing confirm, a failed mark), the batch behind it is rolled back too,
// however its confirms went, so that a later pass publishes both again, in claim order. A COMMIT
// without an answer may have marked its rows; the batch behind it is then finished on its own.
// The pass goes on while claims come back full, and returns what it marked.
//
// The fault points keep their meaning for each batch: relay.after-claim, its rows locked and
// none of them published; relay.after-publish, every row of it confirmed and none marked;
// relay.after-commit, it is marked. A batch published earlier may be in flight at any of them.
func (Outbox) RelayPass(ctx context.Context, env RelayEnv) (int, error) {
	cur, err := claimBatch(ctx, env)
	if cur == nil {
		return 0, err
	}
	done := 0
	for {
		var next *relayBatch
		var claimErr error
		if cur.full && cur.failed == nil {
			next, claimErr = claimBatch(ctx, env)
		}
		err := cur.finish(ctx, env)
		var unknown commitUnknown
		switch {
		case err == nil:
			done += len(cur.rows)
		case errors.As(err, &unknown):
			// The COMMIT was sent; it may well have marked the rows. The batch behind it is
			// finished on its own account, and the pass ends.
			if next != nil && next.finish(ctx, env) == nil {
				done += len(next.rows)
			}
			return done, err
		default:
			next.abandon(ctx)
			return done, err
		}
		if next == nil {
			return done, claimErr
		}
		cur = next
	}
}

// commitUnknown is a batch's COMMIT that failed: the mark may have committed.
type commitUnknown struct{ err error }

func (c commitUnknown) Error() string { return "relay: commit: " + c.err.Error() }
func (c commitUnknown) Unwrap() error { return c.err }

// relayBatch is one batch of the outbox relay's pass: its transaction, the rows it claimed and
// their pending confirms.
type relayBatch struct {
	tx     Tx
	rows   []OutboxRow
	confs  []Confirmation
	failed error // the first publish that was refused
	full   bool  // the claim returned as many rows as it asked for
}

// claimBatch begins a transaction, claims up to env.Batch rows and publishes them without
// waiting for their confirms. It returns nil when there is nothing to publish (the transaction
// rolled back), with the claim's error if it failed.
func claimBatch(ctx context.Context, env RelayEnv) (*relayBatch, error) {
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("relay: begin: %w", err)
	}
	rows, err := tx.ClaimOutbox(ctx, env.Batch)
	if err != nil || len(rows) == 0 {
		_ = tx.Rollback(ctx)
		if err != nil {
			return nil, fmt.Errorf("relay: claim: %w", err)
		}
		return nil, nil
	}
	env.Faults.Point(ctx, PointRelayAfterClaim)
	b := &relayBatch{tx: tx, rows: rows, confs: make([]Confirmation, 0, len(rows)), full: len(rows) >= env.Batch}
	for _, r := range rows {
		c, err := env.Publisher.Publish(ctx, r.Msg)
		if err != nil {
			b.failed = err
			break
		}
		b.confs = append(b.confs, c)
	}
	return b, nil
}

// finish waits for the batch's confirms, then marks its rows and commits. Unmarked rows are
// published again by a later pass.
func (b *relayBatch) finish(ctx context.Context, env RelayEnv) error {
	failed := b.failed
	for _, c := range b.confs {
		if err := c.Wait(ctx); err != nil && failed == nil {
			failed = err
		}
	}
	if failed != nil {
		_ = b.tx.Rollback(ctx)
		return fmt.Errorf("relay: publish: %w", failed)
	}
	env.Faults.Point(ctx, PointRelayAfterPublish)
	ids := make([]int64, len(b.rows))
	for i, r := range b.rows {
		ids[i] = r.ID
	}
	if err := b.tx.MarkPublished(ctx, ids); err != nil {
		_ = b.tx.Rollback(ctx)
		return fmt.Errorf("relay: mark: %w", err)
	}
	if err := b.tx.Commit(ctx); err != nil {
		return commitUnknown{err}
	}
	env.Faults.Point(ctx, PointRelayAfterCommit)
	return nil
}

// abandon rolls back a batch behind one that failed: its rows stay unmarked, whatever their
// confirms say, so that they are published again after the failed batch's. A nil batch is
// nothing to abandon.
func (b *relayBatch) abandon(ctx context.Context) {
	if b != nil {
		_ = b.tx.Rollback(ctx)
	}
}
