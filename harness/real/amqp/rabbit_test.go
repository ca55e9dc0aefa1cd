package amqp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
)

// ---------------------------------------------------------------------------------------------
// Helpers

// newTestQueue declares this test's queue and deletes it afterwards.
func newTestQueue(t *testing.T, inf infra.Infra) *Queue {
	t.Helper()
	q, err := DeclareQueue(testCtx(t), inf.AMQPURL, testRunID(t))
	if err != nil {
		t.Fatalf("DeclareQueue: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := q.Delete(ctx); err != nil {
			t.Errorf("Delete %s: %v", q.Name, err)
		}
		if err := q.Close(); err != nil {
			t.Errorf("Close %s: %v", q.Name, err)
		}
	})
	return q
}

func newTestPublisher(t *testing.T, rawURL, queue string, confirmTimeout time.Duration) *Publisher {
	t.Helper()
	p, err := NewPublisher(testCtx(t), rawURL, queue, confirmTimeout)
	if err != nil {
		t.Fatalf("NewPublisher: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func newTestSubscription(t *testing.T, rawURL, queue string, prefetch int, idle time.Duration) *Subscription {
	t.Helper()
	s, err := NewSubscription(testCtx(t), rawURL, queue, prefetch, idle)
	if err != nil {
		t.Fatalf("NewSubscription: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testMsg(i int) history.Message {
	return history.Message{ID: fmt.Sprintf("order-%d", i), Key: fmt.Sprintf("o%d", i), Amount: int64(100 + i), Seq: 1, Kind: "OrderPlaced"}
}

// publishConfirmed publishes each message and waits for its confirm.
func publishConfirmed(t *testing.T, p *Publisher, msgs ...history.Message) {
	t.Helper()
	ctx := testCtx(t)
	for _, m := range msgs {
		c, err := p.Publish(ctx, m)
		if err != nil {
			t.Fatalf("Publish %s: %v", m.ID, err)
		}
		if err := c.Wait(ctx); err != nil {
			t.Fatalf("Wait %s: %v", m.ID, err)
		}
	}
}

// mustNext returns the next delivery and checks its message and redelivered flag.
func mustNext(t *testing.T, s *Subscription, want history.Message, redelivered bool) strategies.Delivery {
	t.Helper()
	d, err := s.Next(testCtx(t))
	if err != nil {
		t.Fatalf("Next (want %s): %v", want.ID, err)
	}
	if d.Msg != want || d.Redelivered != redelivered {
		t.Fatalf("Next = %+v redelivered=%v, want %+v redelivered=%v", d.Msg, d.Redelivered, want, redelivered)
	}
	return d
}

func mustIdle(t *testing.T, s *Subscription) {
	t.Helper()
	if d, err := s.Next(testCtx(t)); !errors.Is(err, strategies.ErrIdle) {
		t.Fatalf("Next = %+v, %v; want ErrIdle", d, err)
	}
}

func mustDepth(t *testing.T, q *Queue, want int) {
	t.Helper()
	got, err := q.Depth(testCtx(t))
	if err != nil {
		t.Fatalf("Depth: %v", err)
	}
	if got != want {
		t.Fatalf("Depth = %d, want %d", got, want)
	}
}

// eventuallyDepth waits up to 2 s for the queue to hold want ready messages.
func eventuallyDepth(t *testing.T, q *Queue, want int) {
	t.Helper()
	var got int
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var err error
		if got, err = q.Depth(testCtx(t)); err != nil {
			t.Fatalf("Depth: %v", err)
		}
		if got == want {
			return
		}
	}
	t.Fatalf("Depth = %d, want %d", got, want)
}

// rawChannel is a plain amqp091 channel for checks outside the package's API.
func rawChannel(t *testing.T, rawURL string) *amqp091.Channel {
	t.Helper()
	conn, err := dial(testCtx(t), rawURL, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = closeConn(conn) })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// linkProxy is a TCP relay between a client and the broker that can swallow what the broker
// sends on the links open now (a downstream timeout toxic) or cut them (both sockets closed).
type linkProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	links  []*link
}

type link struct {
	client, server net.Conn
	swallow        atomic.Bool
}

// proxyURL starts a relay to rawURL's host and returns the URL that goes through it.
func proxyURL(t *testing.T, rawURL string) (*linkProxy, string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{ln: ln, target: u.Host}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
	})
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *linkProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target, 2*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		l := &link{client: c, server: s}
		p.mu.Lock()
		p.links = append(p.links, l)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 && !l.swallow.Load() {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					_ = c.Close()
					return
				}
			}
		}()
	}
}

