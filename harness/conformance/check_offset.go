package conformance

// Offset relays and time: reading the outbox after an id without a claim, the durable relay
// cursor, and the clock's Now.

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/strategies"
)

// readAfter reads outbox rows after an id in tx and requires the messages want, in ascending id
// order. It returns the rows' ids.
func (s *scene) readAfter(ctx context.Context, env Env, tx strategies.Tx, after int64, limit int, want ...string) ([]int64, bool) {
	s.t.Helper()
	rows, err := tx.ReadOutboxAfter(ctx, after, limit)
	if !s.ok(env, err, "read outbox after an id") {
		return nil, false
	}
	var got []string
	var ids []int64
	for _, r := range rows {
		got = append(got, r.Msg.ID)
		ids = append(ids, r.ID)
	}
	for i, id := range ids {
		if id <= after || (i > 0 && id <= ids[i-1]) {
			s.errorf(env, "read outbox after %d: ids %v, want ascending ids after %d", after, ids, after)
			return nil, false
		}
	}
	if !slices.Equal(got, want) {
		s.errorf(env, "read outbox after %d (limit %d): got %v, want %v", after, limit, got, want)
		return nil, false
	}
	return ids, true
}

// wantCursor requires the relay's cursor as tx sees it.
func (s *scene) wantCursor(ctx context.Context, env Env, tx strategies.Tx, relay string, want int64, why string) bool {
	s.t.Helper()
	got, err := tx.RelayCursor(ctx, relay)
	if !s.ok(env, err, "relay cursor "+relay) {
		return false
	}
	if got != want {
		s.errorf(env, "relay cursor %s: got %d, want %d: %s", relay, got, want, why)
		return false
	}
	return true
}

// checkReadAfter: a read after an id sees committed rows only, in id order, up to the limit,
// rows another transaction has claimed included (it takes no lock), and a row committed later.
func checkReadAfter(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	msgs := []history.Message{order("ra-1"), order("ra-2"), order("ra-3")}
	late := order("ra-late")
	var held, looked, committed atomic.Bool
	b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			if !s.appendCommitted(ctx, env, msgs...) {
				return
			}
			tx, got, _, ok := s.claim(ctx, env, 1) // holds ra-1's row lock
			if !ok {
				return
			}
			if !s.wantClaimed(env, got, "ra-1") || !s.ok(env, tx.AppendOutbox(ctx, late), "append outbox") {
				_ = tx.Rollback(ctx)
				return
			}
			held.Store(true)
			if !s.await(ctx, env, &looked, "the reader's first look") {
				_ = tx.Rollback(ctx)
				return
			}
			if s.ok(env, tx.Commit(ctx), "commit") {
				committed.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &held, "the claimed row and the uncommitted one") {
				return
			}
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			ids, ok := s.readAfter(ctx, env, tx, 0, 10, "ra-1", "ra-2", "ra-3")
			if ok {
				s.readAfter(ctx, env, tx, ids[0], 1, "ra-2")
				s.readAfter(ctx, env, tx, ids[2], 10)
			}
			_ = tx.Rollback(ctx)
			if !ok {
				return
			}
			looked.Store(true)
			if !s.await(ctx, env, &committed, "the commit") {
				return
			}
			if tx, ok = s.begin(ctx, env); ok {
				s.readAfter(ctx, env, tx, ids[2], 10, late.ID)
				_ = tx.Rollback(ctx)
			}
		},
	)
}

// checkRelayCursor: a relay's cursor is 0 until written; a write is visible to its own
// transaction, to no other before commit, never after a rollback; a committed one is read by a
// process started after the writer exited.
func checkRelayCursor(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	const relay = "offset-relay"
	var wrote, looked, exited atomic.Bool
	b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			defer exited.Store(true)
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			if !s.wantCursor(ctx, env, tx, relay, 0, "never written") ||
				!s.ok(env, tx.SetRelayCursor(ctx, relay, 7), "set relay cursor") ||
				!s.wantCursor(ctx, env, tx, relay, 7, "its own write") {
				_ = tx.Rollback(ctx)
				return
			}
			wrote.Store(true)
			if !s.await(ctx, env, &looked, "the other process's look") {
				_ = tx.Rollback(ctx)
				return
			}
			if !s.ok(env, tx.Rollback(ctx), "rollback") {
				return
			}
			s.commitTx(ctx, env, "advance the cursor", func(tx strategies.Tx) error {
				if !s.wantCursor(ctx, env, tx, relay, 0, "after the rollback") {
					return nil
				}
				if err := tx.SetRelayCursor(ctx, relay, 5); err != nil {
					return err
				}
				return tx.SetRelayCursor(ctx, relay, 9)
			})
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &wrote, "the uncommitted cursor write") {
				return
			}
			if tx, ok := s.begin(ctx, env); ok {
				s.wantCursor(ctx, env, tx, relay, 0, "the write is not committed")
				_ = tx.Rollback(ctx)
			}
			looked.Store(true)
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &exited, "the writer's exit") {
				return
			}
			if tx, ok := s.begin(ctx, env); ok {
				s.wantCursor(ctx, env, tx, relay, 9, "committed by a process that has exited")
				_ = tx.Rollback(ctx)
			}
		},
	)
}

// checkRelayCursorWriterWaits: SetRelayCursor keeps the cursor's row locked to the end of its
// transaction, so a second writer of the same cursor waits for the first (as SELECT ... FOR
// UPDATE would) and writes after it ends: the last commit wins. A read of the cursor takes no
// lock and does not wait: it sees the committed value, not the first writer's.
func checkRelayCursorWriterWaits(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	const relay = "offset-relay"
	var wrote, writing, ending atomic.Bool
	b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			if !s.ok(env, tx.SetRelayCursor(ctx, relay, 3), "set relay cursor") {
				_ = tx.Rollback(ctx)
				return
			}
			wrote.Store(true)
			if !s.await(ctx, env, &writing, "the second writer") {
				_ = tx.Rollback(ctx)
				return
			}
			env.Clock.Sleep(ctx, settle) // let the second write get stuck on the cursor's row
			ending.Store(true)
			s.ok(env, tx.Commit(ctx), "commit")
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &wrote, "the first write") {
				return
			}
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			if !s.wantCursor(ctx, env, tx, relay, 0, "a read does not wait for the uncommitted write") {
				_ = tx.Rollback(ctx)
				return
			}
			writing.Store(true)
			err := tx.SetRelayCursor(ctx, relay, 5)
			if !ending.Load() {
				s.errorf(env, "set relay cursor returned (%v) while the first writer held the cursor: it did not wait", err)
				_ = tx.Rollback(ctx)
				return
			}
			if !s.ok(env, err, "set relay cursor after the first writer committed") || !s.ok(env, tx.Commit(ctx), "commit") {
				_ = tx.Rollback(ctx)
				return
			}
			if tx, ok = s.begin(ctx, env); ok {
				s.wantCursor(ctx, env, tx, relay, 5, "the last commit wins")
				_ = tx.Rollback(ctx)
			}
		},
	)
}

// checkClockNow: Now moves forward by at least what Sleep waited.
func checkClockNow(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			before := env.Clock.Now()
			env.Clock.Sleep(ctx, settle)
			if d := env.Clock.Now().Sub(before); d < settle {
				s.errorf(env, "clock: Now advanced %v across Sleep(%v), want at least that", d, settle)
			}
		},
	)
}
