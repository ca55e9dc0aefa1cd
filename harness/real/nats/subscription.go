package nats

// strategies.Subscription: a durable pull consumer with explicit acks, fetching up to the
// prefetch.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// Subscription is a strategies.Subscription on the durable pull consumer that a consumer group
// shares: the competing processes of the group each fetch from it. A process holds at most
// prefetch messages unacknowledged; an unacknowledged message comes back (to any process of the
// group) after the consumer's ack wait, also when the connection that got it died. It connects
// at the first Next and again after the connection died.
type Subscription struct {
	url      string
	stream   string
	durable  string
	prefetch int
	idle     time.Duration

	mu      sync.Mutex
	sess    *subSession
	nextTag uint64
	tags    map[uint64]pending // subscription tag -> the message
	closed  bool
}

type subSession struct {
	nc    *natsgo.Conn
	cons  jetstream.Consumer
	batch jetstream.MessageBatch // the fetch being read, nil when none is open
}

// pending is an unsettled message and the session it came on.
type pending struct {
	s   *subSession
	msg jetstream.Msg
}

var _ strategies.Subscription = (*Subscription)(nil)

// NewSubscription makes a consumer of the durable consumer durable on stream with the given
// prefetch (at least 1) that waits up to idle for each message. It connects lazily; only the URL
// is checked here.
func NewSubscription(_ context.Context, url, stream, durable string, prefetch int, idle time.Duration) (*Subscription, error) {
	if err := checkURL(url); err != nil {
		return nil, err
	}
	if stream == "" || durable == "" {
		return nil, errors.New("nats: subscription: empty stream or consumer name")
	}
	if idle <= 0 {
		return nil, fmt.Errorf("nats: subscription: idle wait %v, want > 0", idle)
	}
	return &Subscription{url: url, stream: stream, durable: durable, prefetch: max(1, prefetch), idle: idle, tags: map[uint64]pending{}}, nil
}

// session returns the live session, opening one when there is none. Called with s.mu held.
func (s *Subscription) session(ctx context.Context) (*subSession, error) {
	if s.closed {
		return nil, fmt.Errorf("nats: subscription is closed: %w", strategies.ErrChannelClosed)
	}
	if s.sess != nil && !s.sess.nc.IsClosed() {
		return s.sess, nil
	}
	if s.sess != nil {
		s.drop(s.sess)
	}
	nc, err := dial(ctx, s.url, "consumer "+s.stream)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: jetstream: %w: %w", strategies.ErrChannelClosed, err)
	}
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	cons, err := js.Consumer(cctx, s.stream, s.durable)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: consumer %s on %s: %w: %w", s.durable, s.stream, strategies.ErrChannelClosed, err)
	}
	s.sess = &subSession{nc: nc, cons: cons}
	return s.sess, nil
}

// drop forgets sess and its unsettled tags and closes its connection; the server redelivers what
// it held after the ack wait. Called with s.mu held.
func (s *Subscription) drop(sess *subSession) {
	if s.sess == sess {
		s.sess = nil
	}
	for tag, p := range s.tags {
		if p.s == sess {
			delete(s.tags, tag)
		}
	}
	sess.nc.Close()
}

// held is how many messages sess holds unsettled. Called with s.mu held.
func (s *Subscription) held(sess *subSession) int {
	n := 0
	for _, p := range s.tags {
		if p.s == sess {
			n++
		}
	}
	return n
}

// Next waits up to the idle wait for a message. ErrIdle: nothing came (or the process holds its
// prefetch of messages unacknowledged, and no more may come); ErrChannelClosed: the connection
// died (the messages it held come back after the ack wait, and the next call reconnects).
func (s *Subscription) Next(ctx context.Context) (strategies.Delivery, error) {
	s.mu.Lock()
	sess, err := s.session(ctx)
	s.mu.Unlock()
	if err != nil {
		return strategies.Delivery{}, err
	}
	t := time.NewTimer(s.idle)
	defer t.Stop()
	for {
		if sess.batch == nil {
			s.mu.Lock()
			free := s.prefetch - s.held(sess)
			s.mu.Unlock()
			if free <= 0 {
				select {
				case <-t.C:
					return strategies.Delivery{}, strategies.ErrIdle
				case <-ctx.Done():
					return strategies.Delivery{}, fmt.Errorf("nats: consume %s: %w", s.stream, ctx.Err())
				}
			}
			b, err := sess.cons.Fetch(free, jetstream.FetchMaxWait(s.idle))
			if err != nil {
				return strategies.Delivery{}, s.failed(sess, err)
			}
			sess.batch = b
		}
		select {
		case m, ok := <-sess.batch.Messages():
			if !ok {
				err := sess.batch.Error()
				sess.batch = nil
				if err != nil && !errors.Is(err, natsgo.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) || sess.nc.IsClosed() {
					return strategies.Delivery{}, s.failed(sess, err)
				}
				continue // the fetch ended: another, while the idle wait lasts
			}
			return s.accept(sess, m)
		case <-t.C:
			return strategies.Delivery{}, strategies.ErrIdle
		case <-ctx.Done():
			return strategies.Delivery{}, fmt.Errorf("nats: consume %s: %w", s.stream, ctx.Err())
		}
	}
}

