package pg

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
)

// ---------------------------------------------------------------------------------------------
// Stores and transactions

func TestStoreRejectsUnknownWorkload(t *testing.T) {
	for _, w := range []string{"", "emails", "Orders"} {
		if _, err := NewStore(context.Background(), infra.LocalPostgresURL, "harness_x", w); err == nil {
			t.Errorf("NewStore(workload %q): got no error", w)
		}
	}
}

func TestStoreUnreachableServer(t *testing.T) {
	_ = realtest.Require(t)
	t.Parallel()
	const url = "postgres://u:secret@127.0.0.1:1/test?sslmode=disable"
	for _, tc := range []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"begin", func(ctx context.Context) error {
			st, err := NewStore(ctx, url, "harness_x", "orders")
			if err != nil {
				return err
			}
			defer st.Close()
			_, err = st.Begin(ctx)
			return err
		}},
		{"create schema", func(ctx context.Context) error {
			_, err := CreateSchema(ctx, url, "unreachable")
			return err
		}},
		{"clean", func(ctx context.Context) error {
			_, err := Clean(ctx, url, false, nil)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op(testCtx(t))
			if !errors.Is(err, strategies.ErrConnection) {
				t.Fatalf("got %v, want ErrConnection", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "secret") {
				t.Errorf("error shows the password: %s", msg)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error is not one line: %q", msg)
			}
			t.Log(msg)
			if !strings.Contains(msg, "127.0.0.1:1") {
				t.Errorf("error does not name the server: %s", msg)
			}
		})
	}
}

func TestTxDuplicateKeys(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	s := pgTestSchema(t, inf)
	st := pgTestStore(t, inf, s, "orders")
	m := pgOrder("dup-1")
	pgCommitted(t, st, func(ctx context.Context, tx strategies.Tx) error {
		if err := tx.InsertBusiness(ctx, m); err != nil {
			return err
		}
		return tx.InboxInsert(ctx, "g", m.ID)
	})
	for _, tc := range []struct {
		name  string
		first func(ctx context.Context, tx strategies.Tx) error // nil: none
		dup   func(ctx context.Context, tx strategies.Tx) error
	}{
		{"business row committed before", nil, func(ctx context.Context, tx strategies.Tx) error { return tx.InsertBusiness(ctx, m) }},
		{"business row in the same tx",
			func(ctx context.Context, tx strategies.Tx) error { return tx.InsertBusiness(ctx, pgOrder("dup-2")) },
			func(ctx context.Context, tx strategies.Tx) error { return tx.InsertBusiness(ctx, pgOrder("dup-2")) }},
		{"inbox committed before", nil, func(ctx context.Context, tx strategies.Tx) error { return tx.InboxInsert(ctx, "g", m.ID) }},
		{"inbox in the same tx",
			func(ctx context.Context, tx strategies.Tx) error { return tx.InboxInsert(ctx, "g", "dup-3") },
			func(ctx context.Context, tx strategies.Tx) error { return tx.InboxInsert(ctx, "g", "dup-3") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			tx := pgMustBegin(t, st)
			if err := tx.RecordProcessed(ctx, "g", "lost-"+tc.name); err != nil {
				t.Fatal(err)
			}
			if tc.first != nil {
				if err := tc.first(ctx, tx); err != nil {
					t.Fatal(err)
				}
			}
			err := tc.dup(ctx, tx)
			pgWantIs(t, "duplicate", err, strategies.ErrDuplicateKey)
			if !strings.Contains(err.Error(), "dup-") {
				t.Errorf("error %q does not name the message", err)
			}
			_, err = tx.Processed(ctx, "g", "x")
			pgWantIs(t, "statement after the duplicate", err, strategies.ErrTxAborted)
			pgWantIs(t, "commit after the duplicate", tx.Commit(ctx), strategies.ErrTxAborted)
			if err := tx.Rollback(ctx); err != nil {
				t.Errorf("rollback after commit: %v", err)
			}
			_, err = tx.Processed(ctx, "g", "x")
			pgWantIs(t, "statement after the end", err, strategies.ErrTxAborted)
		})
	}
	// Nothing of the aborted transactions committed; the inbox key is per consumer.
	pgCommitted(t, st, func(ctx context.Context, tx strategies.Tx) error {
		for _, id := range []string{"lost-business row committed before", "lost-inbox in the same tx"} {
			if seen, err := tx.Processed(ctx, "g", id); err != nil || seen {
				t.Errorf("processed %s of an aborted transaction: %v, %v", id, seen, err)
			}
		}
		return tx.InboxInsert(ctx, "other", m.ID)
	})
	if f := pgFinal(t, s); len(f.Committed) != 1 || f.Committed[0] != m {
		t.Errorf("committed %v, want only %v", f.Committed, m)
	}
}

