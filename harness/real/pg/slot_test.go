package pg

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
)

// ---------------------------------------------------------------------------------------------
// Names and positions

func TestLSN(t *testing.T) {
	for _, s := range []string{"0/0", "0/1D9F408", "16/B374D848", "FFFFFFFF/FFFFFFFF"} {
		pos, err := parseLSN(s)
		if err != nil {
			t.Fatal(err)
		}
		if formatLSN(pos) != s {
			t.Errorf("%s -> %d -> %s", s, pos, formatLSN(pos))
		}
	}
	if pos, _ := parseLSN("16/B374D848"); pos != 0x16B374D848 {
		t.Errorf("16/B374D848 = %#x", pos)
	}
	for _, s := range []string{"", "1D9F408", "0/", "x/1", "1/2/3", "100000000/0"} {
		if _, err := parseLSN(s); err == nil {
			t.Errorf("parseLSN(%q): no error", s)
		}
	}
}

func TestSlotNamesAreTheHarnesss(t *testing.T) {
	for _, name := range []string{"", "harness_", "other_abc", "harness_ABC", "harness_a-b", "harness_" + strings.Repeat("a", 41)} {
		if err := checkSlotName(name); err == nil {
			t.Errorf("checkSlotName(%q): no error", name)
		}
	}
	if err := checkSlotName("harness_abc_123"); err != nil {
		t.Error(err)
	}
}

// ---------------------------------------------------------------------------------------------
// The slot on the server

// logTestSlot creates a slot for schema s and drops it when the test ends (before the schema).
func logTestSlot(t *testing.T, inf infra.Infra, s *Schema) *Slot {
	t.Helper()
	realtest.RequireLogicalWAL(t, inf)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slot, err := CreateSlot(ctx, inf.PostgresURL, s.Name)
	if err != nil {
		t.Fatalf("create slot: %v", err)
	}
	t.Cleanup(func() {
		if err := slot.Drop(context.Background()); err != nil {
			t.Errorf("drop slot: %v", err)
		}
	})
	return slot
}

func logTestReader(t *testing.T, inf infra.Infra, s *Schema, slot *Slot) *LogReader {
	t.Helper()
	lr, err := NewLogReader(testCtx(t), inf.PostgresURL, s.Name, slot.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lr.Close)
	return lr
}

func logRead(t *testing.T, lr *LogReader, limit int) (ids []string, end uint64) {
	t.Helper()
	b, err := lr.Read(testCtx(t), limit)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	for _, r := range b.Rows {
		ids = append(ids, r.Msg.ID)
	}
	return ids, b.End
}

// logReadRows reads, without advancing, until the reader hands out n rows or more (the stream
// brings transactions as the server decodes them), within 10 s.
func logReadRows(t *testing.T, lr *LogReader, n int) (ids []string, end uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids, end = logRead(t, lr, 1000)
		if len(ids) >= n || time.Now().After(deadline) {
			return ids, end
		}
	}
}

// logAppended commits one transaction on st with an outbox row of id alone.
func logAppended(t *testing.T, st *Store, id string) {
	t.Helper()
	pgCommitted(t, st, func(ctx context.Context, tx strategies.Tx) error {
		return tx.AppendOutbox(ctx, history.Message{ID: id, Key: "k", Amount: 1})
	})
}

