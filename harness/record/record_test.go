package record_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/record"
	"github.com/deliveryharness/harness/strategies"
)

type log struct{ events []history.Event }

func (l *log) Now() int64          { return int64(len(l.events)) }
func (l *log) Add(e history.Event) { l.events = append(l.events, e) }
func (l *log) lines() []string {
	out := make([]string, len(l.events))
	for i, e := range l.events {
		out[i] = e.String()
	}
	return out
}

// port is a minimal port whose calls fail with the errors it is given.
type port struct{ commitErr, waitErr, ackErr error }

func (p *port) Begin(context.Context) (strategies.Tx, error)             { return p, nil }
func (p *port) InsertBusiness(context.Context, strategies.Message) error { return nil }
func (p *port) AppendOutbox(context.Context, strategies.Message) error   { return nil }
func (p *port) ClaimOutbox(context.Context, int) ([]strategies.OutboxRow, error) {
	return nil, nil
}
func (p *port) MarkPublished(context.Context, []int64) error { return nil }
func (p *port) ReadOutboxAfter(context.Context, int64, int) ([]strategies.OutboxRow, error) {
	return nil, nil
}
func (p *port) RelayCursor(context.Context, string) (int64, error)  { return 0, nil }
func (p *port) SetRelayCursor(context.Context, string, int64) error { return nil }
func (p *port) ReadOutboxFenced(context.Context, strategies.Position, int) ([]strategies.OutboxRow, error) {
	return nil, nil
}
func (p *port) RelayPosition(context.Context, string) (strategies.Position, error) {
	return strategies.Position{}, nil
}
func (p *port) SetRelayPosition(context.Context, string, strategies.Position) error { return nil }
func (p *port) Apply(context.Context, strategies.Message) error                     { return nil }
func (p *port) ApplyIdempotent(context.Context, strategies.Message) error           { return nil }
func (p *port) ApplyVersioned(context.Context, strategies.Message) (bool, error) {
	return false, nil
}
func (p *port) InboxInsert(context.Context, string, string) error {
	return fmt.Errorf("insert: %w", strategies.ErrDuplicateKey)
}
func (p *port) InboxContains(context.Context, string, string) (bool, error) { return true, nil }
func (p *port) RecordProcessed(context.Context, string, string) error       { return nil }
func (p *port) Processed(context.Context, string, string) (bool, error)     { return false, nil }
func (p *port) Commit(context.Context) error                                { return p.commitErr }
func (p *port) Rollback(context.Context) error                              { return nil }
func (p *port) Publish(context.Context, strategies.Message) (strategies.Confirmation, error) {
	return p, nil
}
func (p *port) Wait(context.Context) error { return p.waitErr }
func (p *port) Next(context.Context) (strategies.Delivery, error) {
	return strategies.Delivery{Msg: strategies.Message{ID: "m-1", Key: "k"}, Tag: 7, Redelivered: true}, nil
}
func (p *port) Ack(context.Context, uint64) error        { return p.ackErr }
func (p *port) Nack(context.Context, uint64, bool) error { return nil }