func TestTxConcurrentInboxInsertWaits(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	for _, tc := range []struct {
		name         string
		firstCommits bool
	}{{"first commits", true}, {"first rolls back", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			s := pgTestSchema(t, inf)
			st := pgTestStore(t, inf, s, "orders")
			admin := realtest.AdminConn(t, inf)
			first, second := pgMustBegin(t, st), pgMustBegin(t, st)
			if err := first.InboxInsert(ctx, "g", "ci-1"); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- second.InboxInsert(ctx, "g", "ci-1") }()
			pgAwaitLockWait(t, admin, second.conn.PgConn().PID())
			select {
			case err := <-done:
				t.Fatalf("second insert returned (%v) while the first held the key", err)
			default:
			}
			if tc.firstCommits {
				if err := first.Commit(ctx); err != nil {
					t.Fatal(err)
				}
				pgWantIs(t, "second insert after the commit", <-done, strategies.ErrDuplicateKey)
				return
			}
			if err := first.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("second insert after the rollback: %v", err)
			}
			if err := second.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTxLockTimeout(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	ctx := testCtx(t)
	s := pgTestSchema(t, inf)
	st := pgTestStore(t, inf, s, "orders")
	first, second := pgMustBegin(t, st), pgMustBegin(t, st)
	if err := first.InboxInsert(ctx, "g", "lt-1"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := second.InboxInsert(ctx, "g", "lt-1")
	pgWantIs(t, "insert of a key held past lock_timeout", err, strategies.ErrLockTimeout)
	if waited := time.Since(start); waited < 1500*time.Millisecond {
		t.Errorf("lock timeout after %v, want about 2s", waited)
	}
	_, err = second.InboxContains(ctx, "g", "lt-1")
	pgWantIs(t, "statement after the lock timeout", err, strategies.ErrTxAborted)
}

func TestTxClaimOutboxSkipLocked(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	ctx := testCtx(t)
	s := pgTestSchema(t, inf)
	st := pgTestStore(t, inf, s, "orders")
	msgs := []history.Message{pgOrder("sl-1"), pgOrder("sl-2"), pgOrder("sl-3"), pgOrder("sl-4")}
	pgCommitted(t, st, func(ctx context.Context, tx strategies.Tx) error {
		for _, m := range msgs {
			if err := tx.AppendOutbox(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
	ids := func(rows []strategies.OutboxRow) []string {
		var out []string
		for _, r := range rows {
			out = append(out, r.Msg.ID)
		}
		return out
	}
	a, b := pgMustBegin(t, st), pgMustBegin(t, st)
	gotA, err := a.ClaimOutbox(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	gotB, err := b.ClaimOutbox(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(gotA), []string{"sl-1", "sl-2"}) || !slices.Equal(ids(gotB), []string{"sl-3", "sl-4"}) {
		t.Fatalf("claims %v and %v, want sl-1 sl-2 and sl-3 sl-4", ids(gotA), ids(gotB))
	}
	if gotA[0].Msg != msgs[0] {
		t.Errorf("claimed row %+v, want the message %+v", gotA[0].Msg, msgs[0])
	}
	if err := a.MarkPublished(ctx, []int64{gotA[0].ID}); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	c := pgMustBegin(t, st)
	gotC, err := c.ClaimOutbox(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(gotC), []string{"sl-2", "sl-3", "sl-4"}) {
		t.Errorf("claim after the mark: %v, want sl-2 sl-3 sl-4", ids(gotC))
	}
	_ = c.Rollback(ctx)
	if n, err := s.Unpublished(ctx); err != nil || n != 3 {
		t.Errorf("unpublished: %d, %v, want 3", n, err)
	}
}

func TestTxUncommittedOutboxInvisible(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	ctx := testCtx(t)
	s := pgTestSchema(t, inf)
	st := pgTestStore(t, inf, s, "orders")
	writer, reader := pgMustBegin(t, st), pgMustBegin(t, st)
	if err := writer.AppendOutbox(ctx, pgOrder("uc-1")); err != nil {
		t.Fatal(err)
	}
	if own, err := writer.ClaimOutbox(ctx, 10); err != nil || len(own) != 1 {
		t.Fatalf("own uncommitted row: %v, %v, want it claimable by its transaction", own, err)
	}
	if got, err := reader.ClaimOutbox(ctx, 10); err != nil || len(got) != 0 {
		t.Fatalf("another transaction's uncommitted row: claimed %v, %v, want none", got, err)
	}
	if n, err := s.Unpublished(ctx); err != nil || n != 0 {
		t.Errorf("unpublished before the commit: %d, %v, want 0", n, err)
	}
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// READ COMMITTED: the reader's next statement sees the commit.
	if got, err := reader.ClaimOutbox(ctx, 10); err != nil || len(got) != 1 {
		t.Fatalf("after the commit: claimed %v, %v, want the row", got, err)
	}
}

func TestTxApplyEffects(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	credit := func(id string, amount int64) history.Message {
		return history.Message{ID: id, Key: "acct", Amount: amount, Seq: 1, Kind: "AccountCredited"}
	}
	price := func(id string, amount int64) history.Message {
		return history.Message{ID: id, Key: "prod", Amount: amount, Seq: 1, Kind: "ProductPriceChanged"}
	}
	type step struct {
		m          history.Message
		idempotent bool
	}
	for _, tc := range []struct {
		name     string
		workload string
		steps    []step
		effects  []string // message ids of the effect rows, in order
		values   []history.Value
	}{
		{"orders apply twice", "orders", []step{{pgOrder("o-1"), false}, {pgOrder("o-1"), false}},
			[]string{"o-1", "o-1"}, nil},
		{"orders idempotent twice", "orders", []step{{pgOrder("o-1"), true}, {pgOrder("o-1"), true}},
			[]string{"o-1"}, nil},
		{"credits sum", "credits", []step{{credit("c-1", 5), false}, {credit("c-1", 5), false}, {credit("c-2", 7), false}},
			[]string{"c-1", "c-1", "c-2"}, []history.Value{{Key: "acct", Value: 17}}},
		{"credits idempotent", "credits", []step{{credit("c-1", 5), true}, {credit("c-1", 5), true}, {credit("c-2", 7), true}},
			[]string{"c-1", "c-2"}, []history.Value{{Key: "acct", Value: 12}}},
		{"prices last wins", "prices", []step{{price("p-1", 25), false}, {price("p-2", 30), false}},
			[]string{"p-1", "p-2"}, []history.Value{{Key: "prod", Value: 30}}},
		// A repeated set-price sets the price again, though it writes no second effect row.
		{"prices idempotent repeat sets again", "prices", []step{{price("p-1", 25), true}, {price("p-2", 30), true}, {price("p-1", 25), true}},
			[]string{"p-1", "p-2"}, []history.Value{{Key: "prod", Value: 25}}},
	} {
		for _, oneTx := range []bool{false, true} {
			name := tc.name + "/separate transactions"
			if oneTx {
				name = tc.name + "/one transaction"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := pgTestSchema(t, inf)
				st := pgTestStore(t, inf, s, tc.workload)
				apply := func(ctx context.Context, tx strategies.Tx, st step) error {
					if st.idempotent {
						return tx.ApplyIdempotent(ctx, st.m)
					}
					return tx.Apply(ctx, st.m)
				}
				if oneTx {
					pgCommitted(t, st, func(ctx context.Context, tx strategies.Tx) error {
						for _, s := range tc.steps {
							if err := apply(ctx, tx, s); err != nil {
								return err
							}
						}
						return nil
					})
				} else {
					for _, s := range tc.steps {
						pgCommitted(t, st, func(ctx context.Context, tx strategies.Tx) error { return apply(ctx, tx, s) })
					}
				}
				f := pgFinal(t, s)
				var got []string
				for _, e := range f.Effects {
					got = append(got, e.Msg)
				}
				if !slices.Equal(got, tc.effects) {
					t.Errorf("effects %v, want %v", got, tc.effects)
				}
				if !slices.Equal(f.Values, tc.values) {
					t.Errorf("values %v, want %v", f.Values, tc.values)
				}
			})
		}
	}
}

func TestTxConnectionLost(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	ctx := testCtx(t)
	s := pgTestSchema(t, inf)
	st := pgTestStore(t, inf, s, "orders")
	admin := realtest.AdminConn(t, inf)
	tx := pgMustBegin(t, st)
	if err := tx.InsertBusiness(ctx, pgOrder("cl-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, int64(tx.conn.PgConn().PID())); err != nil {
		t.Fatal(err)
	}
	err := tx.AppendOutbox(ctx, pgOrder("cl-1"))
	pgWantIs(t, "statement on a terminated connection", err, strategies.ErrConnection)
	_, err = tx.InboxContains(ctx, "g", "cl-1")
	pgWantIs(t, "statement after the loss", err, strategies.ErrTxAborted)
	pgWantIs(t, "commit after the loss", tx.Commit(ctx), strategies.ErrTxAborted)
	if err := tx.Rollback(ctx); err != nil {
		t.Errorf("rollback after the loss: %v", err)
	}
	// The store goes on with a new connection; nothing of the lost transaction committed.
	pgCommitted(t, st, func(ctx context.Context, tx strategies.Tx) error { return tx.InsertBusiness(ctx, pgOrder("cl-1")) })
}

func TestTxCommitOnDeadIdleConnectionReconnects(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	ctx := testCtx(t)
	s := pgTestSchema(t, inf)
	st := pgTestStore(t, inf, s, "orders")
	admin := realtest.AdminConn(t, inf)
	tx := pgMustBegin(t, st)
	pid := tx.conn.PgConn().PID()
	_ = tx.Rollback(ctx) // the connection goes back to the pool, idle
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, int64(pid)); err != nil {
		t.Fatal(err)
	}
	// Begin notices the dead idle connection and takes a fresh one.
	pgCommitted(t, st, func(ctx context.Context, tx strategies.Tx) error { return tx.InboxInsert(ctx, "g", "re-1") })
}

func TestSchemaFinal(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	ctx := testCtx(t)
	s := pgTestSchema(t, inf)
	st := pgTestStore(t, inf, s, "credits")
	c1 := history.Message{ID: "txn-1", Key: "acct-b", Amount: 5, Seq: 1, Kind: "AccountCredited"}
	c2 := history.Message{ID: "txn-2", Key: "acct-a", Amount: 7, Seq: 1, Kind: "AccountCredited"}
	c3 := history.Message{ID: "txn-3", Key: "acct-B", Amount: 1, Seq: 2, Kind: "AccountCredited"}
	for _, m := range []history.Message{c1, c2, c3} {
		pgCommitted(t, st, func(ctx context.Context, tx strategies.Tx) error {
			if err := tx.InsertBusiness(ctx, m); err != nil {
				return err
			}
			if err := tx.AppendOutbox(ctx, m); err != nil {
				return err
			}
			return tx.Apply(ctx, m)
		})
	}
	// A rolled-back transaction leaves nothing, though it took an outbox id.
	rb := pgMustBegin(t, st)
	if err := rb.AppendOutbox(ctx, pgOrder("rolled-back")); err != nil {
		t.Fatal(err)
	}
	_ = rb.Rollback(ctx)
	var published int64
	pgCommitted(t, st, func(ctx context.Context, tx strategies.Tx) error {
		rows, err := tx.ClaimOutbox(ctx, 1)
		if err != nil || len(rows) != 1 {
			t.Fatalf("claim: %v, %v", rows, err)
		}
		published = rows[0].ID
		return tx.MarkPublished(ctx, []int64{published})
	})
	// An open transaction's writes are not in the final reads.
	open := pgMustBegin(t, st)
	if err := open.InsertBusiness(ctx, pgOrder("open")); err != nil {
		t.Fatal(err)
	}
	if err := open.AppendOutbox(ctx, pgOrder("open")); err != nil {
		t.Fatal(err)
	}
	f := pgFinal(t, s)
	if want := []history.Message{c1, c2, c3}; !slices.Equal(f.Committed, want) {
		t.Errorf("committed %v, want %v", f.Committed, want)
	}
	if want := []history.Effect{{Msg: "txn-1", Key: "acct-b", Amount: 5}, {Msg: "txn-2", Key: "acct-a", Amount: 7}, {Msg: "txn-3", Key: "acct-B", Amount: 1}}; !slices.Equal(f.Effects, want) {
		t.Errorf("effects %v, want %v", f.Effects, want)
	}
	// Byte order, as Go sorts: upper case first.
	if want := []history.Value{{Key: "acct-B", Value: 1}, {Key: "acct-a", Value: 7}, {Key: "acct-b", Value: 5}}; !slices.Equal(f.Values, want) {
		t.Errorf("values %v, want %v", f.Values, want)
	}
	var outbox []string
	for _, r := range f.Outbox {
		outbox = append(outbox, r.Msg)
		if r.Published != (r.ID == published) {
			t.Errorf("outbox row %+v: published %v, want %v", r, r.Published, r.ID == published)
		}
	}
	if want := []string{"txn-1", "txn-2", "txn-3"}; !slices.Equal(outbox, want) {
		t.Errorf("outbox %v, want %v", outbox, want)
	}
	if f.Ready != 0 || f.Unacked != 0 {
		t.Errorf("broker counts %d/%d in a database read", f.Ready, f.Unacked)
	}
}

func TestTxAmbiguousCommit(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	ctx := testCtx(t)
	s := pgTestSchema(t, inf)
	proxy, through := pgStartReplyProxy(t, inf.PostgresURL)
	st, err := NewStore(ctx, through, s.Name, "orders")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	tx := pgMustBegin(t, st)
	if err := tx.InsertBusiness(ctx, pgOrder("amb-1")); err != nil {
		t.Fatal(err)
	}
	proxy.swallow.Store(true) // the COMMIT reaches the server; its reply never comes back
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err = tx.Commit(cctx)
	pgWantIs(t, "commit whose reply is lost", err, strategies.ErrUnknownOutcome)
	if err := tx.Rollback(ctx); err != nil {
		t.Errorf("rollback after the ambiguous commit: %v", err)
	}
	// The outcome was unknown to the client; the server committed.
	if f := pgFinal(t, s); len(f.Committed) != 1 || f.Committed[0].ID != "amb-1" {
		t.Errorf("committed %v, want amb-1: the server had committed", f.Committed)
	}
}

func TestStoreCloseEndsOpenTransactions(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	ctx := testCtx(t)
	s := pgTestSchema(t, inf)
	dying, other := pgTestStore(t, inf, s, "orders"), pgTestStore(t, inf, s, "orders")
	tx := pgMustBegin(t, dying)
	if err := tx.InboxInsert(ctx, "g", "exit-1"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dying.Close() // the process exits with the transaction open
	if took := time.Since(start); took > time.Second {
		t.Errorf("Close took %v with a transaction open, want at once", took)
	}
	// The key is free at once: the server rolled the transaction back.
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	pgCommitted(t, other, func(_ context.Context, tx strategies.Tx) error { return tx.InboxInsert(cctx, "g", "exit-1") })
	err := tx.RecordProcessed(ctx, "g", "exit-1")
	pgWantIs(t, "statement after Close", err, strategies.ErrConnection)
	if err := tx.Rollback(ctx); err != nil {
		t.Errorf("rollback after Close: %v", err)
	}
	if _, err := dying.Begin(ctx); err == nil {
		t.Error("begin on a closed store: got no error")
	}
}

func TestStoreSessionSettingsAndSize(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	ctx := testCtx(t)
	s := pgTestSchema(t, inf)
	st := pgTestStore(t, inf, s, "orders")
	var txs []*storeTx
	for range storeConns {
		tx := pgMustBegin(t, st)
		// BEGIN goes out with the first statement.
		if _, err := tx.InboxContains(ctx, "g", "size-1"); err != nil {
			t.Fatal(err)
		}
		txs = append(txs, tx)
	}
	var lockTimeout, appName string
	if err := txs[0].tx.QueryRow(ctx, `SELECT current_setting('lock_timeout'), current_setting('application_name')`).
		Scan(&lockTimeout, &appName); err != nil {
		t.Fatal(err)
	}
	if lockTimeout != lockTimeout || appName != s.Name {
		t.Errorf("lock_timeout %q, application_name %q: want %q and %q", lockTimeout, appName, lockTimeout, s.Name)
	}
	// Every connection is taken: one more Begin waits, until its deadline.
	wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if tx, err := st.Begin(wctx); err == nil {
		_ = tx.Rollback(ctx)
		t.Fatalf("begin number %d: got a transaction, want a wait for a free connection", storeConns+1)
	}
	var n int
	if err := realtest.AdminConn(t, inf).QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1
		AND state = 'idle in transaction'`, s.Name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != storeConns {
		t.Errorf("%d connections of the store, want %d", n, storeConns)
	}
	// A connection given back serves the next Begin.
	if err := txs[0].Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	tx := pgMustBegin(t, st)
	if tx.conn != txs[0].conn {
		t.Error("the next Begin opened a new connection instead of reusing the idle one")
	}
}
