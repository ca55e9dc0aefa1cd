package amqp

// strategies.Publisher: persistent messages with publisher confirms.

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

// Publisher is a strategies.Publisher: persistent messages to the default exchange with the queue
// as routing key, on a channel in confirm mode. The connection is opened at the first Publish and
// again after it died or was abandoned.
type Publisher struct {
	url            string
	queue          string
	confirmTimeout time.Duration

	mu     sync.Mutex
	sess   *pubSession
	closed bool
}

type pubSession struct {
	conn *amqp091.Connection
	ch   *amqp091.Channel
}

var _ strategies.Publisher = (*Publisher)(nil)

// NewPublisher makes a publisher to queue. It connects lazily; only the URL is checked here.
func NewPublisher(_ context.Context, url, queue string, confirmTimeout time.Duration) (*Publisher, error) {
	if err := checkURL(url); err != nil {
		return nil, err
	}
	if queue == "" {
		return nil, errors.New("rabbitmq: publisher: empty queue name")
	}
	if confirmTimeout <= 0 {
		return nil, fmt.Errorf("rabbitmq: publisher: confirm timeout %v, want > 0", confirmTimeout)
	}
	return &Publisher{url: url, queue: queue, confirmTimeout: confirmTimeout}, nil
}

// session returns the live session, opening one when there is none. Called with p.mu held.
func (p *Publisher) session(ctx context.Context) (*pubSession, error) {
	if p.closed {
		return nil, fmt.Errorf("rabbitmq: publisher is closed: %w", strategies.ErrChannelClosed)
	}
	if s := p.sess; s != nil && !s.ch.IsClosed() && !s.conn.IsClosed() {
		return s, nil
	}
	if p.sess != nil {
		abandon(p.sess.conn)
		p.sess = nil
	}
	conn, err := dial(ctx, p.url, "publisher "+p.queue)
	if err != nil {
		return nil, err
	}
	var ch *amqp091.Channel
	err = bounded(ctx, conn, func() error {
		var err error
		if ch, err = conn.Channel(); err != nil {
			return err
		}
		return ch.Confirm(false)
	})
	if err != nil {
		abandon(conn)
		return nil, fmt.Errorf("rabbitmq: open confirm channel: %w: %w", strategies.ErrChannelClosed, err)
	}
	p.sess = &pubSession{conn: conn, ch: ch}
	return p.sess, nil
}

// Connect opens the publisher's connection and confirm channel now if it has none, so that a
// fault injected right before a publish hits the publish and not the handshake.
func (p *Publisher) Connect(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.session(ctx)
	return err
}

// drop forgets s (when it is still current) and closes its connection at once.
func (p *Publisher) drop(s *pubSession) {
	p.mu.Lock()
	if p.sess == s {
		p.sess = nil
	}
	p.mu.Unlock()
	abandon(s.conn)
}

// Publish sends m as a persistent JSON message whose message id is m.ID. An error means it was
// not sent; the connection is dropped and the next Publish opens a new one.
func (p *Publisher) Publish(ctx context.Context, m history.Message) (strategies.Confirmation, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: publish %s: encode: %w", m.ID, err)
	}
	p.mu.Lock()
	s, err := p.session(ctx)
	p.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: publish %s: %w", m.ID, err)
	}
	var dc *amqp091.DeferredConfirmation
	err = send(ctx, s.conn, func() error {
		var err error
		dc, err = s.ch.PublishWithDeferredConfirmWithContext(ctx, "", p.queue, false, false, amqp091.Publishing{
			DeliveryMode: amqp091.Persistent,
			MessageId:    m.ID,
			ContentType:  "application/json",
			Body:         body,
		})
		return err
	})
	if err == nil && dc == nil {
		err = errors.New("channel not in confirm mode")
	}
	if err != nil {
		p.drop(s)
		return nil, fmt.Errorf("rabbitmq: publish %s to %s: %w: %w", m.ID, p.queue, strategies.ErrChannelClosed, err)
	}
	return &confirmation{p: p, s: s, dc: dc, id: m.ID}, nil
}

// Close closes the publisher's connection. Pending confirmations then report ErrChannelClosed.
func (p *Publisher) Close() error {
	p.mu.Lock()
	s := p.sess
	p.sess, p.closed = nil, true
	p.mu.Unlock()
	if s == nil {
		return nil
	}
	if err := closeConn(s.conn); err != nil {
		return fmt.Errorf("rabbitmq: close publisher of %s: %w", p.queue, err)
	}
	return nil
}

// confirmation is one pending publisher confirm.
type confirmation struct {
	p  *Publisher
	s  *pubSession
	dc *amqp091.DeferredConfirmation
	id string
}

// Wait waits up to the publisher's confirm timeout (or until ctx ends). Without an answer the
// publisher abandons the connection, as a client does after a lost confirm: the message may be
// queued, and the next Publish goes out on a new connection.
func (c *confirmation) Wait(ctx context.Context) error {
	t := time.NewTimer(c.p.confirmTimeout)
	defer t.Stop()
	select {
	case <-c.dc.Done():
		if c.dc.Acked() {
			return nil
		}
		// amqp091 settles every pending confirm as a nack when the channel closes (it marks the
		// channel closed first): tell the two apart.
		if c.s.ch.IsClosed() {
			return fmt.Errorf("rabbitmq: confirm of %s: %w", c.id, strategies.ErrChannelClosed)
		}
		return fmt.Errorf("rabbitmq: confirm of %s: %w", c.id, strategies.ErrNacked)
	case <-t.C:
		c.p.drop(c.s)
		return fmt.Errorf("rabbitmq: confirm of %s: none within %v: %w", c.id, c.p.confirmTimeout, strategies.ErrNoConfirm)
	case <-ctx.Done():
		c.p.drop(c.s)
		return fmt.Errorf("rabbitmq: confirm of %s: %w: %w", c.id, strategies.ErrNoConfirm, ctx.Err())
	}
}
