package strategies

import (
	"context"
	"fmt"
)

// LogTailing writes the event row in the business transaction, like the outbox, but nothing
// polls the table: a tailer decodes the outbox inserts from the transaction log through a
// logical replication slot, publishes them with confirms, then advances the slot (seed 001's
// "transaction log tailing"). Nothing is lost or invented; a tailer that dies or misses a confirm
// between publishing and advancing reads the same changes again and publishes them twice.
type LogTailing struct{}

// Name implements Producer.
func (LogTailing) Name() string { return "log-tailing" }

// Doc implements Producer.
func (LogTailing) Doc() string {
	return "business row and outbox row in one transaction; a tailer decodes the log, publishes, advances the slot"
}

// Points implements Producer.
func (LogTailing) Points() []string {
	return []string{PointProducerBeforeCommit, PointProducerAfterCommit}
}

// RelayPoints implements Relay.
func (LogTailing) RelayPoints() []string {
	return []string{PointRelayAfterRead, PointRelayAfterPublish, PointRelayAfterAdvance}
}

// TailsLog implements LogTailer.
func (LogTailing) TailsLog() {}

// Produce implements Producer.
func (LogTailing) Produce(ctx context.Context, env ProducerEnv, m Message) error {
	return writeWithOutbox(ctx, env, m, "log-tailing")
}

// RelayPass implements Relay: read from the slot, publish what was read, advance the slot past
// it. The slot only moves after every confirm came, so the log is the tailer's only cursor.
func (LogTailing) RelayPass(ctx context.Context, env RelayEnv) (int, error) {
	if env.Log == nil {
		return 0, fmt.Errorf("log-tailing: the backend gave no replication slot: %w", ErrConnection)
	}
	batch, err := env.Log.Read(ctx, env.Batch)
	if err != nil {
		return 0, fmt.Errorf("log-tailing: read: %w", err)
	}
	if batch.End == 0 {
		return 0, nil
	}
	env.Faults.Point(ctx, PointRelayAfterRead)
	if len(batch.Rows) > 0 {
		if err := publishBatch(ctx, env.Publisher, batch.Rows); err != nil {
			// The slot has not moved: the next pass reads and publishes these rows again.
			return 0, fmt.Errorf("log-tailing: publish: %w", err)
		}
		env.Faults.Point(ctx, PointRelayAfterPublish)
	}
	if err := env.Log.Advance(ctx, batch.End); err != nil {
		return 0, fmt.Errorf("log-tailing: advance: %w", err)
	}
	env.Faults.Point(ctx, PointRelayAfterAdvance)
	return len(batch.Rows), nil
}