// TestOutcomes: the History says what the caller knows: any commit error is unknown (the COMMIT
// may have taken effect), a missing confirm is unknown, a duplicate key is a failure, and an
// empty relay poll leaves no trace.
func TestOutcomes(t *testing.T) {
	ctx := context.Background()
	m := strategies.Message{ID: "m-1", Key: "k"}
	cases := []struct {
		name string
		p    *port
		run  func(s strategies.Store, pub strategies.Publisher, sub strategies.Subscription)
		want []string
	}{
		{"commit lost connection is unknown", &port{commitErr: errors.New("conn closed")}, func(s strategies.Store, _ strategies.Publisher, _ strategies.Subscription) {
			tx, _ := s.Begin(ctx)
			_ = tx.InsertBusiness(ctx, m)
			_ = tx.Commit(ctx)
		}, []string{"p insert m-1 -> ok", "p commit m-1 -> unknown (conn closed)"}},
		{"confirm missing is unknown", &port{waitErr: strategies.ErrNoConfirm}, func(_ strategies.Store, pub strategies.Publisher, _ strategies.Subscription) {
			c, _ := pub.Publish(ctx, m)
			_ = c.Wait(ctx)
		}, []string{"p publish m-1 -> ok", "p confirm m-1 -> unknown (strategies: no publisher confirm)"}},
		{"confirm on a closed channel is unknown", &port{waitErr: strategies.ErrChannelClosed}, func(_ strategies.Store, pub strategies.Publisher, _ strategies.Subscription) {
			c, _ := pub.Publish(ctx, m)
			_ = c.Wait(ctx)
		}, []string{"p publish m-1 -> ok", "p confirm m-1 -> unknown (strategies: broker channel closed)"}},
		{"duplicate key fails; check says seen", &port{}, func(s strategies.Store, _ strategies.Publisher, _ strategies.Subscription) {
			tx, _ := s.Begin(ctx)
			_, _ = tx.InboxContains(ctx, "g", "m-1")
			_ = tx.InboxInsert(ctx, "g", "m-1")
			_ = tx.Rollback(ctx)
		}, []string{"p check m-1 -> ok (inbox: seen)", "p inbox m-1 -> fail (insert: strategies: duplicate key)", "p rollback m-1 -> ok"}},
		{"empty claim leaves no trace", &port{}, func(s strategies.Store, _ strategies.Publisher, _ strategies.Subscription) {
			tx, _ := s.Begin(ctx)
			_, _ = tx.ClaimOutbox(ctx, 10)
			_ = tx.Rollback(ctx)
		}, nil},
		{"deliveries carry the flag; acks name the message", &port{}, func(_ strategies.Store, _ strategies.Publisher, sub strategies.Subscription) {
			d, _ := sub.Next(ctx)
			_ = sub.Ack(ctx, d.Tag)
		}, []string{"p receive m-1 -> ok (redelivered)", "p ack m-1 -> ok"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := &log{}
			tc.run(record.Store(tc.p, l, "p"), record.Publisher(tc.p, l, "p"), record.Subscription(tc.p, l, "p"))
			if got, want := strings.Join(l.lines(), "\n"), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestFields: what a reader follows a message by is in fields, not only in the detail: the ids a
// transaction of several touched, the redelivered flag, and the defence that turned a copy away.
func TestFields(t *testing.T) {
	ctx := context.Background()
	l := &log{}
	p := &port{commitErr: errors.New("conn closed")}
	s, sub := record.Store(p, l, "p"), record.Subscription(p, l, "p")
	tx, _ := s.Begin(ctx)
	_, _ = tx.InboxContains(ctx, "g", "m-1")
	_, _ = tx.Processed(ctx, "g", "m-2")
	_, _ = tx.ApplyVersioned(ctx, strategies.Message{ID: "m-3", Key: "k", Seq: 2})
	_ = tx.Commit(ctx)
	_, _ = sub.Next(ctx)

	type fields struct {
		msg         string
		msgs        []string
		redelivered bool
		guard       history.Guard
		detail      string
	}
	want := []fields{
		{msg: "m-1", guard: history.GuardInbox, detail: "inbox: seen"},
		{msg: "m-2", detail: "processed log: not seen"},
		{msg: "m-3", guard: history.GuardVersion, detail: "versioned: seq 2 not newer, skipped"},
		{msgs: []string{"m-1", "m-2", "m-3"}, detail: "m-1 m-2 m-3 conn closed"},
		{msg: "m-1", redelivered: true, detail: "redelivered"},
	}
	if len(l.events) != len(want) {
		t.Fatalf("got %d events, want %d:\n%s", len(l.events), len(want), strings.Join(l.lines(), "\n"))
	}
	for i, e := range l.events {
		got := fields{e.Msg, e.Msgs, e.Redelivered, e.Guard, e.Detail}
		if fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("event %d (%s): got %+v, want %+v", i, e, got, want[i])
		}
	}
	if !l.events[3].Names("m-2") || l.events[3].Names("m-4") {
		t.Errorf("the commit of m-1 m-2 m-3 names: m-2 %v, m-4 %v", l.events[3].Names("m-2"), l.events[3].Names("m-4"))
	}
}
