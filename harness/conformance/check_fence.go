package conformance

// The transaction-id fence of a fenced relay (outbox-fenced, event-sourcing): each outbox row
// carries the id its transaction got at its first write, and a fenced read passes over no row of
// a transaction still in progress.

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/strategies"
)

// readFenced reads fenced outbox rows after a position in tx and reports the messages and rows.
func (s *scene) readFenced(ctx context.Context, env Env, tx strategies.Tx, after strategies.Position) ([]string, []strategies.OutboxRow, bool) {
	s.t.Helper()
	rows, err := tx.ReadOutboxFenced(ctx, after, 10)
	if !s.ok(env, err, "read outbox fenced") {
		return nil, nil, false
	}
	var got []string
	for i, r := range rows {
		got = append(got, r.Msg.ID)
		if r.Tx == 0 || !strategies.PositionOf(r).After(after) || i > 0 && !strategies.PositionOf(r).After(strategies.PositionOf(rows[i-1])) {
			s.errorf(env, "read outbox fenced after %+v: row %d at %+v, want ascending (transaction id, id) positions after it", after, i, strategies.PositionOf(r))
			return nil, nil, false
		}
	}
	return got, rows, true
}

// checkFencedRead: a transaction that wrote first (its business row) and appends its outbox row
// after another transaction's row committed holds that committed row back from a fenced read
// while it is in progress, though a read after an id shows it; once it commits, the fenced read
// returns both in transaction-id order, its row first although its id is the larger; a read after
// a row's position returns the rows after it; a position written and committed is read back by
// the next transaction.
func checkFencedRead(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	older, newer := order("fence-older"), order("fence-newer")
	var wrote, appended, looked, committed atomic.Bool
	b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			if !s.ok(env, tx.InsertBusiness(ctx, older), "insert business") { // the first write: a transaction id
				_ = tx.Rollback(ctx)
				return
			}
			wrote.Store(true)
			if !s.await(ctx, env, &appended, "the newer transaction's commit") || !s.ok(env, tx.AppendOutbox(ctx, older), "append outbox") {
				_ = tx.Rollback(ctx)
				return
			}
			if !s.await(ctx, env, &looked, "the reader's first look") {
				_ = tx.Rollback(ctx)
				return
			}
			if s.ok(env, tx.Commit(ctx), "commit") {
				committed.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &wrote, "the older transaction's first write") || !s.appendCommitted(ctx, env, newer) {
				return
			}
			appended.Store(true)
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			got, _, ok := s.readFenced(ctx, env, tx, strategies.Position{})
			if ok && len(got) > 0 {
				s.errorf(env, "read outbox fenced with an older transaction in progress: got %v, want nothing", got)
			}
			s.readAfter(ctx, env, tx, 0, 10, newer.ID) // the offset read passes it
			_ = tx.Rollback(ctx)
			looked.Store(true)
			if !s.await(ctx, env, &committed, "the older transaction's commit") {
				return
			}
			// The fence is the server's oldest transaction in progress: on a shared server another
			// client's may hold it back a while longer.
			var rows []strategies.OutboxRow
			for range int(waitFor / pollEvery) {
				if tx, ok = s.begin(ctx, env); !ok {
					return
				}
				got, rows, ok = s.readFenced(ctx, env, tx, strategies.Position{})
				_ = tx.Rollback(ctx)
				if !ok || len(got) == 2 {
					break
				}
				env.Clock.Sleep(ctx, pollEvery)
			}
			if !ok {
				return
			}
			if want := []string{older.ID, newer.ID}; !slices.Equal(got, want) {
				s.errorf(env, "read outbox fenced after both committed: got %v, want %v (transaction-id order)", got, want)
				return
			}
			if rows[0].ID <= rows[1].ID {
				s.errorf(env, "the older transaction's row has id %d, the newer's %d: want the older's appended last", rows[0].ID, rows[1].ID)
			}
			relay := "conformance-fenced"
			if tx, ok = s.begin(ctx, env); !ok {
				return
			}
			if got, _, ok = s.readFenced(ctx, env, tx, strategies.PositionOf(rows[0])); ok && !slices.Equal(got, []string{newer.ID}) {
				s.errorf(env, "read outbox fenced after the first row: got %v, want %v", got, []string{newer.ID})
			}
			pos, err := tx.RelayPosition(ctx, relay)
			if s.ok(env, err, "relay position") && pos != (strategies.Position{}) {
				s.errorf(env, "relay position never written: got %+v, want the zero position", pos)
			}
			if !s.ok(env, tx.SetRelayPosition(ctx, relay, strategies.PositionOf(rows[1])), "set relay position") || !s.ok(env, tx.Commit(ctx), "commit") {
				return
			}
			if tx, ok = s.begin(ctx, env); !ok {
				return
			}
			defer func() { _ = tx.Rollback(ctx) }()
			if pos, err := tx.RelayPosition(ctx, relay); s.ok(env, err, "relay position") && pos != strategies.PositionOf(rows[1]) {
				s.errorf(env, "relay position after commit: got %+v, want %+v", pos, strategies.PositionOf(rows[1]))
			}
			if got, _, ok = s.readFenced(ctx, env, tx, strategies.PositionOf(rows[1])); ok && len(got) > 0 {
				s.errorf(env, "read outbox fenced after the last row: got %v, want nothing", got)
			}
		},
	)
}
