package sim

// The send buffer of the dedup-buffer producer: outbox rows stamped with the producer's time,
// under a unique key on the message id that holds while the row is unpublished or younger than
// the buffer period, and the relay's claim of the rows older than the period.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// bufferState is the database's send buffer: the committed entry of each message id, and the
// stamp of each buffered outbox row.
type bufferState struct {
	entries map[string]bufferEntry   // message id -> its latest committed entry
	stamps  map[*outboxRow]time.Time // a committed buffered row -> when it was put
}

// bufferEntry is one committed put: its time and its outbox row.
type bufferEntry struct {
	at  time.Time
	row *outboxRow
}

// bufferPut is a transaction's put, committed with it.
type bufferPut struct {
	id    string
	entry bufferEntry
}

// holds reports whether the buffer holds id at time at: its entry's row is unpublished, or it
// was put less than period before at.
func (b *bufferState) holds(id string, at time.Time, period time.Duration) bool {
	e, ok := b.entries[id]
	return ok && (!e.row.published || e.at.After(at.Add(-period)))
}

// commit makes a committing transaction's puts visible.
func (b *bufferState) commit(t *tx) {
	if len(t.buffered) == 0 {
		return
	}
	if b.entries == nil {
		b.entries, b.stamps = map[string]bufferEntry{}, map[*outboxRow]time.Time{}
	}
	for _, p := range t.buffered {
		b.entries[p.id] = p.entry
		b.stamps[p.entry.row] = p.entry.at
	}
}

func bufferKey(id string) string { return "buffer/" + id }

// BufferPut takes the message id's key (waiting for a concurrent put of the same id to end, as
// for a unique key), then drops the put when the buffer holds the id, or writes the outbox row.
func (t *tx) BufferPut(ctx context.Context, m history.Message, at time.Time, period time.Duration) (bool, error) {
	if err := t.enter(""); err != nil {
		return false, err
	}
	if slices.ContainsFunc(t.buffered, func(p bufferPut) bool { return p.id == m.ID }) {
		return false, nil
	}
	if err := t.lock(bufferKey(m.ID)); err != nil {
		return false, err
	}
	if t.d.buffer.holds(m.ID, at, period) {
		return false, nil
	}
	n := len(t.outbox)
	if err := t.AppendOutbox(ctx, m); err != nil {
		return false, err
	}
	if len(t.outbox) != n+1 {
		return false, t.fail(fmt.Errorf("buffer %s: no outbox row written", m.ID))
	}
	t.buffered = append(t.buffered, bufferPut{id: m.ID, entry: bufferEntry{at: at, row: t.outbox[n]}})
	return true, nil
}

// ClaimBuffered is ClaimOutbox for the committed buffered rows put at or before before.
func (t *tx) ClaimBuffered(_ context.Context, before time.Time, limit int) ([]strategies.OutboxRow, error) {
	if err := t.enter(""); err != nil {
		return nil, err
	}
	var out []strategies.OutboxRow
	for _, r := range t.d.outbox {
		if len(out) >= limit {
			break
		}
		at, ok := t.d.buffer.stamps[r]
		if !ok || !r.committed || r.published || at.After(before) || (r.lockedBy != nil && r.lockedBy != t) {
			continue // not buffered, not yet due, done, or locked by another relay: SKIP LOCKED
		}
		if r.lockedBy != t {
			r.lockedBy = t
			t.claimed = append(t.claimed, r)
		}
		out = append(out, strategies.OutboxRow{ID: r.id, Msg: r.msg})
	}
	return out, nil
}

// NextBuffered reads the put time of the oldest committed buffered row not yet published,
// locked or not, as a plain SELECT min(...) would.
func (t *tx) NextBuffered(context.Context) (time.Time, bool, error) {
	if err := t.enter(""); err != nil {
		return time.Time{}, false, err
	}
	var next time.Time
	found := false
	for _, r := range t.d.outbox {
		at, ok := t.d.buffer.stamps[r]
		if ok && r.committed && !r.published && (!found || at.Before(next)) {
			next, found = at, true
		}
	}
	return next, found, nil
}
