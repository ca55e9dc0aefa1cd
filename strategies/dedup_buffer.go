package strategies

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// BufferPeriod is how long the dedup-buffer producer holds an event before its relay publishes
// it, and how long the buffer remembers the event's id after that: a repeat of the same message
// put within the period is dropped. It is well under Window, so that a copy the late-redelivery
// fault holds back past Window is past the period too. The simulator counts it in logical
// milliseconds, real servers in wall-clock time.
const BufferPeriod = 100 * time.Millisecond

// BufferRetry is the dedup-buffer producer's retry policy for a command whose transaction failed
// or whose COMMIT went unanswered: how many attempts and the first backoff, doubled after each.
// A retry is safe because the buffer drops the repeat of a put that did commit.
var BufferRetry = struct {
	Attempts int
	Backoff  time.Duration
}{Attempts: 4, Backoff: 10 * time.Millisecond}

// DedupBuffer is sender-side buffering (seed 004): instead of sending the event at once, the
// producer puts it into a send buffer, in its business transaction (so nothing is lost or
// invented, as with the outbox). The buffer keeps one entry per message id: a repeat put within
// BufferPeriod, or while the first is still unpublished, is dropped. A relay publishes, with
// confirms, only entries older than the period, then marks them; every event is delayed by at
// least the period. The producer retries a command whose outcome it does not know, and the
// buffer absorbs that retry. It does not absorb what happens after the buffer: a relay that dies
// (or misses a confirm) between publishing and marking publishes the entry again, and a broker
// redelivers to consumers as always.
type DedupBuffer struct{}

// Name implements Producer.
func (DedupBuffer) Name() string { return "dedup-buffer" }

// Doc implements Producer.
func (DedupBuffer) Doc() string {
	return fmt.Sprintf("business row and send-buffer entry (keyed by message id) in one transaction, retried when the outcome is unknown; a relay publishes entries older than %v", BufferPeriod)
}

// Points implements Producer.
func (DedupBuffer) Points() []string {
	return []string{PointProducerBeforeCommit, PointProducerAfterCommit}
}

// RelayPoints implements Relay.
func (DedupBuffer) RelayPoints() []string {
	return []string{PointRelayAfterClaim, PointRelayAfterPublish, PointRelayAfterCommit}
}

// Produce implements Producer: put the event into the buffer with the business row; on any
// failure, try again after a backoff, up to BufferRetry.Attempts in all.
func (DedupBuffer) Produce(ctx context.Context, env ProducerEnv, m Message) error {
	backoff := BufferRetry.Backoff
	var last error
	for attempt := 1; attempt <= BufferRetry.Attempts; attempt++ {
		if attempt > 1 {
			env.Clock.Sleep(ctx, backoff)
			backoff *= 2
		}
		err := bufferOnce(ctx, env, m)
		if err == nil {
			return nil
		}
		last = err
	}
	return fmt.Errorf("dedup-buffer: %s: gave up after %d attempts: %w", m.ID, BufferRetry.Attempts, last)
}

// bufferOnce is one attempt: the buffer entry first, so that a repeat within the period stops
// there, then the business row, then COMMIT.
func bufferOnce(ctx context.Context, env ProducerEnv, m Message) error {
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	fresh, err := tx.BufferPut(ctx, m, env.Clock.Now(), BufferPeriod)
	if err != nil {
		_ = tx.Rollback(ctx)
		return fmt.Errorf("buffer %s: %w", m.ID, err)
	}
	if !fresh {
		// An earlier attempt's transaction committed: the buffer holds the event.
		_ = tx.Rollback(ctx)
		return nil
	}
	if err := tx.InsertBusiness(ctx, m); err != nil {
		_ = tx.Rollback(ctx)
		if errors.Is(err, ErrDuplicateKey) {
			// An earlier attempt committed and its entry has been published and forgotten since:
			// the business row's own key stops the repeat.
			return nil
		}
		return fmt.Errorf("insert %s: %w", m.ID, err)
	}
	env.Faults.Point(ctx, PointProducerBeforeCommit)
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit %s: %w", m.ID, err)
	}
	env.Faults.Point(ctx, PointProducerAfterCommit)
	return nil
}

// RelayPass implements Relay: claim the entries older than the period, publish them with
// confirms, mark them published, in one transaction, as the outbox relay does. When none is due
// yet, it sleeps until the oldest is, then tries once more, rather than polling the database
// through the period. An entry marked published is forgotten once it is older than the period.
func (DedupBuffer) RelayPass(ctx context.Context, env RelayEnv) (int, error) {
	n, wait, err := relayBuffered(ctx, env)
	if err != nil || n > 0 || wait <= 0 {
		return n, err
	}
	env.Clock.Sleep(ctx, wait)
	n, _, err = relayBuffered(ctx, env)
	return n, err
}

// relayBuffered is one claim, publish, mark cycle; with nothing due it reports how long until
// the oldest entry is (0: there is none).
func relayBuffered(ctx context.Context, env RelayEnv) (int, time.Duration, error) {
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("buffer relay: begin: %w", err)
	}
	now := env.Clock.Now()
	rows, err := tx.ClaimBuffered(ctx, now.Add(-BufferPeriod), env.Batch)
	if err != nil {
		_ = tx.Rollback(ctx)
		return 0, 0, fmt.Errorf("buffer relay: claim: %w", err)
	}
	if len(rows) == 0 {
		next, ok, err := tx.NextBuffered(ctx)
		_ = tx.Rollback(ctx)
		if err != nil || !ok {
			return 0, 0, err
		}
		return 0, min(max(next.Add(BufferPeriod).Sub(now), time.Millisecond), BufferPeriod), nil
	}
	env.Faults.Point(ctx, PointRelayAfterClaim)
	if err := publishBatch(ctx, env.Publisher, rows); err != nil {
		_ = tx.Rollback(ctx)
		return 0, 0, fmt.Errorf("buffer relay: publish: %w", err)
	}
	env.Faults.Point(ctx, PointRelayAfterPublish)
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	if err := tx.MarkPublished(ctx, ids); err != nil {
		_ = tx.Rollback(ctx)
		return 0, 0, fmt.Errorf("buffer relay: mark: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, fmt.Errorf("buffer relay: commit: %w", err)
	}
	env.Faults.Point(ctx, PointRelayAfterCommit)
	return len(rows), 0, nil
}
