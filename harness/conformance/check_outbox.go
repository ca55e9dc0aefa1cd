package conformance

// The outbox: claims with FOR UPDATE SKIP LOCKED, uncommitted rows, marking rows published.

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/strategies"
)

// appendCommitted writes msgs to the outbox in one committed transaction.
func (s *scene) appendCommitted(ctx context.Context, env Env, msgs ...history.Message) bool {
	return s.commitTx(ctx, env, "append outbox", func(tx strategies.Tx) error {
		for _, m := range msgs {
			if err := tx.AppendOutbox(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *scene) wantClaimed(env Env, got []string, want ...string) bool {
	if !slices.Equal(got, want) {
		s.errorf(env, "claim outbox: got %v, want %v", got, want)
		return false
	}
	return true
}

// checkSkipLocked: two concurrent claimers never get the same row; rows come oldest first; a
// row is claimable again once its claimer rolls back.
func checkSkipLocked(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	msgs := []history.Message{order("sl-1"), order("sl-2"), order("sl-3"), order("sl-4")}
	var claimedA, claimedB, rolledBackA, doneC atomic.Bool
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			if !s.appendCommitted(ctx, env, msgs...) {
				return
			}
			tx, got, _, ok := s.claim(ctx, env, 2)
			if !ok {
				return
			}
			if !s.wantClaimed(env, got, "sl-1", "sl-2") {
				_ = tx.Rollback(ctx)
				return
			}
			claimedA.Store(true)
			if !s.await(ctx, env, &claimedB, "the second claimer") {
				return
			}
			if s.ok(env, tx.Rollback(ctx), "rollback") {
				rolledBackA.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &claimedA, "the first claimer") {
				return
			}
			tx, got, _, ok := s.claim(ctx, env, 10)
			if !ok {
				return
			}
			defer func() { _ = tx.Rollback(ctx) }()
			if !s.wantClaimed(env, got, "sl-3", "sl-4") {
				return
			}
			claimedB.Store(true)
			s.await(ctx, env, &doneC, "the third claimer") // hold the rows meanwhile
		},
		func(ctx context.Context, env Env) {
			defer doneC.Store(true)
			if !s.await(ctx, env, &rolledBackA, "the first claimer's rollback") {
				return
			}
			tx, got, _, ok := s.claim(ctx, env, 10)
			if !ok {
				return
			}
			s.wantClaimed(env, got, "sl-1", "sl-2")
			_ = tx.Rollback(ctx)
		},
	)
	if len(f.Outbox) != len(msgs) {
		t.Errorf("final: outbox %v, want %d rows", f.Outbox, len(msgs))
	}
	for _, r := range f.Outbox {
		if r.Published {
			t.Errorf("final: outbox row %d (%s) published, want none", r.ID, r.Msg)
		}
	}
}

// checkUncommittedOutbox: an outbox row is claimable only once its transaction commits.
func checkUncommittedOutbox(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	m := order("uc-1")
	var appended, looked, committed atomic.Bool
	b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			if !s.ok(env, tx.AppendOutbox(ctx, m), "append outbox") {
				return
			}
			appended.Store(true)
			if !s.await(ctx, env, &looked, "the claimer's first look") {
				return
			}
			if s.ok(env, tx.Commit(ctx), "commit") {
				committed.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &appended, "the uncommitted outbox row") {
				return
			}
			tx, got, _, ok := s.claim(ctx, env, 10)
			if !ok {
				return
			}
			_ = tx.Rollback(ctx)
			if !s.wantClaimed(env, got) {
				return
			}
			looked.Store(true)
			if !s.await(ctx, env, &committed, "the commit") {
				return
			}
			tx, got, _, ok = s.claim(ctx, env, 10)
			if !ok {
				return
			}
			_ = tx.Rollback(ctx)
			s.wantClaimed(env, got, m.ID)
		},
	)
}

// checkMarkPublished: a mark that rolls back changes nothing; a committed mark makes the row
// unclaimable for good.
func checkMarkPublished(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	k1, k2 := order("mp-1"), order("mp-2")
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			if !s.appendCommitted(ctx, env, k1, k2) {
				return
			}
			tx, got, ids, ok := s.claim(ctx, env, 10)
			if !ok {
				return
			}
			if !s.wantClaimed(env, got, k1.ID, k2.ID) || !s.ok(env, tx.MarkPublished(ctx, ids[:1]), "mark published") {
				_ = tx.Rollback(ctx)
				return
			}
			if !s.ok(env, tx.Rollback(ctx), "rollback") {
				return
			}
			tx, got, ids, ok = s.claim(ctx, env, 10)
			if !ok {
				return
			}
			if !s.wantClaimed(env, got, k1.ID, k2.ID) || !s.ok(env, tx.MarkPublished(ctx, ids[:1]), "mark published") {
				_ = tx.Rollback(ctx)
				return
			}
			if !s.ok(env, tx.Commit(ctx), "commit") {
				return
			}
			tx, got, _, ok = s.claim(ctx, env, 10)
			if !ok {
				return
			}
			_ = tx.Rollback(ctx)
			s.wantClaimed(env, got, k2.ID)
		},
	)
	want := []history.OutboxRow{{Msg: k1.ID, Published: true}, {Msg: k2.ID, Published: false}}
	got := make([]history.OutboxRow, len(f.Outbox))
	for i, r := range f.Outbox {
		got[i] = history.OutboxRow{Msg: r.Msg, Published: r.Published}
	}
	if !slices.Equal(got, want) {
		t.Errorf("final: outbox %v, want %v", got, want)
	}
}