// swallow drops everything the broker sends on the links open now; later links work.
func (p *linkProxy) swallow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		l.swallow.Store(true)
	}
}

// cut closes both sockets of every link open now.
func (p *linkProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.links {
		_ = l.client.Close()
		_ = l.server.Close()
	}
	p.links = nil
}

// ---------------------------------------------------------------------------------------------
// Tests

func TestRabbitPublishConsumeRoundTrip(t *testing.T) {
	inf := realtest.Require(t)
	q := newTestQueue(t, inf)
	p := newTestPublisher(t, inf.AMQPURL, q.Name, 2*time.Second)
	want := testMsg(1)
	publishConfirmed(t, p, want)
	mustDepth(t, q, 1)

	s := newTestSubscription(t, inf.AMQPURL, q.Name, 10, time.Second)
	d := mustNext(t, s, want, false)
	if err := s.Ack(testCtx(t), d.Tag); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	// A second ack of the same tag is refused without touching the channel.
	if err := s.Ack(testCtx(t), d.Tag); !errors.Is(err, strategies.ErrChannelClosed) {
		t.Fatalf("second Ack = %v, want ErrChannelClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	mustDepth(t, q, 0)
}

func TestPublisherMessageProperties(t *testing.T) {
	inf := realtest.Require(t)
	q := newTestQueue(t, inf)
	p := newTestPublisher(t, inf.AMQPURL, q.Name, 2*time.Second)
	m := testMsg(7)
	publishConfirmed(t, p, m)

	d, ok, err := rawChannel(t, inf.AMQPURL).Get(q.Name, true)
	if err != nil || !ok {
		t.Fatalf("Get = %v, %v", ok, err)
	}
	var got history.Message
	if err := json.Unmarshal(d.Body, &got); err != nil {
		t.Fatalf("body %q: %v", d.Body, err)
	}
	if d.DeliveryMode != amqp091.Persistent || d.MessageId != m.ID || d.ContentType != "application/json" || got != m {
		t.Fatalf("got mode %d id %q type %q msg %+v; want persistent, %q, application/json, %+v",
			d.DeliveryMode, d.MessageId, d.ContentType, got, m.ID, m)
	}
}

func TestSubscriptionNack(t *testing.T) {
	cases := []struct {
		name    string
		requeue bool
		depth   int // after the subscription closes
	}{
		{"requeue", true, 1},
		{"drop", false, 0},
	}
	inf := realtest.Require(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := newTestQueue(t, inf)
			p := newTestPublisher(t, inf.AMQPURL, q.Name, 2*time.Second)
			m := testMsg(1)
			publishConfirmed(t, p, m)
			s := newTestSubscription(t, inf.AMQPURL, q.Name, 10, 300*time.Millisecond)
			d := mustNext(t, s, m, false)
			if err := s.Nack(testCtx(t), d.Tag, tc.requeue); err != nil {
				t.Fatalf("Nack: %v", err)
			}
			if tc.requeue {
				mustNext(t, s, m, true)
			} else {
				mustIdle(t, s)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			mustDepth(t, q, tc.depth)
		})
	}
}

// A subscription that goes away with unacked deliveries: the broker hands them to the next
// consumer flagged redelivered, each in its original place ahead of the messages behind it.
func TestSubscriptionRequeueOnClose(t *testing.T) {
	cases := []struct {
		name     string
		prefetch int
		take     int // deliveries the first subscription holds when it closes
	}{
		{"all-unacked", 10, 3},
		{"head-unacked-keeps-its-place", 1, 1},
	}
	inf := realtest.Require(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := newTestQueue(t, inf)
			p := newTestPublisher(t, inf.AMQPURL, q.Name, 2*time.Second)
			msgs := []history.Message{testMsg(1), testMsg(2), testMsg(3)}
			publishConfirmed(t, p, msgs...)

			s1 := newTestSubscription(t, inf.AMQPURL, q.Name, tc.prefetch, 300*time.Millisecond)
			for i := range tc.take {
				mustNext(t, s1, msgs[i], false)
			}
			if err := s1.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			mustDepth(t, q, len(msgs))

			s2 := newTestSubscription(t, inf.AMQPURL, q.Name, 10, time.Second)
			for i, m := range msgs {
				d := mustNext(t, s2, m, i < tc.take)
				if err := s2.Ack(testCtx(t), d.Tag); err != nil {
					t.Fatalf("Ack: %v", err)
				}
			}
		})
	}
}

