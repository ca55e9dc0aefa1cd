package sim

// Transaction ids and the fence of a snapshot, as PostgreSQL has them: a transaction gets its id
// at its first write (an insert, an update, a row lock), from a counter that only grows; a
// statement's snapshot has as its xmin the oldest id still in progress. A fenced relay reads only
// the rows of transactions below that xmin, so a row whose transaction began writing earlier and
// commits later is never passed over. Also the fenced relays' durable positions, and the event
// store's committed record.

import (
	"context"
	"fmt"
	"slices"

	"github.com/deliveryharness/harness/strategies"
)

// firstXid is the first transaction id the simulated server gives out (PostgreSQL's first normal
// transaction id is 3; a fresh cluster's initdb uses a few hundred).
const firstXid = 1000

// fence is the database's transaction-id state.
type fence struct {
	nextXid   uint64                         // the next id to give out; 0 until the first (firstXid)
	running   map[uint64]bool                // ids of transactions still in progress
	positions map[string]strategies.Position // fenced relay name -> its committed position
	events    bool                           // the producer's events are its state (event sourcing)
}

// write is the start of a statement that writes: the transaction gets its id if it has none,
// and the id is returned.
func (t *tx) write() uint64 {
	if t.xid != 0 {
		return t.xid
	}
	f := &t.d.fence
	if f.nextXid == 0 {
		f.nextXid = firstXid
	}
	if f.running == nil {
		f.running = map[uint64]bool{}
	}
	t.xid = f.nextXid
	f.nextXid++
	f.running[t.xid] = true
	return t.xid
}

// finish forgets an ended transaction's id as running.
func (f *fence) finish(t *tx) {
	if t.xid != 0 {
		delete(f.running, t.xid)
	}
}

// xmin is pg_snapshot_xmin(pg_current_snapshot()): the oldest transaction id still in progress,
// or the next id to give out when none is.
func (f *fence) xmin() uint64 {
	m := max(f.nextXid, firstXid)
	for x := range f.running {
		m = min(m, x)
	}
	return m
}

// passed reports whether a fenced relay's committed position is at or after row r, so that the
// relay never reads it again.
func (f *fence) passed(r *outboxRow) bool {
	at := strategies.Position{Tx: r.xid, ID: r.id}
	for _, p := range f.positions {
		if !at.After(p) {
			return true
		}
	}
	return false
}

// commitPositions makes a committing transaction's position writes visible.
func (f *fence) commitPositions(t *tx) {
	if len(t.positions) == 0 {
		return
	}
	if f.positions == nil {
		f.positions = map[string]strategies.Position{}
	}
	for _, k := range sortedPositionKeys(t.positions) {
		f.positions[k] = t.positions[k]
	}
}

func sortedPositionKeys(m map[string]strategies.Position) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ReadOutboxFenced reads committed outbox rows after a position, in (transaction id, id) order,
// only those of transactions below the statement's snapshot xmin, without locking them.
func (t *tx) ReadOutboxFenced(_ context.Context, after strategies.Position, limit int) ([]strategies.OutboxRow, error) {
	if err := t.enter(""); err != nil {
		return nil, err
	}
	xmin := t.d.xmin()
	var out []strategies.OutboxRow
	for _, r := range t.d.outbox {
		row := strategies.OutboxRow{ID: r.id, Msg: r.msg, Tx: r.xid}
		if r.committed && r.xid < xmin && strategies.PositionOf(row).After(after) {
			out = append(out, row)
		}
	}
	slices.SortFunc(out, func(a, b strategies.OutboxRow) int {
		switch pa, pb := strategies.PositionOf(a), strategies.PositionOf(b); {
		case pb.After(pa):
			return -1
		case pa.After(pb):
			return 1
		}
		return 0
	})
	if len(out) > max(limit, 0) {
		out = out[:max(limit, 0)]
	}
	return out, nil
}

// positionKey is the lock key of a fenced relay's position row.
func positionKey(relay string) string { return "position/" + relay }

// RelayPosition reads the relay's position as this transaction sees it: its own write, else the
// committed value, else the zero position.
func (t *tx) RelayPosition(_ context.Context, relay string) (strategies.Position, error) {
	if err := t.enter(""); err != nil {
		return strategies.Position{}, err
	}
	if p, ok := t.positions[relay]; ok {
		return p, nil
	}
	return t.d.positions[relay], nil
}

// SetRelayPosition writes the relay's position privately until commit, holding its row's lock.
func (t *tx) SetRelayPosition(_ context.Context, relay string, pos strategies.Position) error {
	if err := t.enter(""); err != nil {
		return err
	}
	t.write()
	if err := t.lock(positionKey(relay)); err != nil {
		return fmt.Errorf("set position of %s: %w", relay, err)
	}
	if t.positions == nil {
		t.positions = map[string]strategies.Position{}
	}
	t.positions[relay] = pos
	return nil
}
