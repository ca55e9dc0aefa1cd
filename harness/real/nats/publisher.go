package nats

// strategies.Publisher: the message id in the Nats-Msg-Id header, the PubAck as the confirm.

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

// Publisher is a strategies.Publisher: JSON messages to the stream's subject with the message id
// in the Nats-Msg-Id header, so that the stream drops a repeat within its duplicate window. The
// connection is opened at the first Publish and again after it died or was abandoned.
type Publisher struct {
	url            string
	subject        string
	confirmTimeout time.Duration

	mu     sync.Mutex
	sess   *pubSession
	closed bool
}

type pubSession struct {
	nc *natsgo.Conn
	js jetstream.JetStream
}

var _ strategies.Publisher = (*Publisher)(nil)

// NewPublisher makes a publisher to subject. It connects lazily; only the URL is checked here.
func NewPublisher(_ context.Context, url, subject string, confirmTimeout time.Duration) (*Publisher, error) {
	if err := checkURL(url); err != nil {
		return nil, err
	}
	if subject == "" {
		return nil, errors.New("nats: publisher: empty subject")
	}
	if confirmTimeout <= 0 {
		return nil, fmt.Errorf("nats: publisher: confirm timeout %v, want > 0", confirmTimeout)
	}
	return &Publisher{url: url, subject: subject, confirmTimeout: confirmTimeout}, nil
}

// session returns the live session, opening one when there is none. Called with p.mu held.
func (p *Publisher) session(ctx context.Context) (*pubSession, error) {
	if p.closed {
		return nil, fmt.Errorf("nats: publisher is closed: %w", strategies.ErrChannelClosed)
	}
	if s := p.sess; s != nil && !s.nc.IsClosed() {
		return s, nil
	}
	if p.sess != nil {
		p.sess.nc.Close()
		p.sess = nil
	}
	nc, err := dial(ctx, p.url, "publisher "+p.subject)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: jetstream: %w: %w", strategies.ErrChannelClosed, err)
	}
	p.sess = &pubSession{nc: nc, js: js}
	return p.sess, nil
}

// Connect opens the publisher's connection now if it has none, so that a fault injected right
// before a publish hits the publish and not the handshake.
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
	s.nc.Close()
}

// Publish sends m as a JSON message with Nats-Msg-Id m.ID; the confirmation waits for its
// PubAck. An error means it was not sent (no connection); the next Publish dials again.
func (p *Publisher) Publish(ctx context.Context, m history.Message) (strategies.Confirmation, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("nats: publish %s: encode: %w", m.ID, err)
	}
	p.mu.Lock()
	s, err := p.session(ctx)
	p.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("nats: publish %s: %w", m.ID, err)
	}
	msg := natsgo.NewMsg(p.subject)
	msg.Header.Set(jetstream.MsgIDHeader, m.ID)
	msg.Data = body
	c := &confirmation{p: p, s: s, id: m.ID, done: make(chan struct{})}
	// The PubAck is a reply to the publish: the request goes out now, and Wait waits for its
	// answer. The request's own deadline is the confirm timeout. No retry on "no responders":
	// the strategy decides what a publish that failed means.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.confirmTimeout)
	go func() {
		defer cancel()
		c.ack, c.err = s.js.PublishMsg(rctx, msg, jetstream.WithRetryAttempts(0))
		close(c.done)
	}()
	return c, nil
}

// Close closes the publisher's connection. Pending confirmations then report ErrChannelClosed.
func (p *Publisher) Close() error {
	p.mu.Lock()
	s := p.sess
	p.sess, p.closed = nil, true
	p.mu.Unlock()
	if s != nil {
		s.nc.Close()
	}
	return nil
}

// confirmation is one pending PubAck.
type confirmation struct {
	p    *Publisher
	s    *pubSession
	id   string
	done chan struct{}
	ack  *jetstream.PubAck
	err  error
}

// Wait waits up to the publisher's confirm timeout (or until ctx ends) for the PubAck. A PubAck
// that says Duplicate is a confirm too: the stream holds the message from an earlier publish.
// Without an answer the publisher abandons the connection, as after a lost confirm: the message
// may be stored, and the next Publish goes out on a new connection.
func (c *confirmation) Wait(ctx context.Context) error {
	t := time.NewTimer(c.p.confirmTimeout + 50*time.Millisecond)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		c.p.drop(c.s)
		return fmt.Errorf("nats: confirm of %s: none within %v: %w", c.id, c.p.confirmTimeout, strategies.ErrNoConfirm)
	case <-ctx.Done():
		c.p.drop(c.s)
		return fmt.Errorf("nats: confirm of %s: %w: %w", c.id, strategies.ErrNoConfirm, ctx.Err())
	}
	var apiErr *jetstream.APIError
	switch {
	case c.err == nil:
		return nil
	case closed(c.s.nc, c.err):
		c.p.drop(c.s)
		return fmt.Errorf("nats: confirm of %s: %w: %w", c.id, strategies.ErrChannelClosed, c.err)
	case errors.Is(c.err, context.DeadlineExceeded) || errors.Is(c.err, natsgo.ErrTimeout):
		c.p.drop(c.s)
		return fmt.Errorf("nats: confirm of %s: none within %v: %w", c.id, c.p.confirmTimeout, strategies.ErrNoConfirm)
	case errors.As(c.err, &apiErr), errors.Is(c.err, jetstream.ErrNoStreamResponse), errors.Is(c.err, natsgo.ErrNoResponders):
		return fmt.Errorf("nats: publish of %s refused: %w: %w", c.id, strategies.ErrNacked, c.err)
	default:
		c.p.drop(c.s)
		return fmt.Errorf("nats: confirm of %s: %w: %w", c.id, strategies.ErrNoConfirm, c.err)
	}
}

// Duplicate reports whether the PubAck said the stream already held the message (a repeat
// within the duplicate window). Call it after Wait returned nil.
func (c *confirmation) Duplicate() bool { return c.ack != nil && c.ack.Duplicate }
