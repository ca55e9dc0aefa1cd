package fault

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/deliveryharness/harness/strategies"
)

// outboxStore is a Store whose transactions read a fixed outbox; rows commits more between reads.
type outboxStore struct {
	rows  []strategies.OutboxRow
	reads int
	fail  bool
}

func (s *outboxStore) Begin(context.Context) (strategies.Tx, error) {
	if s.fail {
		return nil, strategies.ErrConnection
	}
	return &outboxTx{s: s}, nil
}

type outboxTx struct {
	strategies.Tx // every other statement panics: the feed must not use it
	s             *outboxStore
}

func (t *outboxTx) ReadOutboxAfter(_ context.Context, after int64, limit int) ([]strategies.OutboxRow, error) {
	t.s.reads++
	var out []strategies.OutboxRow
	for _, r := range t.s.rows {
		if r.ID > after && len(out) < limit {
			out = append(out, r)
		}
	}
	return out, nil
}

func (t *outboxTx) Rollback(context.Context) error { return nil }

// liveSub is the live queue: deliveries in order, acks and nacks noted.
type liveSub struct {
	ds           []strategies.Delivery
	acked, nackd []uint64
}

func (l *liveSub) Next(context.Context) (strategies.Delivery, error) {
	if len(l.ds) == 0 {
		return strategies.Delivery{}, strategies.ErrIdle
	}
	d := l.ds[0]
	l.ds = l.ds[1:]
	return d, nil
}

func (l *liveSub) Ack(_ context.Context, tag uint64) error {
	l.acked = append(l.acked, tag)
	return nil
}

func (l *liveSub) Nack(_ context.Context, tag uint64, _ bool) error {
	l.nackd = append(l.nackd, tag)
	return nil
}

func row(id int64, msg string) strategies.OutboxRow {
	return strategies.OutboxRow{ID: id, Msg: strategies.Message{ID: msg, Key: msg}}
}

// TestCatchUpReplaysThenGoesLive: the outbox's rows in id order, across batches and rows that
// commit during the replay, then the live queue, whose copy of a replayed row comes again; acks
// of replayed rows never reach the broker, a requeued one comes again next.
func TestCatchUpReplaysThenGoesLive(t *testing.T) {
	ctx := context.Background()
	st := &outboxStore{}
	for i := int64(1); i <= CatchUpBatch+1; i++ {
		st.rows = append(st.rows, row(i, "m"))
	}
	st.rows[0].Msg.ID, st.rows[CatchUpBatch].Msg.ID = "first", "last"
	live := &liveSub{ds: []strategies.Delivery{{Msg: strategies.Message{ID: "last"}, Tag: 1}, {Msg: strategies.Message{ID: "new"}, Tag: 2}}}
	var noted []int64
	sub := CatchUp(live, st, func(r strategies.OutboxRow) { noted = append(noted, r.ID) })

	d, err := sub.Next(ctx)
	if err != nil || d.Msg.ID != "first" || d.Redelivered {
		t.Fatalf("first delivery %+v, %v: want the outbox's first row, not flagged", d, err)
	}
	if err := sub.Nack(ctx, d.Tag, true); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		d, err := sub.Next(ctx)
		if errors.Is(err, strategies.ErrIdle) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Msg.ID)
		if len(got) == CatchUpBatch/2 {
			st.rows = append(st.rows, row(CatchUpBatch+2, "committed-during-replay"))
		}
		if err := sub.Ack(ctx, d.Tag); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"first"}
	for range CatchUpBatch - 1 {
		want = append(want, "m")
	}
	want = append(want, "last", "committed-during-replay", "last", "new")
	if !slices.Equal(got, want) {
		t.Errorf("deliveries %q\nwant %q", got, want)
	}
	if !slices.Equal(live.acked, []uint64{1, 2}) || len(live.nackd) != 0 {
		t.Errorf("the broker got acks %v and nacks %v; want only the live deliveries' acks [1 2]", live.acked, live.nackd)
	}
	if len(noted) != CatchUpBatch+3 || noted[0] != 1 || noted[1] != 1 || noted[len(noted)-1] != CatchUpBatch+2 {
		t.Errorf("rows noted as replayed %v, want every row handed out from the replay, the one handed back twice", noted)
	}
	if st.reads != 3 {
		t.Errorf("%d outbox reads, want 3 (a full batch, the rest, an empty one)", st.reads)
	}
}

// TestCatchUpReadFails: a failed read is Next's error, and the replay goes on from where it was.
func TestCatchUpReadFails(t *testing.T) {
	ctx := context.Background()
	st := &outboxStore{rows: []strategies.OutboxRow{row(1, "a"), row(2, "b")}, fail: true}
	sub := CatchUp(&liveSub{}, st, nil)
	if _, err := sub.Next(ctx); !errors.Is(err, strategies.ErrConnection) {
		t.Fatalf("Next with the database unreachable: %v, want ErrConnection", err)
	}
	st.fail = false
	if d, err := sub.Next(ctx); err != nil || d.Msg.ID != "a" {
		t.Fatalf("Next after the database came back: %+v, %v; want the first row", d, err)
	}
}
