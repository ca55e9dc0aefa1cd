package conformance

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// The database at READ COMMITTED.

// checkReadCommitted: a transaction sees its own writes; another sees them only once they are
// committed, from its next statement on (not only in a later transaction).
func checkReadCommitted(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	const id = "rc-1"
	var wrote, looked, committed atomic.Bool
	b.Run(t, Setup{Workload: "orders", Prefetch: 1},
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
	f := b.Run(t, Setup{Workload: "credits", Prefetch: 1},
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
	f := b.Run(t, Setup{Workload: "orders", Prefetch: 1},
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
	f := b.Run(t, Setup{Workload: "orders", Prefetch: 1},
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

// Effects.

// checkApplyIdempotent: ApplyIdempotent twice, in one transaction and in two, leaves one effect.
func checkApplyIdempotent(t *testing.T, b Backend, workload string) {
	s := newScene(t)
	m := order("idem-1")
	if workload == "credits" {
		m = credit("idem-1", "acct-idem", 5)
	}
	f := b.Run(t, Setup{Workload: workload, Prefetch: 1},
		func(ctx context.Context, env Env) {
			if !s.commitTx(ctx, env, "first apply", func(tx strategies.Tx) error { return tx.ApplyIdempotent(ctx, m) }) {
				return
			}
			s.commitTx(ctx, env, "repeats", func(tx strategies.Tx) error {
				if err := tx.ApplyIdempotent(ctx, m); err != nil {
					return err
				}
				return tx.ApplyIdempotent(ctx, m)
			})
		},
	)
	wantEffects(t, f, m.ID, 1)
	if workload == "credits" {
		wantValue(t, f, m.Key, m.Amount)
	}
}

// checkApplyTwiceOrders: plain Apply is not idempotent: twice is two payments.
func checkApplyTwiceOrders(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	m := order("twice-1")
	f := b.Run(t, Setup{Workload: "orders", Prefetch: 1},
		func(ctx context.Context, env Env) {
			for range 2 {
				if !s.commitTx(ctx, env, "apply", func(tx strategies.Tx) error { return tx.Apply(ctx, m) }) {
					return
				}
			}
		},
	)
	wantEffects(t, f, m.ID, 2)
}

// checkApplyCredits: every Apply adds its amount to the balance, repeats included.
func checkApplyCredits(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	c1, c2 := credit("cr-1", "acct-cr", 5), credit("cr-2", "acct-cr", 7)
	f := b.Run(t, Setup{Workload: "credits", Prefetch: 1},
		func(ctx context.Context, env Env) {
			for _, m := range []history.Message{c1, c1, c2} {
				if !s.commitTx(ctx, env, "apply "+m.ID, func(tx strategies.Tx) error { return tx.Apply(ctx, m) }) {
					return
				}
			}
		},
	)
	wantEffects(t, f, c1.ID, 2)
	wantEffects(t, f, c2.ID, 1)
	wantValue(t, f, "acct-cr", 5+5+7)
}

// checkConcurrentCredits: two transactions crediting one account at once lose no update.
func checkConcurrentCredits(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	c1, c2 := credit("cc-1", "acct-cc", 5), credit("cc-2", "acct-cc", 7)
	var applied, applying atomic.Bool
	f := b.Run(t, Setup{Workload: "credits", Prefetch: 1},
		func(ctx context.Context, env Env) {
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			if !s.ok(env, tx.Apply(ctx, c1), "apply") {
				return
			}
			applied.Store(true)
			if !s.await(ctx, env, &applying, "the second credit") {
				return
			}
			env.Clock.Sleep(ctx, settle)
			s.ok(env, tx.Commit(ctx), "commit")
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &applied, "the first credit") {
				return
			}
			applying.Store(true)
			s.commitTx(ctx, env, "apply", func(tx strategies.Tx) error { return tx.Apply(ctx, c2) })
		},
	)
	wantValue(t, f, "acct-cc", 5+7)
}

// checkApplyPrices: Apply sets the price; the last one applied stays.
func checkApplyPrices(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	p1, p2 := price("pr-1", "prod-1", 25), price("pr-2", "prod-1", 30)
	f := b.Run(t, Setup{Workload: "prices", Prefetch: 1},
		func(ctx context.Context, env Env) {
			for _, m := range []history.Message{p1, p2} {
				if !s.commitTx(ctx, env, "apply "+m.ID, func(tx strategies.Tx) error { return tx.Apply(ctx, m) }) {
					return
				}
			}
		},
	)
	wantValue(t, f, "prod-1", 30)
}

// checkVersioned: ApplyVersioned applies only what is newer than the key's version; a repeat
// and an older event change nothing, and say so.
func checkVersioned(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	at := func(id string, seq, amount int64) history.Message {
		m := price(id, "prod-v", amount)
		m.Seq = seq
		return m
	}
	steps := []struct {
		m       history.Message
		applied bool
	}{
		{at("pv-2", 2, 20), true},
		{at("pv-1", 1, 10), false}, // overtaken: older than what is stored
		{at("pv-2", 2, 20), false}, // a repeat
		{at("pv-3", 3, 30), true},
	}
	f := b.Run(t, Setup{Workload: "prices", Prefetch: 1},
		func(ctx context.Context, env Env) {
			for _, st := range steps {
				if !s.commitTx(ctx, env, "versioned "+st.m.ID, func(tx strategies.Tx) error {
					applied, err := tx.ApplyVersioned(ctx, st.m)
					if err == nil {
						s.want(env, applied, st.applied, fmt.Sprintf("%s (seq %d) applied", st.m.ID, st.m.Seq))
					}
					return err
				}) {
					return
				}
			}
		},
	)
	wantValue(t, f, "prod-v", 30)
	wantEffects(t, f, "pv-1", 0)
	wantEffects(t, f, "pv-2", 1)
	wantEffects(t, f, "pv-3", 1)
}

// checkEmails: the emails workload's effect is a call to the mail gateway, outside the database.
// A rolled-back transaction does not unsend its email; without a key the gateway sends every
// request; with one (ApplyIdempotent: the event id) it sends the first only.
func checkEmails(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	m1 := history.Message{ID: "signup-1", Key: "user-1", Amount: 1, Seq: 1, Kind: "UserRegistered"}
	m2 := history.Message{ID: "signup-2", Key: "user-2", Amount: 2, Seq: 1, Kind: "UserRegistered"}
	f := b.Run(t, Setup{Workload: "emails", Prefetch: 1},
		func(ctx context.Context, env Env) {
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			if !s.ok(env, tx.Apply(ctx, m1), "send in a transaction") || !s.ok(env, tx.Rollback(ctx), "rollback") {
				return
			}
			if !s.commitTx(ctx, env, "send again", func(tx strategies.Tx) error { return tx.Apply(ctx, m1) }) {
				return
			}
			for range 2 {
				if !s.commitTx(ctx, env, "send with a key", func(tx strategies.Tx) error { return tx.ApplyIdempotent(ctx, m2) }) {
					return
				}
			}
		},
	)
	wantEffects(t, f, "signup-1", 2)
	wantEffects(t, f, "signup-2", 1)
}

// The outbox.

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
	f := b.Run(t, Setup{Workload: "orders", Prefetch: 1},
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
	b.Run(t, Setup{Workload: "orders", Prefetch: 1},
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
	f := b.Run(t, Setup{Workload: "orders", Prefetch: 1},
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

// The broker.

// checkConfirmedQueued: a confirmed message waits in the queue while nobody consumes.
func checkConfirmedQueued(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	f := b.Run(t, Setup{Workload: "orders", Prefetch: 1},
		func(ctx context.Context, env Env) { s.publish(ctx, env, order("cq-1"), order("cq-2")) },
	)
	if f.Ready != 2 || f.Unacked != 0 {
		t.Errorf("final: broker holds %d ready and %d unacked messages, want 2 ready", f.Ready, f.Unacked)
	}
}

// checkPublishConsume: a confirmed message is delivered, not flagged redelivered, in publish order.
func checkPublishConsume(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	var published atomic.Bool
	f := b.Run(t, Setup{Workload: "orders", Prefetch: 1},
		func(ctx context.Context, env Env) {
			if s.publish(ctx, env, order("pc-1"), order("pc-2")) {
				published.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &published, "the confirms") {
				return
			}
			for _, id := range []string{"pc-1", "pc-2"} {
				d, ok := s.expect(ctx, env, id, false)
				if !ok || !s.ack(ctx, env, d) {
					return
				}
			}
		},
	)
	wantBrokerEmpty(t, f)
}

// checkNackRequeue: a delivery nacked with requeue comes back flagged redelivered (at its old
// place with RequeueKeepsPosition); the others are not flagged.
func checkNackRequeue(t *testing.T, b Backend, feat Features) {
	s := newScene(t)
	var published atomic.Bool
	f := b.Run(t, Setup{Workload: "orders", Prefetch: 1},
		func(ctx context.Context, env Env) {
			if s.publish(ctx, env, order("nr-1"), order("nr-2")) {
				published.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &published, "the confirms") {
				return
			}
			d, ok := s.expect(ctx, env, "nr-1", false)
			if !ok || !s.ok(env, env.Sub.Nack(ctx, d.Tag, true), "nack with requeue") {
				return
			}
			got := map[string]bool{}
			var seq []string
			for range 2 {
				d, ok := s.next(ctx, env)
				if !ok || !s.ack(ctx, env, d) {
					return
				}
				got[d.Msg.ID] = d.Redelivered
				seq = append(seq, d.Msg.ID)
			}
			if redelivered, ok := got["nr-1"]; !ok || !redelivered {
				s.errorf(env, "after the nack: deliveries %v (redelivered flags %v), want nr-1 again flagged redelivered", seq, got)
				return
			}
			if redelivered, ok := got["nr-2"]; !ok || redelivered {
				s.errorf(env, "after the nack: deliveries %v (redelivered flags %v), want nr-2 not flagged redelivered", seq, got)
				return
			}
			if feat.RequeueKeepsPosition && seq[0] != "nr-1" {
				s.errorf(env, "after the nack: deliveries in order %v, want the requeued nr-1 first", seq)
			}
		},
	)
	wantBrokerEmpty(t, f)
}

// checkNackDiscard: a delivery nacked without requeue is gone.
func checkNackDiscard(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	var published atomic.Bool
	f := b.Run(t, Setup{Workload: "orders", Prefetch: 1},
		func(ctx context.Context, env Env) {
			if s.publish(ctx, env, order("nd-1")) {
				published.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &published, "the confirm") {
				return
			}
			d, ok := s.expect(ctx, env, "nd-1", false)
			if !ok || !s.ok(env, env.Sub.Nack(ctx, d.Tag, false), "nack without requeue") {
				return
			}
			s.idle(ctx, env, "a message nacked without requeue")
		},
	)
	wantBrokerEmpty(t, f)
}

// checkExitRequeues: the unacked deliveries of a consumer that exits go to another consumer,
// flagged redelivered.
func checkExitRequeues(t *testing.T, b Backend, feat Features) {
	s := newScene(t)
	var published, took atomic.Bool
	f := b.Run(t, Setup{Workload: "orders", Prefetch: 2},
		func(ctx context.Context, env Env) {
			if s.publish(ctx, env, order("ex-1"), order("ex-2")) {
				published.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &published, "the confirms") {
				return
			}
			for _, id := range []string{"ex-1", "ex-2"} {
				if _, ok := s.expect(ctx, env, id, false); !ok {
					return
				}
			}
			took.Store(true)
			// Exit with both deliveries unacknowledged.
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &took, "the first consumer's deliveries") {
				return
			}
			var seq []string
			for range 2 {
				d, ok := s.next(ctx, env)
				if !ok || !s.ack(ctx, env, d) {
					return
				}
				if !d.Redelivered {
					s.errorf(env, "next: got %s not flagged redelivered, want the flag on a delivery the exited consumer held", d.Msg.ID)
				}
				seq = append(seq, d.Msg.ID)
			}
			sorted := slices.Sorted(slices.Values(seq))
			if !slices.Equal(sorted, []string{"ex-1", "ex-2"}) {
				s.errorf(env, "got deliveries %v, want ex-1 and ex-2", seq)
			} else if feat.RequeueKeepsPosition && !slices.Equal(seq, sorted) {
				s.errorf(env, "got deliveries in order %v, want their original order", seq)
			}
		},
	)
	wantBrokerEmpty(t, f)
}

// checkPrefetch: a consumer holds at most Prefetch unacked deliveries, each consumer its own;
// an ack frees a slot for the next ready message.
func checkPrefetch(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	var published, full1, full2, gotLast atomic.Bool
	f := b.Run(t, Setup{Workload: "orders", Prefetch: 2},
		func(ctx context.Context, env Env) {
			if s.publish(ctx, env, order("pf-1"), order("pf-2"), order("pf-3"), order("pf-4"), order("pf-5")) {
				published.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &published, "the confirms") {
				return
			}
			d1, ok := s.expect(ctx, env, "pf-1", false)
			if !ok {
				return
			}
			d2, ok := s.expect(ctx, env, "pf-2", false)
			if !ok || !s.idle(ctx, env, "two deliveries unacked at prefetch 2") {
				return
			}
			full1.Store(true)
			if !s.await(ctx, env, &full2, "the second consumer at its prefetch") || !s.ack(ctx, env, d1) {
				return
			}
			// The ack freed one slot, and the other consumer has none: the last message comes here.
			d5, ok := s.expect(ctx, env, "pf-5", false)
			if !ok {
				return
			}
			gotLast.Store(true)
			s.ack(ctx, env, d2, d5)
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &full1, "the first consumer at its prefetch") {
				return
			}
			d3, ok := s.expect(ctx, env, "pf-3", false)
			if !ok {
				return
			}
			d4, ok := s.expect(ctx, env, "pf-4", false)
			if !ok || !s.idle(ctx, env, "two deliveries unacked at prefetch 2, one message ready") {
				return
			}
			full2.Store(true)
			if s.await(ctx, env, &gotLast, "the first consumer's third delivery") {
				s.ack(ctx, env, d3, d4)
			}
		},
	)
	wantBrokerEmpty(t, f)
}

// checkIdle: Next returns ErrIdle when nothing arrives.
func checkIdle(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	f := b.Run(t, Setup{Workload: "orders", Prefetch: 1},
		func(ctx context.Context, env Env) { s.idle(ctx, env, "an empty queue") },
	)
	wantBrokerEmpty(t, f)
}
