package pg

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
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
// test_decoding's text

func TestParseOutboxInsert(t *testing.T) {
	row := func(id int64, msgID, key string, amount, seq int64, kind string) strategies.OutboxRow {
		return strategies.OutboxRow{ID: id, Msg: history.Message{ID: msgID, Key: key, Amount: amount, Seq: seq, Kind: kind}}
	}
	tuple := func(msgID, key, kind string) string {
		return "id[bigint]:7 msg_id[text]:" + msgID + " key[text]:" + key +
			" amount[bigint]:10 version[bigint]:2 kind[text]:" + kind + " published[boolean]:false"
	}
	for _, tc := range []struct {
		name  string
		tuple string
		want  strategies.OutboxRow
		err   string // a part of the error; empty: no error
	}{
		{name: "plain", tuple: tuple("'order-1'", "'k1'", "'OrderPlaced'"), want: row(7, "order-1", "k1", 10, 2, "OrderPlaced")},
		{name: "doubled quote", tuple: tuple("'a''b c'", "'k'", "'Order''s'"), want: row(7, "a'b c", "k", 10, 2, "Order's")},
		{name: "quote at the end", tuple: tuple("'it'''", "''''", "'x'"), want: row(7, "it'", "'", 10, 2, "x")},
		{name: "value that looks like columns", tuple: tuple("'x'' key[text]:''evil'' amount[bigint]:99'", "'real'", "'k'"),
			want: row(7, "x' key[text]:'evil' amount[bigint]:99", "real", 10, 2, "k")},
		{name: "newline and tab", tuple: tuple("'new\nline\tand more'", "'k'", "'x'"), want: row(7, "new\nline\tand more", "k", 10, 2, "x")},
		{name: "empty text", tuple: tuple("'m'", "''", "''"), want: row(7, "m", "", 10, 2, "")},
		{name: "the text null is not NULL", tuple: tuple("'null'", "'k'", "'null'"), want: row(7, "null", "k", 10, 2, "null")},
		{name: "backslashes are not escapes", tuple: tuple(`'C:\path\'`, `'\'''`, `'\n'`), want: row(7, `C:\path\`, `\'`, 10, 2, `\n`)},
		{name: "unicode", tuple: tuple("'Zoë 注文 🧾'", "'ключ'", "'x'"), want: row(7, "Zoë 注文 🧾", "ключ", 10, 2, "x")},
		{name: "spaces only", tuple: tuple("'   '", "' a  b '", "' '"), want: row(7, "   ", " a  b ", 10, 2, " ")},
		{name: "extremes", tuple: "id[bigint]:9223372036854775807 msg_id[text]:'m' key[text]:'k' amount[bigint]:-9223372036854775808 " +
			"version[bigint]:-1 kind[text]:'x' published[boolean]:true",
			want: row(9223372036854775807, "m", "k", -9223372036854775808, -1, "x")},
		{name: "other columns and order", tuple: `"odd ""col"[character varying(10)]:'v w' tags[text[]]:'{a,"b c"}' ` +
			`kind[text]:'K' version[bigint]:3 amount[bigint]:4 key[text]:'k' msg_id[text]:'m' id[bigint]:1 ` +
			`at[timestamp with time zone]:'2024-01-02 03:04:05+00' big[text]:unchanged-toast-datum gone[integer]:null`,
			want: row(1, "m", "k", 4, 3, "K")},
		{name: "NULL in a needed column", tuple: tuple("null", "'k'", "'x'"), err: "column msg_id is null"},
		{name: "missing column", tuple: "id[bigint]:1 msg_id[text]:'m' key[text]:'k' amount[bigint]:1 kind[text]:'x'", err: "no column version"},
		{name: "not a number", tuple: "id[bigint]:x1 msg_id[text]:'m' key[text]:'k' amount[bigint]:1 version[bigint]:0 kind[text]:'x'", err: "column id"},
		{name: "unterminated quote", tuple: "id[bigint]:1 msg_id[text]:'m key[text]:''k", err: "unterminated"},
		{name: "unterminated type", tuple: "id[bigint:1", err: "unterminated type"},
		{name: "no separator", tuple: "id[bigint]:1 msg_id[text]:'m'key[text]:'k'", err: "want a space"},
		{name: "no tuple", tuple: "(no-tuple-data)", err: "no tuple data"},
		{name: "empty", tuple: "", err: "no columns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseOutboxInsert(tc.tuple)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseTupleColumns(t *testing.T) {
	got, err := parseTuple(`"a ""q"""[text]:'x' b[numeric(10,2)]:1.50 c[bit(4)]:B'0101' d[boolean]:null e[text]:'null'`)
	if err != nil {
		t.Fatal(err)
	}
	want := []decodedColumn{
		{Name: `a "q"`, Type: "text", Value: "x"},
		{Name: "b", Type: "numeric(10,2)", Value: "1.50"},
		{Name: "c", Type: "bit(4)", Value: "B'0101'"},
		{Name: "d", Type: "boolean", Value: "null", Null: true},
		{Name: "e", Type: "text", Value: "null"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestDecodeBatch(t *testing.T) {
	prefix := outboxInsertPrefix("harness_r1")
	if prefix != "table harness_r1.outbox: INSERT: " {
		t.Fatalf("prefix %q", prefix)
	}
	ins := func(id int, msg string) string {
		return fmt.Sprintf("%sid[bigint]:%d msg_id[text]:'%s' key[text]:'k' amount[bigint]:1 version[bigint]:0 kind[text]:'x' published[boolean]:false", prefix, id, msg)
	}
	lines := []logLine{
		{"0/10", ins(2, "b")}, {"0/20", "COMMIT"},
		{"0/30", "COMMIT"}, // another schema's transaction: only its COMMIT is kept
		{"0/40", ins(1, "a")}, {"0/48", ins(3, "c")}, {"1/A0", "COMMIT"},
		{"1/B0", "table harness_r2.outbox: INSERT: id[bigint]:1"}, // filtered out by the query; skipped here too
	}
	b, err := decodeBatch(lines, prefix)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range b.Rows {
		ids = append(ids, r.Msg.ID)
	}
	if !slices.Equal(ids, []string{"b", "a", "c"}) || b.End != 1<<32|0xA0 {
		t.Errorf("got rows %v, end %s; want b a c, end 1/A0", ids, formatLSN(b.End))
	}
	if b, err := decodeBatch(nil, prefix); err != nil || b.End != 0 || len(b.Rows) != 0 {
		t.Errorf("empty read: %+v, %v", b, err)
	}
	if _, err := decodeBatch([]logLine{{"0/1", ins(1, "a")[:len(ins(1, "a"))-30]}}, prefix); err == nil {
		t.Errorf("a cut insert line decoded without an error")
	}
}

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
// after the advance nothing does, until the next commit.
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

	// Other tests' transactions in other schemas go through the slot too: they give positions,
	// never rows.
	if ids, _ := logRead(t, lr, all); len(ids) != 0 {
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
	ids, end := logRead(t, lr, all)
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
	// (End may be further: other schemas' commits since.)
	if again, againEnd := logRead(t, lr, all); !slices.Equal(again, ids) || againEnd < end {
		t.Fatalf("second read %q (end %s), want the same %q (end %s on): reading must not move the slot", again, formatLSN(againEnd), ids, formatLSN(end))
	}
	if n := logBacklog(t, slot); n != 3 {
		t.Errorf("backlog %d, want 3", n)
	}
	// A read of one decodes one transaction (other schemas' first, if they committed before).
	var one []string
	var oneEnd uint64
	for len(one) == 0 {
		one, oneEnd = logRead(t, lr, 1)
		if oneEnd == 0 || oneEnd >= end {
			t.Fatalf("read of 1: %q (end %s), want %q before %s", one, formatLSN(oneEnd), want[:1], formatLSN(end))
		}
		if err := lr.Advance(ctx, oneEnd); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(one, want[:1]) {
		t.Fatalf("read of 1: %q, want %q", one, want[:1])
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
	ids, e4 := logRead(t, lr, all)
	if !slices.Equal(ids, []string{"o4"}) || e4 <= end {
		t.Fatalf("after a new commit: %q (end %s), want o4 after %s", ids, formatLSN(e4), formatLSN(end))
	}
	if err := lr.Advance(ctx, e4); err != nil {
		t.Fatal(err)
	}
	// Another schema's transaction alone: Read passes it (the slot moves) and reports nothing.
	pgCommitted(t, otherSt, func(ctx context.Context, tx strategies.Tx) error { return tx.AppendOutbox(ctx, msg("elsewhere-2")) })
	if ids, e := logRead(t, lr, all); len(ids) != 0 || e != 0 {
		t.Errorf("only another schema's transaction left: read %q, end %s; want nothing", ids, formatLSN(e))
	}
	var left int
	if err := realtest.AdminConn(t, inf).QueryRow(ctx, `SELECT count(*) FROM pg_logical_slot_peek_changes($1, NULL, NULL)
		WHERE starts_with(data, $2)`, slot.Name, outboxInsertPrefix(other.Name)).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("the slot still holds %d inserts of the other schema after a read that found only them", left)
	}
}

// TestLogReaderErrors: a cut link is ErrConnection on Read; an advance whose reply never comes is
// ErrUnknownOutcome, and it did move the slot.
func TestLogReaderErrors(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	s := pgTestSchema(t, inf)
	slot := logTestSlot(t, inf, s)
	st := pgTestStore(t, inf, s, "orders")
	link, via := pgTestLink(t, inf.PostgresURL)
	lr := logTestReader(t, infra.Infra{PostgresURL: via}, s, slot)
	pgCommitted(t, st, func(ctx context.Context, tx strategies.Tx) error {
		return tx.AppendOutbox(ctx, history.Message{ID: "m1", Key: "k", Amount: 1})
	})
	ids, end := logRead(t, lr, 10)
	if !slices.Equal(ids, []string{"m1"}) {
		t.Fatalf("read %q", ids)
	}

	link.Stop()
	_, err := lr.Read(testCtx(t), 10)
	pgWantIs(t, "read on a cut link", err, strategies.ErrConnection)
	if err := link.Start(); err != nil {
		t.Fatal(err)
	}
	if again, _ := logRead(t, lr, 10); !slices.Equal(again, ids) {
		t.Fatalf("read after healing: %q", again)
	}

	if _, err := link.Toxics.AddToxicJson(strings.NewReader(
		`{"name": "stall", "type": "timeout", "stream": "downstream", "toxicity": 1, "attributes": {"timeout": 0}}`)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(testCtx(t), 500*time.Millisecond)
	err = lr.Advance(ctx, end)
	cancel()
	pgWantIs(t, "advance without a reply", err, strategies.ErrUnknownOutcome)
	link.Stop()
	if err := link.Start(); err != nil {
		t.Fatal(err)
	}
	if err := link.Toxics.RemoveToxic(context.Background(), "stall"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		// The server may still hold the slot for the lost session a moment.
		b, err := lr.Read(testCtx(t), 10)
		if err == nil && len(b.Rows) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the advance whose reply was lost: read %+v, %v; want nothing (the advance took effect)", b, err)
		}
		time.Sleep(50 * time.Millisecond)
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

// TestSlotDropTerminatesHolder: Drop ends the session that holds the run's slot, then drops it.
// The holder is a peek that decodes a large transaction, which takes a while.
func TestSlotDropTerminatesHolder(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	s := pgTestSchema(t, inf)
	slot := logTestSlot(t, inf, s)
	admin, holder := realtest.AdminConn(t, inf), realtest.AdminConn(t, inf)
	if _, err := admin.Exec(testCtx(t), `INSERT INTO `+pgx.Identifier{s.Name, "outbox"}.Sanitize()+
		` (msg_id, key, amount, version, kind) SELECT 'm' || i, 'k', i, 0, 'x' FROM generate_series(1, 300000) i`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := holder.Exec(context.Background(), `SELECT count(*) FROM pg_logical_slot_peek_changes($1, NULL, NULL)`, slot.Name)
		done <- err
	}()
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
			t.Fatal("the peek never held the slot")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := slot.Drop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if realtest.SlotExists(t, admin, slot.Name) {
		t.Fatal("slot still there after Drop")
	}
	if err := <-done; err == nil {
		t.Log("the peek ended before Drop came to it: nothing to terminate")
	} else {
		t.Logf("holder: %v", err)
	}
}
