package amqp

// strategies.Subscription: manual acks under a prefetch limit.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// Subscription is a strategies.Subscription: one connection and channel with a prefetch limit,
// consuming with manual acks. It opens them at the first Next and again after they died.
type Subscription struct {
	url      string
	queue    string
	prefetch int
	idle     time.Duration

	mu      sync.Mutex
	sess    *subSession
	nextTag uint64
	tags    map[uint64]pending // subscription tag -> where the delivery came from
	closed  bool
}

type subSession struct {
	conn       *amqp091.Connection
	ch         *amqp091.Channel
	deliveries <-chan amqp091.Delivery
}

// pending is an unsettled delivery: the session it came on and the broker's tag on that channel.
type pending struct {
	s   *subSession
	tag uint64
}

var _ strategies.Subscription = (*Subscription)(nil)

// NewSubscription makes a consumer of queue with the given prefetch (at least 1) that waits up to
// idle for each delivery. It connects lazily; only the URL is checked here.
func NewSubscription(_ context.Context, url, queue string, prefetch int, idle time.Duration) (*Subscription, error) {
	if err := checkURL(url); err != nil {
		return nil, err
	}
	if queue == "" {
		return nil, errors.New("rabbitmq: subscription: empty queue name")
	}
	if idle <= 0 {
		return nil, fmt.Errorf("rabbitmq: subscription: idle wait %v, want > 0", idle)
	}
	return &Subscription{url: url, queue: queue, prefetch: max(1, prefetch), idle: idle, tags: map[uint64]pending{}}, nil
}

// session returns the live session, opening one when there is none. Called with s.mu held.
func (s *Subscription) session(ctx context.Context) (*subSession, error) {
	if s.closed {
		return nil, fmt.Errorf("rabbitmq: subscription is closed: %w", strategies.ErrChannelClosed)
	}
	if s.sess != nil {
		return s.sess, nil
	}
	conn, err := dial(ctx, s.url, "consumer "+s.queue)
	if err != nil {
		return nil, err
	}
	var ch *amqp091.Channel
	var deliveries <-chan amqp091.Delivery
	err = bounded(ctx, conn, func() error {
		var err error
		if ch, err = conn.Channel(); err != nil {
			return err
		}
		if err = ch.Qos(s.prefetch, 0, false); err != nil {
			return err
		}
		deliveries, err = ch.Consume(s.queue, "", false, false, false, false, nil)
		return err
	})
	if err != nil {
		abandon(conn)
		return nil, fmt.Errorf("rabbitmq: consume %s: %w: %w", s.queue, strategies.ErrChannelClosed, err)
	}
	s.sess = &subSession{conn: conn, ch: ch, deliveries: deliveries}
	return s.sess, nil
}

// drop forgets sess and its unsettled tags and closes its connection; the broker requeues what
// it held. Called with s.mu held.
func (s *Subscription) drop(sess *subSession) {
	if s.sess == sess {
		s.sess = nil
	}
	for tag, p := range s.tags {
		if p.s == sess {
			delete(s.tags, tag)
		}
	}
	_ = closeConn(sess.conn)
}

// Next waits up to the idle wait for a delivery. ErrIdle: nothing came; ErrChannelClosed: the
// channel or connection died (its unacked deliveries go back to the queue, and the next call
// reconnects).
func (s *Subscription) Next(ctx context.Context) (strategies.Delivery, error) {
	s.mu.Lock()
	sess, err := s.session(ctx)
	s.mu.Unlock()
	if err != nil {
		return strategies.Delivery{}, err
	}
	t := time.NewTimer(s.idle)
	defer t.Stop()
	select {
	case d, ok := <-sess.deliveries:
		if !ok {
			s.mu.Lock()
			s.drop(sess)
			s.mu.Unlock()
			return strategies.Delivery{}, fmt.Errorf("rabbitmq: consume %s: %w", s.queue, strategies.ErrChannelClosed)
		}
		return s.accept(ctx, sess, d)
	case <-t.C:
		return strategies.Delivery{}, strategies.ErrIdle
	case <-ctx.Done():
		return strategies.Delivery{}, fmt.Errorf("rabbitmq: consume %s: %w", s.queue, ctx.Err())
	}
}