// slotConfirmed is the slot's confirmed position.
func slotConfirmed(t *testing.T, admin *pgx.Conn, slot string) uint64 {
	t.Helper()
	var lsn string
	if err := admin.QueryRow(testCtx(t), `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	pos, err := parseLSN(lsn)
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

func logBacklog(t *testing.T, slot *Slot) int {
	t.Helper()
	n, err := slot.Backlog(testCtx(t))
	if err != nil {
		t.Fatalf("backlog: %v", err)
	}
	return n
}

// pgTestLink starts an in-process Toxiproxy proxy in front of rawURL's server and returns it
// with the URL through it: Stop cuts the link, Start heals it, a toxic poisons it.
func pgTestLink(t *testing.T, rawURL string) (*toxiproxy.Proxy, string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "relay/postgres", "127.0.0.1:0", u.Host)
	if err := srv.Collection.Add(p, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Collection.Clear() })
	u.Host = p.Listen
	return p, u.String()
}

// TestLogReaderReadAndAdvance: committed outbox inserts come out in commit order, with every
// column; reading again gives the same; rolled-back and other schemas' inserts do not come out;
// after the advance nothing does, until the next commit; the slot is confirmed past other
// schemas' transactions without the tailer seeing them. The parent counts the backlog while the
// reader streams the slot.
func TestLogReaderReadAndAdvance(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	s, other := pgTestSchema(t, inf), pgTestSchema(t, inf)
	slot := logTestSlot(t, inf, s)
	st, otherSt := pgTestStore(t, inf, s, "orders"), pgTestStore(t, inf, other, "orders")
	lr := logTestReader(t, inf, s, slot)
	ctx := testCtx(t)
	msg := func(id string) history.Message {
		return history.Message{ID: id, Key: "key of " + id, Amount: int64(len(id)), Seq: 3, Kind: "OrderPlaced"}
	}
	write := func(tx strategies.Tx, id string) {
		t.Helper()
		if err := tx.InsertBusiness(ctx, msg(id)); err != nil {
			t.Fatal(err)
		}
		if err := tx.AppendOutbox(ctx, msg(id)); err != nil {
			t.Fatal(err)
		}
	}
	const all = 1000 // a read limit that takes in every transaction of the test
	commit := func(tx strategies.Tx) {
		t.Helper()
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// Other tests' transactions in other schemas go through the slot too: they give neither
	// rows nor positions.
	if ids, end := logRead(t, lr, all); len(ids) != 0 || end != 0 {
		t.Fatalf("fresh slot: read %q", ids)
	}
	// The outbox ids are taken in the order first, second; the commits go the other way.
	first, second := pgMustBegin(t, st), pgMustBegin(t, st)
	write(first, "o'1 first id")
	write(second, "o-2\nsecond id")
	commit(second)
	commit(first)
	pgCommitted(t, otherSt, func(ctx context.Context, tx strategies.Tx) error { return tx.AppendOutbox(ctx, msg("elsewhere")) })
	rolledBack := pgMustBegin(t, st)
	write(rolledBack, "never")
	_ = rolledBack.Rollback(ctx)
	third := pgMustBegin(t, st)
	write(third, "o3")
	commit(third)

	want := []string{"o-2\nsecond id", "o'1 first id", "o3"}
	ids, end := logReadRows(t, lr, len(want))
	if !slices.Equal(ids, want) || end == 0 {
		t.Fatalf("read %q (end %s), want %q in commit order", ids, formatLSN(end), want)
	}
	b, err := lr.Read(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	if b.Rows[2] != (strategies.OutboxRow{ID: 4, Msg: msg("o3")}) || b.Rows[0].ID != 2 || b.Rows[1].ID != 1 {
		t.Errorf("rows %+v: want ids 2, 1, 4 (the rolled-back insert took 3) and every column", b.Rows)
	}
	if again, againEnd := logRead(t, lr, all); !slices.Equal(again, ids) || againEnd != end {
		t.Fatalf("second read %q (end %s), want the same %q (end %s on): reading must not move the slot", again, formatLSN(againEnd), ids, formatLSN(end))
	}
	if n := logBacklog(t, slot); n != 3 {
		t.Errorf("backlog %d, want 3", n)
	}
	// A read of one hands out one transaction.
	one, oneEnd := logRead(t, lr, 1)
	if !slices.Equal(one, want[:1]) || oneEnd == 0 || oneEnd >= end {
		t.Fatalf("read of 1: %q (end %s), want %q before %s", one, formatLSN(oneEnd), want[:1], formatLSN(end))
	}
	if err := lr.Advance(ctx, oneEnd); err != nil {
		t.Fatal(err)
	}
	admin := realtest.AdminConn(t, inf)
	if at := slotConfirmed(t, admin, slot.Name); at != oneEnd {
		t.Fatalf("after the advance the slot is confirmed at %s, want %s", formatLSN(at), formatLSN(oneEnd))
	}
	if n := logBacklog(t, slot); n != 2 {
		t.Errorf("backlog %d after advancing past one transaction, want 2", n)
	}
	if rest, _ := logRead(t, lr, all); !slices.Equal(rest, want[1:]) {
		t.Fatalf("after advancing past the first transaction: %q, want %q", rest, want[1:])
	}
	if err := lr.Advance(ctx, end); err != nil {
		t.Fatal(err)
	}
	if ids, _ := logRead(t, lr, all); len(ids) != 0 {
		t.Fatalf("after the advance: read %q; want nothing", ids)
	}
	if n := logBacklog(t, slot); n != 0 {
		t.Errorf("backlog %d after the advance, want 0", n)
	}
	// An advance to an older position leaves the slot where it is.
	if err := lr.Advance(ctx, oneEnd); err != nil {
		t.Fatalf("advance backwards: %v", err)
	}
	if ids, _ := logRead(t, lr, all); len(ids) != 0 {
		t.Fatalf("an advance backwards brought back %q", ids)
	}
	fourth := pgMustBegin(t, st)
	write(fourth, "o4")
	commit(fourth)
	ids, e4 := logReadRows(t, lr, 1)
	if !slices.Equal(ids, []string{"o4"}) || e4 <= end {
		t.Fatalf("after a new commit: %q (end %s), want o4 after %s", ids, formatLSN(e4), formatLSN(end))
	}
	if err := lr.Advance(ctx, e4); err != nil {
		t.Fatal(err)
	}
	// Another schema's transaction alone: the tailer sees nothing, and the slot is confirmed
	// past it (it keeps no WAL for it).
	pgCommitted(t, otherSt, func(ctx context.Context, tx strategies.Tx) error { return tx.AppendOutbox(ctx, msg("elsewhere-2")) })
	var past uint64
	var lsn string
	if err := admin.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn); err != nil {
		t.Fatal(err)
	}
	if past, err = parseLSN(lsn); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for slotConfirmed(t, admin, slot.Name) < past {
		if ids, e := logRead(t, lr, all); len(ids) != 0 || e != 0 {
			t.Fatalf("only another schema's transaction left: read %q, end %s; want nothing", ids, formatLSN(e))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot is still confirmed at %s, before %s, after another schema's transaction",
				formatLSN(slotConfirmed(t, admin, slot.Name)), formatLSN(past))
		}
	}
}

// TestLogReaderErrors: a cut link is ErrConnection on Read, and an Advance after it sends
// nothing; the next Read streams again from the slot's confirmed position; an advance whose
// reply never comes is ErrUnknownOutcome, and it did move the slot.
func TestLogReaderErrors(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	s := pgTestSchema(t, inf)
	slot := logTestSlot(t, inf, s)
	st := pgTestStore(t, inf, s, "orders")
	link, via := pgTestLink(t, inf.PostgresURL)
	lr := logTestReader(t, infra.Infra{PostgresURL: via}, s, slot)
	admin := realtest.AdminConn(t, inf)
	logAppended(t, st, "m1")
	ids, end := logReadRows(t, lr, 1)
	if !slices.Equal(ids, []string{"m1"}) {
		t.Fatalf("read %q", ids)
	}

	// The link dies between two reads: the one after finds out, though m1 is in hand.
	link.Stop()
	_, err := lr.Read(testCtx(t), 10)
	pgWantIs(t, "read on a cut link", err, strategies.ErrConnection)
	err = lr.Advance(testCtx(t), end)
	pgWantIs(t, "advance after a lost connection", err, strategies.ErrConnection)
	if at := slotConfirmed(t, admin, slot.Name); at >= end {
		t.Fatalf("an advance without a connection moved the slot to %s", formatLSN(at))
	}
	if err := link.Start(); err != nil {
		t.Fatal(err)
	}
	// The server may still hold the slot for the lost walsender a moment: Read waits for it.
	if again, againEnd := logReadRows(t, lr, 1); !slices.Equal(again, ids) || againEnd != end {
		t.Fatalf("read after healing: %q (end %s), want %q (end %s)", again, formatLSN(againEnd), ids, formatLSN(end))
	}

	if _, err := link.Toxics.AddToxicJson(strings.NewReader(
		`{"name": "stall", "type": "timeout", "stream": "downstream", "toxicity": 1, "attributes": {"timeout": 0}}`)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(testCtx(t), 500*time.Millisecond)
	err = lr.Advance(ctx, end)
	cancel()
	pgWantIs(t, "advance without a reply", err, strategies.ErrUnknownOutcome)
	if at := slotConfirmed(t, admin, slot.Name); at != end {
		t.Errorf("after the advance whose reply was lost the slot is at %s, want %s", formatLSN(at), formatLSN(end))
	}
	link.Stop()
	if err := link.Start(); err != nil {
		t.Fatal(err)
	}
	if err := link.Toxics.RemoveToxic(context.Background(), "stall"); err != nil {
		t.Fatal(err)
	}
	logAppended(t, st, "m2")
	if ids, _ := logReadRows(t, lr, 1); !slices.Equal(ids, []string{"m2"}) {
		t.Fatalf("after the advance whose reply was lost: read %q, want m2 alone (the advance took effect)", ids)
	}
}

// TestLogReaderRestart: a reader that ends without advancing (its process died between
// publishing and advancing) leaves everything to the next one; what a reader advanced past does
// not come again.
func TestLogReaderRestart(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	s := pgTestSchema(t, inf)
	slot := logTestSlot(t, inf, s)
	st := pgTestStore(t, inf, s, "orders")
	logAppended(t, st, "m1")
	logAppended(t, st, "m2")
	first := logTestReader(t, inf, s, slot)
	ids, end := logReadRows(t, first, 2)
	if !slices.Equal(ids, []string{"m1", "m2"}) {
		t.Fatalf("first reader: %q", ids)
	}
	first.Close()
	second := logTestReader(t, inf, s, slot)
	if again, againEnd := logReadRows(t, second, 2); !slices.Equal(again, ids) || againEnd != end {
		t.Fatalf("second reader: %q (end %s), want %q (end %s)", again, formatLSN(againEnd), ids, formatLSN(end))
	}
	one, oneEnd := logRead(t, second, 1)
	if err := second.Advance(testCtx(t), oneEnd); err != nil || !slices.Equal(one, ids[:1]) {
		t.Fatalf("second reader: read %q, advance %v", one, err)
	}
	second.Close()
	logAppended(t, st, "m3")
	third := logTestReader(t, inf, s, slot)
	if rest, _ := logReadRows(t, third, 2); !slices.Equal(rest, []string{"m2", "m3"}) {
		t.Fatalf("third reader: %q, want m2 m3", rest)
	}
}

// TestCreateSlotRefusesExisting: a run never takes over a slot that exists already.
func TestCreateSlotRefusesExisting(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	s := pgTestSchema(t, inf)
	_ = logTestSlot(t, inf, s)
	_, err := CreateSlot(testCtx(t), inf.PostgresURL, s.Name)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second CreateSlot: %v, want a refusal", err)
	}
	if _, err := CreateSlot(testCtx(t), inf.PostgresURL, "not_ours"); err == nil {
		t.Fatal("CreateSlot of a name outside harness_<run id>: no error")
	}
}

// TestSlotDropTerminatesHolder: Drop ends the session that holds the run's slot (the tailer's
// walsender, or a peek that decodes a large transaction, which takes a while), then drops the
// slot and its publication.
func TestSlotDropTerminatesHolder(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	for _, holder := range []string{"walsender", "peek"} {
		t.Run(holder, func(t *testing.T) {
			t.Parallel()
			s := pgTestSchema(t, inf)
			slot := logTestSlot(t, inf, s)
			admin := realtest.AdminConn(t, inf)
			done := make(chan error, 1)
			switch holder {
			case "walsender":
				lr := logTestReader(t, inf, s, slot)
				logRead(t, lr, 1)
				go func() {
					// The reader's stream ends with its walsender.
					for {
						if _, err := lr.Read(context.Background(), 1); err != nil {
							done <- err
							return
						}
					}
				}()
			case "peek":
				if _, err := admin.Exec(testCtx(t), `INSERT INTO `+pgx.Identifier{s.Name, "outbox"}.Sanitize()+
					` (msg_id, key, amount, version, kind) SELECT 'm' || i, 'k', i, 0, 'x' FROM generate_series(1, 300000) i`); err != nil {
					t.Fatal(err)
				}
				peeker := realtest.AdminConn(t, inf)
				go func() {
					_, err := peeker.Exec(context.Background(), `SELECT count(*) FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL,
						'proto_version', '1', 'publication_names', $2)`, slot.Name, slot.Name)
					done <- err
				}()
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				var active bool
				if err := admin.QueryRow(testCtx(t), `SELECT active FROM pg_replication_slots WHERE slot_name = $1`, slot.Name).Scan(&active); err != nil {
					t.Fatal(err)
				}
				if active {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the %s never held the slot", holder)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := slot.Drop(context.Background()); err != nil {
				t.Fatal(err)
			}
			if realtest.SlotExists(t, admin, slot.Name) {
				t.Fatal("slot still there after Drop")
			}
			if publicationExists(t, admin, slot.Name) {
				t.Fatal("publication still there after Drop")
			}
			select {
			case err := <-done:
				if err == nil {
					t.Logf("the %s ended before Drop came to it: nothing to terminate", holder)
				} else {
					t.Logf("holder: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the %s still runs after Drop", holder)
			}
		})
	}
}

func publicationExists(t *testing.T, admin *pgx.Conn, name string) bool {
	t.Helper()
	var ok bool
	if err := admin.QueryRow(testCtx(t), `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}
