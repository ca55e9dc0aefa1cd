package conformance

// The database at READ COMMITTED: visibility, rollback, unique keys and the wait of a
// concurrent inserter.

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/strategies"
)

// checkReadCommitted: a transaction sees its own writes; another sees them only once they are
// committed, from its next statement on (not only in a later transaction).
func checkReadCommitted(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	const id = "rc-1"
	var wrote, looked, committed atomic.Bool
	b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			if !s.ok(env, tx.InboxInsert(ctx, group, id), "inbox insert") ||
				!s.ok(env, tx.RecordProcessed(ctx, group, id), "record processed") {
				return
			}
			seen, err := tx.InboxContains(ctx, group, id)
			if !s.ok(env, err, "inbox contains") || !s.want(env, seen, true, "own uncommitted inbox row visible to its transaction") {
				return
			}
			seen, err = tx.Processed(ctx, group, id)
			if !s.ok(env, err, "processed") || !s.want(env, seen, true, "own uncommitted processed row visible to its transaction") {
				return
			}
			wrote.Store(true)
			if !s.await(ctx, env, &looked, "the other transaction's first look") {
				return
			}
			if s.ok(env, tx.Commit(ctx), "commit") {
				committed.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &wrote, "the uncommitted writes") {
				return
			}
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			seen, err := tx.InboxContains(ctx, group, id)
			if !s.ok(env, err, "inbox contains") || !s.want(env, seen, false, "another transaction's uncommitted inbox row visible") {
				return
			}
			seen, err = tx.Processed(ctx, group, id)
			if !s.ok(env, err, "processed") || !s.want(env, seen, false, "another transaction's uncommitted processed row visible") {
				return
			}
			looked.Store(true)
			if !s.await(ctx, env, &committed, "the commit") {
				return
			}
			seen, err = tx.InboxContains(ctx, group, id)
			if !s.ok(env, err, "inbox contains") || !s.want(env, seen, true, "committed inbox row visible to the next statement of an open transaction") {
				return
			}
			seen, err = tx.Processed(ctx, group, id)
			if !s.ok(env, err, "processed") || !s.want(env, seen, true, "committed processed row visible to the next statement of an open transaction") {
				return
			}
			_ = tx.Rollback(ctx)
			later, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			seen, err = later.InboxContains(ctx, group, id)
			if s.ok(env, err, "inbox contains") {
				s.want(env, seen, true, "committed inbox row visible to a later transaction")
			}
			_ = later.Rollback(ctx)
		},
	)
}

// checkRollback: a rolled-back transaction leaves no row, no key, no effect and no balance.
func checkRollback(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	m := credit("rb-1", "acct-rb", 5)
	f := b.Run(t, Setup{Workload: workload.Credits.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			for _, st := range []struct {
				what string
				run  func() error
			}{
				{"insert business", func() error { return tx.InsertBusiness(ctx, m) }},
				{"append outbox", func() error { return tx.AppendOutbox(ctx, m) }},
				{"inbox insert", func() error { return tx.InboxInsert(ctx, group, m.ID) }},
				{"record processed", func() error { return tx.RecordProcessed(ctx, group, m.ID) }},
				{"apply", func() error { return tx.Apply(ctx, m) }},
				{"apply idempotent", func() error { return tx.ApplyIdempotent(ctx, credit("rb-2", "acct-rb", 7)) }},
			} {
				if !s.ok(env, st.run(), st.what) {
					_ = tx.Rollback(ctx)
					return
				}
			}
			if !s.ok(env, tx.Rollback(ctx), "rollback") {
				return
			}
			after, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			defer func() { _ = after.Rollback(ctx) }()
			seen, err := after.InboxContains(ctx, group, m.ID)
			if !s.ok(env, err, "inbox contains") || !s.want(env, seen, false, "rolled-back inbox row visible") {
				return
			}
			seen, err = after.Processed(ctx, group, m.ID)
			if !s.ok(env, err, "processed") || !s.want(env, seen, false, "rolled-back processed row visible") {
				return
			}
			rows, err := after.ClaimOutbox(ctx, 10)
			if !s.ok(env, err, "claim outbox") {
				return
			}
			if len(rows) != 0 {
				s.errorf(env, "claim outbox: got %d rows of a rolled-back transaction, want none", len(rows))
				return
			}
			// The unique keys the rolled-back transaction took are free again.
			if !s.ok(env, after.InsertBusiness(ctx, m), "insert business again") {
				return
			}
			s.ok(env, after.InboxInsert(ctx, group, m.ID), "inbox insert again")
		},
	)
	if len(f.Committed) != 0 || len(f.Effects) != 0 || len(f.Outbox) != 0 {
		t.Errorf("final: committed %v, effects %v, outbox %v after rollbacks only, want none", f.Committed, f.Effects, f.Outbox)
	}
	for _, v := range f.Values {
		if v.Value != 0 {
			t.Errorf("final: value %s = %d after rollbacks only, want 0", v.Key, v.Value)
		}
	}
}