// A requeued message goes back ahead of the ones published after it was delivered.
func TestSubscriptionNackRequeueKeepsPlace(t *testing.T) {
	inf := realtest.Require(t)
	q := newTestQueue(t, inf)
	p := newTestPublisher(t, inf.AMQPURL, q.Name, 2*time.Second)
	publishConfirmed(t, p, testMsg(1))
	s := newTestSubscription(t, inf.AMQPURL, q.Name, 1, time.Second)
	d := mustNext(t, s, testMsg(1), false)
	publishConfirmed(t, p, testMsg(2), testMsg(3))
	if err := s.Nack(testCtx(t), d.Tag, true); err != nil {
		t.Fatalf("Nack: %v", err)
	}
	for i, m := range []history.Message{testMsg(1), testMsg(2), testMsg(3)} {
		d := mustNext(t, s, m, i == 0)
		if err := s.Ack(testCtx(t), d.Tag); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
}

func TestSubscriptionPrefetch(t *testing.T) {
	cases := []struct{ prefetch, published, want int }{
		{1, 3, 1},
		{2, 5, 2},
		{0, 2, 1}, // at least one, as the simulator does
	}
	inf := realtest.Require(t)
	for _, tc := range cases {
		t.Run(fmt.Sprintf("prefetch-%d", tc.prefetch), func(t *testing.T) {
			q := newTestQueue(t, inf)
			p := newTestPublisher(t, inf.AMQPURL, q.Name, 2*time.Second)
			for i := range tc.published {
				publishConfirmed(t, p, testMsg(i))
			}
			s := newTestSubscription(t, inf.AMQPURL, q.Name, tc.prefetch, 200*time.Millisecond)
			for i := range tc.want {
				mustNext(t, s, testMsg(i), false)
			}
			mustIdle(t, s)
			mustDepth(t, q, tc.published-tc.want)
		})
	}
}

func TestSubscriptionIdleOnEmptyQueue(t *testing.T) {
	inf := realtest.Require(t)
	q := newTestQueue(t, inf)
	const idle = 250 * time.Millisecond
	s := newTestSubscription(t, inf.AMQPURL, q.Name, 1, idle)
	mustIdle(t, s) // the first call also connects
	start := time.Now()
	mustIdle(t, s)
	if el := time.Since(start); el < idle || el > idle+time.Second {
		t.Fatalf("ErrIdle after %v, want about %v", el, idle)
	}
}

// After the link dies, Next reports ErrChannelClosed and then reconnects; the broker redelivers
// the unacked message on the new channel, where it reuses the old broker tag number. The old
// subscription tag must not ack it.
func TestSubscriptionAckAfterReconnect(t *testing.T) {
	inf := realtest.Require(t)
	q := newTestQueue(t, inf)
	p := newTestPublisher(t, inf.AMQPURL, q.Name, 2*time.Second)
	m := testMsg(1)
	publishConfirmed(t, p, m)

	px, viaProxy := proxyURL(t, inf.AMQPURL)
	s := newTestSubscription(t, viaProxy, q.Name, 1, 2*time.Second)
	old := mustNext(t, s, m, false)
	px.cut()
	if _, err := s.Next(testCtx(t)); !errors.Is(err, strategies.ErrChannelClosed) {
		t.Fatalf("Next after the link died = %v, want ErrChannelClosed", err)
	}
	d := mustNext(t, s, m, true)
	if d.Tag == old.Tag {
		t.Fatalf("tag %d reused across channels", d.Tag)
	}
	if err := s.Ack(testCtx(t), old.Tag); !errors.Is(err, strategies.ErrChannelClosed) {
		t.Fatalf("Ack of the dead channel's tag = %v, want ErrChannelClosed", err)
	}
	if err := s.Nack(testCtx(t), old.Tag, true); !errors.Is(err, strategies.ErrChannelClosed) {
		t.Fatalf("Nack of the dead channel's tag = %v, want ErrChannelClosed", err)
	}
	if err := s.Ack(testCtx(t), d.Tag); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	mustDepth(t, q, 0)
}

// A confirm that never comes: Wait gives up after the confirm timeout with ErrNoConfirm, yet the
// message is queued; the retry goes out on a new connection and leaves two copies. When the link
// dies instead, Wait reports ErrChannelClosed.
func TestPublisherLostConfirm(t *testing.T) {
	cases := []struct {
		name           string
		fault          func(*linkProxy)
		confirmTimeout time.Duration
		want           error
		minWait        time.Duration
	}{
		{"no-confirm", (*linkProxy).swallow, 300 * time.Millisecond, strategies.ErrNoConfirm, 300 * time.Millisecond},
		{"link-dies", func(px *linkProxy) {
			px.swallow()
			time.AfterFunc(100*time.Millisecond, px.cut)
		}, 2 * time.Second, strategies.ErrChannelClosed, 0},
	}
	inf := realtest.Require(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := newTestQueue(t, inf)
			px, viaProxy := proxyURL(t, inf.AMQPURL)
			p := newTestPublisher(t, viaProxy, q.Name, tc.confirmTimeout)
			publishConfirmed(t, p, testMsg(1))
			tc.fault(px)

			ctx := testCtx(t)
			m := testMsg(2)
			c, err := p.Publish(ctx, m)
			if err != nil {
				t.Fatalf("Publish: %v", err)
			}
			start := time.Now()
			err = c.Wait(ctx)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Wait = %v, want %v", err, tc.want)
			}
			if el := time.Since(start); el < tc.minWait || el > 1500*time.Millisecond {
				t.Fatalf("Wait took %v", el)
			}
			eventuallyDepth(t, q, 2) // the unconfirmed message reached the queue

			// The retry opens a new connection (the proxy's new links are healthy).
			publishConfirmed(t, p, m)
			mustDepth(t, q, 3)
			s := newTestSubscription(t, inf.AMQPURL, q.Name, 10, 300*time.Millisecond)
			for _, want := range []history.Message{testMsg(1), m, m} {
				mustNext(t, s, want, false)
			}
		})
	}
}

