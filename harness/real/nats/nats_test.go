package nats

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
)

// newStream creates a stream of the test's own, deleted when the test ends.
func newStream(t *testing.T) (*Stream, string) {
	t.Helper()
	inf := realtest.RequireNATS(t)
	ctx := realtest.Context(t)
	s, err := CreateStream(ctx, inf.NATSURL, realtest.RunID(t), "effects")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Delete(context.Background()); err != nil {
			t.Error(err)
		}
		_ = s.Close()
	})
	return s, inf.NATSURL
}

func publish(t *testing.T, p *Publisher, id string) *confirmation {
	t.Helper()
	ctx := realtest.Context(t)
	c, err := p.Publish(ctx, history.Message{ID: id, Key: "k", Seq: 1, Amount: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("confirm of %s: %v", id, err)
	}
	return c.(*confirmation)
}

// The stream's duplicate window drops a repeat of a message id within strategies.Window and
// confirms it (a Duplicate PubAck); a repeat after the window is stored again.
func TestDuplicateWindow(t *testing.T) {
	s, url := newStream(t)
	ctx := realtest.Context(t)
	p, err := NewPublisher(ctx, url, s.Subject, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if c := publish(t, p, "m1"); c.Duplicate() {
		t.Fatal("first publish of m1 confirmed as a duplicate")
	}
	if c := publish(t, p, "m1"); !c.Duplicate() {
		t.Fatal("repeat of m1 within the window: want a Duplicate PubAck")
	}
	if n, err := s.Stored(ctx); err != nil || n != 1 {
		t.Fatalf("stored after a repeat within the window: %d (%v), want 1", n, err)
	}
	// The server forgets ids older than the window at its next purge, at most a window later.
	time.Sleep(2*strategies.Window + 200*time.Millisecond)
	if c := publish(t, p, "m1"); c.Duplicate() {
		t.Fatal("repeat of m1 after the window: confirmed as a duplicate, want stored again")
	}
	if n, err := s.Stored(ctx); err != nil || n != 2 {
		t.Fatalf("stored after a repeat past the window: %d (%v), want 2", n, err)
	}
}

// An unacknowledged message comes back after the ack wait, flagged redelivered, also to another
// process of the group; an acknowledged one does not; Nak redelivers at once, Term never.
func TestRedelivery(t *testing.T) {
	s, url := newStream(t)
	ctx := realtest.Context(t)
	p, err := NewPublisher(ctx, url, s.Subject, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, id := range []string{"a", "b", "c", "d"} {
		publish(t, p, id)
	}
	sub1, err := NewSubscription(ctx, url, s.Name, s.Durable, 4, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer sub1.Close()
	got := map[string]strategies.Delivery{}
	for len(got) < 4 {
		d, err := sub1.Next(ctx)
		if err != nil {
			t.Fatalf("next after %d: %v", len(got), err)
		}
		if d.Redelivered {
			t.Fatalf("%s: first delivery flagged redelivered", d.Msg.ID)
		}
		got[d.Msg.ID] = d
	}
	if err := sub1.Ack(ctx, got["a"].Tag); err != nil {
		t.Fatal(err)
	}
	if err := sub1.Nack(ctx, got["b"].Tag, true); err != nil {
		t.Fatal(err)
	}
	if err := sub1.Nack(ctx, got["c"].Tag, false); err != nil {
		t.Fatal(err)
	}
	// b is back at once (Nak); d only after the ack wait, and then to the other process too.
	start := time.Now()
	d, err := sub1.Next(ctx)
	if err != nil || d.Msg.ID != "b" || !d.Redelivered {
		t.Fatalf("after Nak: %+v, %v; want b redelivered", d, err)
	}
	if err := sub1.Ack(ctx, d.Tag); err != nil {
		t.Fatal(err)
	}
	_ = sub1.Close() // d is held by a closed connection: it comes back after the ack wait, not at once
	sub2, err := NewSubscription(ctx, url, s.Name, s.Durable, 1, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	var redelivered []string
	for time.Since(start) < 3*AckWait {
		d, err := sub2.Next(ctx)
		if errors.Is(err, strategies.ErrIdle) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !d.Redelivered {
			t.Errorf("%s redelivered without the flag", d.Msg.ID)
		}
		if since := time.Since(start); since < AckWait-50*time.Millisecond {
			t.Errorf("%s back after %v, before the ack wait %v", d.Msg.ID, since, AckWait)
		}
		redelivered = append(redelivered, d.Msg.ID)
		if err := sub2.Ack(ctx, d.Tag); err != nil {
			t.Fatal(err)
		}
	}
	if len(redelivered) != 1 || redelivered[0] != "d" {
		t.Fatalf("redelivered after the ack wait: %v, want [d] (a acked, b acked, c terminated)", redelivered)
	}
	if pending, ackPending, err := s.Depth(ctx); err != nil || pending != 0 || ackPending != 0 {
		t.Fatalf("depth: %d pending, %d ack pending (%v), want 0, 0", pending, ackPending, err)
	}
}

// A process holds at most its prefetch unacknowledged; it gets more once it acks.
func TestPrefetch(t *testing.T) {
	s, url := newStream(t)
	ctx := realtest.Context(t)
	p, _ := NewPublisher(ctx, url, s.Subject, time.Second)
	defer p.Close()
	for _, id := range []string{"a", "b", "c"} {
		publish(t, p, id)
	}
	sub, _ := NewSubscription(ctx, url, s.Name, s.Durable, 2, 100*time.Millisecond)
	defer sub.Close()
	d1, err1 := sub.Next(ctx)
	d2, err2 := sub.Next(ctx)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := sub.Next(ctx); !errors.Is(err, strategies.ErrIdle) {
		t.Fatalf("third next with a prefetch of 2 held: %v, want ErrIdle", err)
	}
	if err := sub.Ack(ctx, d1.Tag); err != nil {
		t.Fatal(err)
	}
	d3, err := sub.Next(ctx)
	if err != nil || d3.Msg.ID == d1.Msg.ID || d3.Msg.ID == d2.Msg.ID {
		t.Fatalf("after an ack: %+v, %v; want the third message", d3, err)
	}
}

// A closed connection: Next and a tag of it say ErrChannelClosed-free reconnect; Ack of an old tag
// says ErrChannelClosed.
func TestClosedConnection(t *testing.T) {
	s, url := newStream(t)
	ctx := realtest.Context(t)
	p, _ := NewPublisher(ctx, url, s.Subject, time.Second)
	defer p.Close()
	publish(t, p, "a")
	sub, _ := NewSubscription(ctx, url, s.Name, s.Durable, 1, 100*time.Millisecond)
	defer sub.Close()
	d, err := sub.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sub.mu.Lock()
	sub.sess.nc.Close() // the link died
	sub.mu.Unlock()
	if err := sub.Ack(ctx, d.Tag); !errors.Is(err, strategies.ErrChannelClosed) {
		t.Fatalf("ack on a dead connection: %v, want ErrChannelClosed", err)
	}
	// The next call reconnects; the message comes back after the ack wait.
	deadline := time.Now().Add(3 * AckWait)
	for time.Now().Before(deadline) {
		d, err := sub.Next(ctx)
		if errors.Is(err, strategies.ErrIdle) || errors.Is(err, strategies.ErrChannelClosed) {
			continue
		}
		if err != nil || d.Msg.ID != "a" || !d.Redelivered {
			t.Fatalf("after reconnecting: %+v, %v", d, err)
		}
		return
	}
	t.Fatal("a never came back after the ack wait")
}

// Delete and Exists refuse what is not the run's: a stream of the harness's name without the
// run's marker stays.
func TestForeignStream(t *testing.T) {
	inf := realtest.RequireNATS(t)
	ctx := realtest.Context(t)
	runID := realtest.RunID(t)
	nc, err := natsgo.Connect(inf.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: StreamName(runID), Subjects: []string{"foreign." + runID}, Description: "not the harness's"}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = js.DeleteStream(context.Background(), StreamName(runID)) }()
	if _, err := CreateStream(ctx, inf.NATSURL, runID, "effects"); err == nil {
		t.Fatal("CreateStream over an existing stream: want a refusal")
	}
	h := StreamOf(inf.NATSURL, runID)
	defer h.Close()
	if ok, err := h.Exists(ctx); err != nil || ok {
		t.Fatalf("Exists of a foreign stream: %v, %v; want false", ok, err)
	}
	if err := h.Delete(ctx); err == nil {
		t.Fatal("Delete of a stream without the run's marker: want a refusal")
	}
	if _, err := js.Stream(ctx, StreamName(runID)); err != nil {
		t.Fatalf("the foreign stream is gone: %v", err)
	}
}

func TestBadURL(t *testing.T) {
	for _, raw := range []string{"amqp://guest:secret@h/", "nats://", "::"} {
		_, err := NewPublisher(context.Background(), raw, "s", time.Second)
		if err == nil {
			t.Errorf("%q: want an error", raw)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%q: error carries the password: %v", raw, err)
		}
	}
}