// failed drops sess after err and says the connection is gone.
func (s *Subscription) failed(sess *subSession, err error) error {
	s.mu.Lock()
	s.drop(sess)
	s.mu.Unlock()
	return fmt.Errorf("nats: consume %s: %w: %w", s.stream, strategies.ErrChannelClosed, err)
}

// accept decodes a message and gives it a subscription-wide tag. A body that is not a harness
// message is terminated (never redelivered) and reported as an error.
func (s *Subscription) accept(sess *subSession, msg jetstream.Msg) (strategies.Delivery, error) {
	var m history.Message
	err := json.Unmarshal(msg.Data(), &m)
	if id := msg.Headers().Get(jetstream.MsgIDHeader); err == nil && id != m.ID {
		err = fmt.Errorf("Nats-Msg-Id %q differs from the body's id %q", id, m.ID)
	}
	var meta *jetstream.MsgMetadata
	if err == nil {
		meta, err = msg.Metadata()
	}
	if err != nil {
		_ = msg.Term()
		return strategies.Delivery{}, fmt.Errorf("nats: consume %s: malformed message (terminated): %w", s.stream, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess != sess {
		// The session was dropped meanwhile (Close): the server redelivers this message.
		return strategies.Delivery{}, fmt.Errorf("nats: consume %s: %w", s.stream, strategies.ErrChannelClosed)
	}
	s.nextTag++
	s.tags[s.nextTag] = pending{s: sess, msg: msg}
	return strategies.Delivery{Msg: m, Tag: s.nextTag, Redelivered: meta.NumDelivered > 1}, nil
}

// settle finds tag's message on the live connection and runs fn on it. A tag that is unknown,
// already settled or from a connection that has since died gives ErrChannelClosed, as on
// RabbitMQ (the server redelivers that message after the ack wait).
func (s *Subscription) settle(op string, tag uint64, fn func(m jetstream.Msg) error) error {
	s.mu.Lock()
	p, ok := s.tags[tag]
	sess := s.sess
	if ok {
		delete(s.tags, tag)
	}
	s.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("nats: %s: unknown delivery tag %d: %w", op, tag, strategies.ErrChannelClosed)
	case p.s != sess || p.s.nc.IsClosed():
		return fmt.Errorf("nats: %s: delivery tag %d belongs to a closed connection: %w", op, tag, strategies.ErrChannelClosed)
	}
	if err := fn(p.msg); err != nil {
		s.mu.Lock()
		s.drop(p.s)
		s.mu.Unlock()
		return fmt.Errorf("nats: %s: delivery tag %d: %w: %w", op, tag, strategies.ErrChannelClosed, err)
	}
	return nil
}

// Ack acknowledges one message (msg.Ack: a publish to its reply subject that the server does not
// answer). A nil error does not prove that the server received it.
func (s *Subscription) Ack(_ context.Context, tag uint64) error {
	return s.settle("ack", tag, func(m jetstream.Msg) error { return m.Ack() })
}

// Nack rejects one message: with requeue a Nak (the server redelivers it at once), without a Term
// (never redelivered).
func (s *Subscription) Nack(_ context.Context, tag uint64, requeue bool) error {
	if requeue {
		return s.settle("nak", tag, func(m jetstream.Msg) error { return m.Nak() })
	}
	return s.settle("term", tag, func(m jetstream.Msg) error { return m.Term() })
}

// Close closes the connection: the server redelivers the unacknowledged messages after the ack
// wait. Later calls return ErrChannelClosed.
func (s *Subscription) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	sess := s.sess
	if sess == nil {
		return nil
	}
	s.sess = nil
	clear(s.tags)
	sess.nc.Close()
	return nil
}