// A publish on a connection that died fails with ErrChannelClosed; the next one reconnects.
func TestPublisherReconnects(t *testing.T) {
	inf := realtest.Require(t)
	q := newTestQueue(t, inf)
	px, viaProxy := proxyURL(t, inf.AMQPURL)
	p := newTestPublisher(t, viaProxy, q.Name, 2*time.Second)
	publishConfirmed(t, p, testMsg(1))
	px.cut()
	// amqp091 notices the closed socket asynchronously: wait until it has.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		p.mu.Lock()
		dead := p.sess == nil || p.sess.conn.IsClosed()
		p.mu.Unlock()
		if dead {
			break
		}
	}
	publishConfirmed(t, p, testMsg(2))
	mustDepth(t, q, 2)
}

func TestQueueDeclareRefusesExisting(t *testing.T) {
	inf := realtest.Require(t)
	q := newTestQueue(t, inf)
	runID := strings.TrimSuffix(strings.TrimPrefix(q.Name, QueuePrefix), QueueSuffix)
	if q2, err := DeclareQueue(testCtx(t), inf.AMQPURL, runID); err == nil {
		_ = q2.Close()
		t.Fatalf("DeclareQueue of an existing queue %s succeeded", q.Name)
	}
	if _, err := DeclareQueue(testCtx(t), inf.AMQPURL, "bad/run id"); err == nil {
		t.Fatal("DeclareQueue accepted a run id with '/' and ' '")
	}
	mustDepth(t, q, 0) // still there
}

func TestQueueDeleteRefusesForeignNames(t *testing.T) {
	inf := realtest.Require(t)
	q := newTestQueue(t, inf)
	foreign := "deliveryharness-test-" + testRunID(t)
	ch := rawChannel(t, inf.AMQPURL)
	if _, err := ch.QueueDeclare(foreign, false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = ch.QueueDelete(foreign, false, false, false) })

	cases := []struct {
		name  string
		queue *Queue
	}{
		{"no-prefix", &Queue{Name: foreign, url: inf.AMQPURL}},
		{"harness-name-without-run-id", &Queue{Name: q.Name, url: inf.AMQPURL}},
		{"other-run-id", &Queue{Name: q.Name, url: inf.AMQPURL, runID: "someone-else"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.queue.Delete(testCtx(t)); err == nil {
				t.Fatalf("Delete of %q succeeded", tc.queue.Name)
			}
			_ = tc.queue.Close()
		})
	}
	for _, name := range []string{foreign, q.Name} {
		if _, err := ch.QueueDeclarePassive(name, false, true, false, false, nil); err != nil {
			t.Fatalf("queue %s is gone: %v", name, err)
		}
	}
}

