package sim

// The outbox table and the relays' statements on it: append, claim, mark, the offset read and the durable relay cursors.

import (
	"context"
	"fmt"
	"slices"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

func (t *tx) AppendOutbox(_ context.Context, m history.Message) error {
	if t.p.chainRole() == middle {
		return t.chainAppend(m) // the payment service's own outbox (chain.go)
	}
	if err := t.enter(""); err != nil {
		return err
	}
	// Like a serial column: the id is taken at insert time, not at commit.
	r := &outboxRow{id: t.d.nextOutbox, msg: m, xid: t.write()}
	t.d.nextOutbox++
	t.d.outbox = append(t.d.outbox, r)
	t.outbox = append(t.outbox, r)
	return nil
}

func (t *tx) ClaimOutbox(_ context.Context, limit int) ([]strategies.OutboxRow, error) {
	if t.p.chainRole() == middle {
		return t.chainClaim(limit)
	}
	if err := t.enter(""); err != nil {
		return nil, err
	}
	var out []strategies.OutboxRow
	for _, r := range t.d.outbox {
		if len(out) >= limit {
			break
		}
		visible := r.committed || slices.Contains(t.outbox, r) // its own insert is visible to a transaction
		if !visible || r.published || (r.lockedBy != nil && r.lockedBy != t) {
			continue // invisible, done, or locked by another relay: SKIP LOCKED
		}
		if r.lockedBy != t {
			t.write() // a row lock is a write
			r.lockedBy = t
			t.claimed = append(t.claimed, r)
		}
		out = append(out, strategies.OutboxRow{ID: r.id, Msg: r.msg})
	}
	return out, nil
}

func (t *tx) MarkPublished(_ context.Context, ids []int64) error {
	if t.p.chainRole() == middle {
		return t.chainMark(ids)
	}
	if err := t.enter(""); err != nil {
		return err
	}
	for _, id := range ids {
		i := slices.IndexFunc(t.claimed, func(r *outboxRow) bool { return r.id == id })
		if i < 0 {
			return t.fail(fmt.Errorf("mark %d: row not claimed by this transaction: %w", id, strategies.ErrTxAborted))
		}
		t.write()
		t.marked = append(t.marked, t.claimed[i])
	}
	return nil
}

// ReadOutboxAfter reads committed outbox rows after an id, in id order, published or not, and
// without locking them; the transaction's own inserts are visible to it, as in PostgreSQL.
func (t *tx) ReadOutboxAfter(_ context.Context, after int64, limit int) ([]strategies.OutboxRow, error) {
	if err := t.enter(""); err != nil {
		return nil, err
	}
	var out []strategies.OutboxRow
	for _, r := range t.d.outbox {
		if len(out) >= limit {
			break
		}
		if r.id > after && (r.committed || slices.Contains(t.outbox, r)) {
			out = append(out, strategies.OutboxRow{ID: r.id, Msg: r.msg})
		}
	}
	return out, nil
}

// outstanding is the outbox work a relay still has: the committed rows not marked published,
// less those at or below a relay's durable cursor. An offset relay marks nothing; what its
// cursor has passed it will never read again (a row that committed below it after the relay read
// past it is lost to it, which the invariants judge), so only the rows after the highest cursor
// are its work. Without cursors (a claiming relay) it is the unpublished count, kept as rows
// commit and are marked, so the check that runs at every scheduling step stays cheap.
func (d *db) outstanding() int {
	if d.unpublished == 0 || len(d.cursors) == 0 && len(d.positions) == 0 {
		return d.unpublished
	}
	var top int64
	for _, c := range d.cursors {
		top = max(top, c)
	}
	n := 0
	for _, r := range d.outbox {
		if r.committed && !r.published && r.id > top && !d.passed(r) {
			n++
		}
	}
	return n
}

// cursorKey is the lock key of a relay's cursor row.
func cursorKey(relay string) string { return "cursor/" + relay }

// RelayCursor reads the relay's cursor as this transaction sees it: its own write, else the
// committed value, else 0.
func (t *tx) RelayCursor(_ context.Context, relay string) (int64, error) {
	if err := t.enter(""); err != nil {
		return 0, err
	}
	if v, ok := t.cursors[relay]; ok {
		return v, nil
	}
	return t.d.cursors[relay], nil
}

// SetRelayCursor writes the relay's cursor privately until commit, holding its row's lock.
func (t *tx) SetRelayCursor(_ context.Context, relay string, id int64) error {
	if err := t.enter(""); err != nil {
		return err
	}
	t.write()
	if err := t.lock(cursorKey(relay)); err != nil {
		return err
	}
	if t.cursors == nil {
		t.cursors = map[string]int64{}
	}
	t.cursors[relay] = id
	return nil
}