// checkDuplicateKey: the inbox key is (consumer, message id); a second insert of a pair fails
// with ErrDuplicateKey, within the transaction or after a commit, and aborts the transaction.
func checkDuplicateKey(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	const id = "dup-1"
	lost := order("dup-lost")
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			if !s.commitTx(ctx, env, "first inserts", func(tx strategies.Tx) error {
				if err := tx.InboxInsert(ctx, group, id); err != nil {
					return err
				}
				// The same message id for another consumer is another key.
				return tx.InboxInsert(ctx, group+"-other", id)
			}) {
				return
			}

			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			if !s.ok(env, tx.InsertBusiness(ctx, lost), "insert business") {
				_ = tx.Rollback(ctx)
				return
			}
			if !s.is(env, tx.InboxInsert(ctx, group, id), strategies.ErrDuplicateKey, "inbox insert of a committed key") {
				_ = tx.Rollback(ctx)
				return
			}
			_, err := tx.InboxContains(ctx, group, id)
			s.is(env, err, strategies.ErrTxAborted, "statement after a duplicate key")
			if err := tx.Commit(ctx); err == nil {
				s.errorf(env, "commit of a transaction aborted by a duplicate key: got no error")
			}
			_ = tx.Rollback(ctx)

			tx, ok = s.begin(ctx, env)
			if !ok {
				return
			}
			defer func() { _ = tx.Rollback(ctx) }()
			if !s.ok(env, tx.InboxInsert(ctx, group, "dup-2"), "inbox insert") {
				return
			}
			s.is(env, tx.InboxInsert(ctx, group, "dup-2"), strategies.ErrDuplicateKey, "second inbox insert in one transaction")
		},
	)
	for _, m := range f.Committed {
		if m.ID == lost.ID {
			t.Errorf("final: %s committed by a transaction a duplicate key aborted", lost.ID)
		}
	}
}

// checkConcurrentInsert: a second transaction inserting an inbox key another holds uncommitted
// waits for it; it then fails with ErrDuplicateKey if the first committed, or goes on if the
// first rolled back. Either way the message has exactly one effect: the inbox pattern's proof.
func checkConcurrentInsert(t *testing.T, b Backend, firstCommits bool) {
	s := newScene(t)
	m := order("ci-1")
	var inserted, inserting, ending atomic.Bool
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			if !s.ok(env, tx.InboxInsert(ctx, group, m.ID), "inbox insert") || !s.ok(env, tx.Apply(ctx, m), "apply") {
				return
			}
			inserted.Store(true)
			if !s.await(ctx, env, &inserting, "the second inserter") {
				return
			}
			env.Clock.Sleep(ctx, settle) // let the second insert get stuck on the key
			ending.Store(true)
			if firstCommits {
				s.ok(env, tx.Commit(ctx), "commit")
			} else {
				s.ok(env, tx.Rollback(ctx), "rollback")
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &inserted, "the first insert") {
				return
			}
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			defer func() { _ = tx.Rollback(ctx) }()
			inserting.Store(true)
			err := tx.InboxInsert(ctx, group, m.ID)
			if !ending.Load() {
				s.errorf(env, "inbox insert returned (%v) while the first transaction still held the key: it did not wait", err)
				return
			}
			if firstCommits {
				s.is(env, err, strategies.ErrDuplicateKey, "inbox insert after the holder committed")
				return
			}
			if !s.ok(env, err, "inbox insert after the holder rolled back") || !s.ok(env, tx.Apply(ctx, m), "apply") {
				return
			}
			s.ok(env, tx.Commit(ctx), "commit")
		},
	)
	wantEffects(t, f, m.ID, 1)
}