// accept decodes a delivery and gives it a subscription-wide tag. A body that is not a harness
// message is rejected without requeue and reported as an error.
func (s *Subscription) accept(ctx context.Context, sess *subSession, d amqp091.Delivery) (strategies.Delivery, error) {
	var m history.Message
	err := json.Unmarshal(d.Body, &m)
	if err == nil && d.MessageId != m.ID {
		err = fmt.Errorf("message id %q differs from the body's id %q", d.MessageId, m.ID)
	}
	if err != nil {
		rerr := send(ctx, sess.conn, func() error { return sess.ch.Reject(d.DeliveryTag, false) })
		if rerr != nil {
			s.mu.Lock()
			s.drop(sess)
			s.mu.Unlock()
		}
		return strategies.Delivery{}, fmt.Errorf("rabbitmq: consume %s: malformed delivery (rejected): %w", s.queue, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sess != sess {
		// The session was dropped meanwhile (Close): the broker requeues this delivery.
		return strategies.Delivery{}, fmt.Errorf("rabbitmq: consume %s: %w", s.queue, strategies.ErrChannelClosed)
	}
	s.nextTag++
	s.tags[s.nextTag] = pending{s: sess, tag: d.DeliveryTag}
	return strategies.Delivery{Msg: m, Tag: s.nextTag, Redelivered: d.Redelivered}, nil
}

// settle finds tag's delivery on the live channel and runs fn with the broker's tag. A tag that
// is unknown, already settled or from a channel that has since died gives ErrChannelClosed, so
// that an old tag never settles another message that reuses its number on a new channel.
func (s *Subscription) settle(ctx context.Context, op string, tag uint64, fn func(ch *amqp091.Channel, tag uint64) error) error {
	s.mu.Lock()
	p, ok := s.tags[tag]
	sess := s.sess
	if ok {
		delete(s.tags, tag)
	}
	s.mu.Unlock()
	switch {
	case !ok:
		return fmt.Errorf("rabbitmq: %s: unknown delivery tag %d: %w", op, tag, strategies.ErrChannelClosed)
	case p.s != sess || p.s.ch.IsClosed():
		return fmt.Errorf("rabbitmq: %s: delivery tag %d belongs to a closed channel: %w", op, tag, strategies.ErrChannelClosed)
	}
	if err := send(ctx, p.s.conn, func() error { return fn(p.s.ch, p.tag) }); err != nil {
		s.mu.Lock()
		s.drop(p.s)
		s.mu.Unlock()
		return fmt.Errorf("rabbitmq: %s: delivery tag %d: %w: %w", op, tag, strategies.ErrChannelClosed, err)
	}
	return nil
}

// Ack acknowledges one delivery on the channel it came from. A nil error does not prove that the
// broker received it.
func (s *Subscription) Ack(ctx context.Context, tag uint64) error {
	return s.settle(ctx, "ack", tag, func(ch *amqp091.Channel, t uint64) error { return ch.Ack(t, false) })
}

// Nack rejects one delivery; with requeue the broker puts it back in its place, flagged redelivered.
func (s *Subscription) Nack(ctx context.Context, tag uint64, requeue bool) error {
	return s.settle(ctx, "nack", tag, func(ch *amqp091.Channel, t uint64) error { return ch.Nack(t, false, requeue) })
}

// Close closes the channel and connection: the broker requeues the unacked deliveries, flagged
// redelivered. Later calls return ErrChannelClosed.
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
	if err := closeConn(sess.conn); err != nil {
		return fmt.Errorf("rabbitmq: close subscription of %s: %w", s.queue, err)
	}
	return nil
}