func TestQueueDepthAndDelete(t *testing.T) {
	inf := realtest.Require(t)
	q := newTestQueue(t, inf)
	p := newTestPublisher(t, inf.AMQPURL, q.Name, 2*time.Second)
	mustDepth(t, q, 0)
	publishConfirmed(t, p, testMsg(1), testMsg(2), testMsg(3))
	mustDepth(t, q, 3)

	s := newTestSubscription(t, inf.AMQPURL, q.Name, 1, 300*time.Millisecond)
	mustNext(t, s, testMsg(1), false)
	mustDepth(t, q, 2) // the unacked delivery is not ready
	_ = s.Close()
	mustDepth(t, q, 3)

	if err := q.Delete(testCtx(t)); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := q.Depth(testCtx(t)); err == nil {
		t.Fatal("Depth of a deleted queue succeeded")
	}
	if err := q.Delete(testCtx(t)); err != nil { // already gone: fine
		t.Fatalf("second Delete: %v", err)
	}
}

func TestRabbitUnreachableServer(t *testing.T) {
	realtest.Require(t)
	const bad = "amqp://guest:secret@127.0.0.1:1/"
	cases := []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"DeclareQueue", func(ctx context.Context) error {
			_, err := DeclareQueue(ctx, bad, "unreachable")
			return err
		}},
		{"Publish", func(ctx context.Context) error {
			p, err := NewPublisher(ctx, bad, "harness.unreachable.events", time.Second)
			if err != nil {
				return fmt.Errorf("NewPublisher should be lazy: %v", err)
			}
			defer p.Close()
			_, err = p.Publish(ctx, testMsg(1))
			return err
		}},
		{"Next", func(ctx context.Context) error {
			s, err := NewSubscription(ctx, bad, "harness.unreachable.events", 1, time.Second)
			if err != nil {
				return fmt.Errorf("NewSubscription should be lazy: %v", err)
			}
			defer s.Close()
			_, err = s.Next(ctx)
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := tc.op(testCtx(t))
			if !errors.Is(err, strategies.ErrChannelClosed) {
				t.Fatalf("err = %v, want ErrChannelClosed", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error shows the password: %v", err)
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Fatalf("took %v", el)
			}
		})
	}
}

func TestRabbitScrubHidesPassword(t *testing.T) {
	err := scrub("amqp://guest:s3cr3t@host/", errors.New("login s3cr3t refused"))
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("scrub left the password: %v", err)
	}
	if err := checkURL("amqp://guest:s3cr3t@[::1/"); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("checkURL = %v", err)
	}
}

// TestQueueExpires: a run's queue carries x-expires, so the broker deletes it by itself when its
// run was killed: redeclaring it with the same arguments is accepted, without x-expires refused.
func TestQueueExpires(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	q := newTestQueue(t, inf)
	conn, err := amqp091.Dial(inf.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, tc := range []struct {
		args amqp091.Table
		ok   bool
	}{
		{amqp091.Table{"x-queue-type": "classic", "x-expires": queueExpiry.Milliseconds(), RunArgument: q.runID}, true},
		{amqp091.Table{"x-queue-type": "classic", RunArgument: q.runID}, false},
	} {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		_, err = ch.QueueDeclare(q.Name, true, false, false, false, tc.args)
		var ae *amqp091.Error
		switch {
		case tc.ok && err != nil:
			t.Errorf("redeclare with %v: %v", tc.args, err)
		case !tc.ok && !(errors.As(err, &ae) && ae.Code == amqp091.PreconditionFailed):
			t.Errorf("redeclare with %v: got %v, want PRECONDITION_FAILED (the queue has x-expires)", tc.args, err)
		}
		if !ch.IsClosed() {
			_ = ch.Close()
		}
	}
}
