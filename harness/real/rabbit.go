package real

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/redact"
	"github.com/deliveryharness/harness/strategies"
)

// QueuePrefix starts the name of every queue the harness creates; a queue is named
// QueuePrefix + runID + QueueSuffix.
const (
	QueuePrefix = "harness."
	QueueSuffix = ".events"
)

// RunArgument is the queue argument that marks a queue as the harness's, with the run id as value.
const RunArgument = "x-harness-run"

// Timing of every RabbitMQ connection. Heartbeats are short so that a dead link is noticed within
// a few seconds (amqp091 gives up after three missed server heartbeats, the server after two).
const (
	amqpHeartbeat    = 2 * time.Second
	amqpDialTimeout  = 5 * time.Second  // TCP connect plus the AMQP handshake
	amqpOpTimeout    = 10 * time.Second // one synchronous AMQP method (declare, qos, consume, publish)
	amqpCloseTimeout = 2 * time.Second  // the close handshake of a healthy connection
)

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,200}$`)

// QueueName is the name of a run's queue.
func QueueName(runID string) string { return QueuePrefix + runID + QueueSuffix }

// validRunID reports whether runID can be part of a queue name: letters, digits, '-' and '_'.
func validRunID(runID string) bool { return runIDPattern.MatchString(runID) }

// ---------------------------------------------------------------------------------------------
// Connections

// checkURL refuses a URL that cannot be parsed without quoting it: url.Parse's error would carry
// the password.
func checkURL(raw string) error {
	if _, err := url.Parse(raw); err != nil {
		return errors.New("rabbitmq: unparsable AMQP URL")
	}
	if _, err := amqp.ParseURI(raw); err != nil {
		return fmt.Errorf("rabbitmq: bad AMQP URL %s: %w", redact.URL(raw), scrub(raw, err))
	}
	return nil
}

// scrub hides raw's password (the broker URL's) wherever it appears in err's text. Every URL
// that reaches it has passed checkURL, so it parses.
func scrub(raw string, err error) error {
	var password string
	if u, perr := url.Parse(raw); perr == nil {
		password, _ = u.User.Password()
	}
	return redact.Error(err, password)
}

// dial opens an AMQP connection with a bounded TCP connect and handshake and short heartbeats.
// Every failure wraps strategies.ErrChannelClosed: the broker cannot be used from here.
func dial(ctx context.Context, raw, role string) (*amqp.Connection, error) {
	if err := checkURL(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", err, strategies.ErrChannelClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rabbitmq: dial %s: %w: %w", redact.URL(raw), strategies.ErrChannelClosed, err)
	}
	deadline := time.Now().Add(amqpDialTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	props := amqp.NewConnectionProperties()
	props["connection_name"] = "harness " + role
	cfg := amqp.Config{
		Heartbeat:  amqpHeartbeat,
		Locale:     "en_US",
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Deadline: deadline}
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// The handshake is bounded too; amqp091 clears the deadline once the connection is open.
			if err := c.SetDeadline(deadline); err != nil {
				_ = c.Close()
				return nil, err
			}
			return c, nil
		},
	}
	conn, err := amqp.DialConfig(raw, cfg)
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: dial %s: %w: %w", redact.URL(raw), strategies.ErrChannelClosed, scrub(raw, err))
	}
	return conn, nil
}

// bounded runs fn, a blocking call on conn, for at most amqpOpTimeout or until ctx ends. When it
// gives up it closes conn at once, which makes fn return, and reports why.
func bounded(ctx context.Context, conn *amqp.Connection, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, amqpOpTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		abandon(conn)
		select {
		case <-done:
		case <-time.After(amqpCloseTimeout):
		}
		return fmt.Errorf("rabbitmq: no reply: %w", ctx.Err())
	}
}

// abandon drops a connection without the close handshake: the socket closes at once, as when a
// client gives up on a link it no longer trusts. The broker requeues the channel's unacked
// deliveries.
func abandon(conn *amqp.Connection) {
	if conn != nil {
		_ = conn.CloseDeadline(time.Now())
	}
}

// closeConn closes a connection with a bounded close handshake.
func closeConn(conn *amqp.Connection) error {
	if conn == nil || conn.IsClosed() {
		return nil
	}
	err := conn.CloseDeadline(time.Now().Add(amqpCloseTimeout))
	if errors.Is(err, amqp.ErrClosed) {
		return nil
	}
	return err
}

// isNotFound reports whether err is the broker's 404 NOT_FOUND channel error.
func isNotFound(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.NotFound
}

// ---------------------------------------------------------------------------------------------
// Queue

// Queue is one run's durable queue, named with the harness prefix and the run id, deleted
// afterwards. Build it with DeclareQueue: Delete refuses a Queue it cannot tie to a run id.
type Queue struct {
	Name string // QueuePrefix + runID + QueueSuffix

	url   string
	runID string

	mu      sync.Mutex
	conn    *amqp.Connection
	deleted bool
}

// queueExpiry is the x-expires of a run's queue: the broker deletes a queue that has had no
// consumer (and no declare) for this long, so that a queue whose run was killed goes away even
// if nothing cleans up after it. A run is over long before (Backend.Deadline), and its
// consumers are subscribed all along but for the moments around a crash.
const queueExpiry = 10 * time.Minute

// DeclareQueue creates the run's queue: durable, classic, not auto-delete, marked with the
// x-harness-run argument, deleted by the broker after queueExpiry unused. It refuses when a queue of that name already exists, so that a run never
// shares (or later deletes) a queue it did not create.
func DeclareQueue(ctx context.Context, url, runID string) (*Queue, error) {
	if !validRunID(runID) {
		return nil, fmt.Errorf("rabbitmq: declare queue: run id %q: want 1-200 letters, digits, '-' or '_'", runID)
	}
	q := &Queue{Name: QueueName(runID), url: url, runID: runID}
	err := q.withChannel(ctx, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclarePassive(q.Name, true, false, false, false, nil)
		if err == nil {
			return fmt.Errorf("rabbitmq: declare queue %s: it already exists; refusing to use a queue this run did not create", q.Name)
		}
		if !isNotFound(err) {
			return fmt.Errorf("rabbitmq: declare queue %s: passive declare: %w: %w", q.Name, strategies.ErrChannelClosed, err)
		}
		return errNotFound
	})
	if !errors.Is(err, errNotFound) {
		_ = q.Close()
		if err == nil {
			err = fmt.Errorf("rabbitmq: declare queue %s: passive declare succeeded unexpectedly", q.Name)
		}
		return nil, err
	}
	err = q.withChannel(ctx, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(q.Name, true, false, false, false, amqp.Table{
			"x-queue-type": "classic",
			"x-expires":    queueExpiry.Milliseconds(),
			RunArgument:    runID,
		})
		if err != nil {
			return fmt.Errorf("rabbitmq: declare queue %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
		}
		return nil
	})
	if err != nil {
		_ = q.Close()
		return nil, err
	}
	return q, nil
}

// errNotFound is the inner signal that the passive declare found no queue.
var errNotFound = errors.New("queue not found")

// withChannel runs fn on a fresh channel of the queue's connection (dialed when missing or dead),
// every broker call bounded; the channel is closed afterwards.
func (q *Queue) withChannel(ctx context.Context, fn func(ch *amqp.Channel) error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.conn == nil || q.conn.IsClosed() {
		conn, err := dial(ctx, q.url, "admin "+q.Name)
		if err != nil {
			return err
		}
		q.conn = conn
	}
	conn := q.conn
	var ch *amqp.Channel
	err := bounded(ctx, conn, func() error {
		var err error
		ch, err = conn.Channel()
		return err
	})
	if err != nil {
		return fmt.Errorf("rabbitmq: open channel for %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
	}
	var inner error
	err = bounded(ctx, conn, func() error {
		inner = fn(ch)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rabbitmq: queue %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
	}
	if !ch.IsClosed() {
		_ = bounded(ctx, conn, ch.Close)
	}
	return inner
}

// Depth returns the number of ready messages (queue.declare-ok's message count). Deliveries a
// consumer holds unacknowledged are not counted; with every consumer closed they are ready again.
func (q *Queue) Depth(ctx context.Context) (ready int, err error) {
	err = q.withChannel(ctx, func(ch *amqp.Channel) error {
		st, err := ch.QueueDeclarePassive(q.Name, true, false, false, false, nil)
		if err != nil {
			return fmt.Errorf("rabbitmq: depth of %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
		}
		ready = st.Messages
		return nil
	})
	return ready, err
}

// exists reports whether the queue is there (a passive declare).
func (q *Queue) exists(ctx context.Context) (bool, error) {
	err := q.withChannel(ctx, func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclarePassive(q.Name, true, false, false, false, nil)
		if isNotFound(err) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("rabbitmq: look for %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
		}
		return nil
	})
	if errors.Is(err, errNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Delete purges and deletes the queue. It refuses a queue whose name is not the harness prefix
// with this Queue's run id: only what DeclareQueue created can be deleted. Deleting a queue that
// is already gone is not an error.
func (q *Queue) Delete(ctx context.Context) error {
	if !validRunID(q.runID) || q.Name != QueueName(q.runID) {
		return fmt.Errorf("rabbitmq: refusing to delete queue %q: not a harness queue of this run (want %s<run id>%s)",
			q.Name, QueuePrefix, QueueSuffix)
	}
	err := q.withChannel(ctx, func(ch *amqp.Channel) error {
		if _, err := ch.QueuePurge(q.Name, false); err != nil {
			if isNotFound(err) {
				return nil
			}
			return fmt.Errorf("rabbitmq: purge %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
		}
		if _, err := ch.QueueDelete(q.Name, false, false, false); err != nil && !isNotFound(err) {
			return fmt.Errorf("rabbitmq: delete %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
		}
		return nil
	})
	if err == nil {
		q.mu.Lock()
		q.deleted = true
		q.mu.Unlock()
	}
	return err
}

// Deleted reports whether Delete removed the queue (or found it gone).
func (q *Queue) Deleted() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.deleted
}

// Close closes the queue's own connection; the queue stays until Delete.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	conn := q.conn
	q.conn = nil
	if err := closeConn(conn); err != nil {
		return fmt.Errorf("rabbitmq: close connection of %s: %w", q.Name, err)
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// Publisher

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
	conn *amqp.Connection
	ch   *amqp.Channel
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
	var ch *amqp.Channel
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
	var dc *amqp.DeferredConfirmation
	err = bounded(ctx, s.conn, func() error {
		var err error
		dc, err = s.ch.PublishWithDeferredConfirmWithContext(ctx, "", p.queue, false, false, amqp.Publishing{
			DeliveryMode: amqp.Persistent,
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
	dc *amqp.DeferredConfirmation
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

// ---------------------------------------------------------------------------------------------
// Subscription

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
	conn       *amqp.Connection
	ch         *amqp.Channel
	deliveries <-chan amqp.Delivery
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
	var ch *amqp.Channel
	var deliveries <-chan amqp.Delivery
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
func (s *Subscription) accept(ctx context.Context, sess *subSession, d amqp.Delivery) (strategies.Delivery, error) {
	var m history.Message
	err := json.Unmarshal(d.Body, &m)
	if err == nil && d.MessageId != m.ID {
		err = fmt.Errorf("message id %q differs from the body's id %q", d.MessageId, m.ID)
	}
	if err != nil {
		rerr := bounded(ctx, sess.conn, func() error { return sess.ch.Reject(d.DeliveryTag, false) })
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
func (s *Subscription) settle(ctx context.Context, op string, tag uint64, fn func(ch *amqp.Channel, tag uint64) error) error {
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
	if err := bounded(ctx, p.s.conn, func() error { return fn(p.s.ch, p.tag) }); err != nil {
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
	return s.settle(ctx, "ack", tag, func(ch *amqp.Channel, t uint64) error { return ch.Ack(t, false) })
}

// Nack rejects one delivery; with requeue the broker puts it back in its place, flagged redelivered.
func (s *Subscription) Nack(ctx context.Context, tag uint64, requeue bool) error {
	return s.settle(ctx, "nack", tag, func(ch *amqp.Channel, t uint64) error { return ch.Nack(t, false, requeue) })
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
