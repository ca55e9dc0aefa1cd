package amqp

// Connections to the broker: a bounded dial with short heartbeats, bounded calls, and the
// errors of both without a password.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/harness/real/redact"
	"github.com/deliveryharness/harness/strategies"
)

// Timing of every RabbitMQ connection. Heartbeats are short so that a dead link is noticed within
// a few seconds (amqp091 gives up after three missed server heartbeats, the server after two).
const (
	heartbeat    = 2 * time.Second
	dialTimeout  = 5 * time.Second  // TCP connect plus the AMQP handshake
	opTimeout    = 10 * time.Second // one synchronous AMQP method (declare, qos, consume, publish)
	closeTimeout = 2 * time.Second  // the close handshake of a healthy connection
)

// checkURL refuses a URL that cannot be parsed without quoting it: url.Parse's error would carry
// the password.
func checkURL(raw string) error {
	if _, err := url.Parse(raw); err != nil {
		return errors.New("rabbitmq: unparsable AMQP URL")
	}
	if _, err := amqp091.ParseURI(raw); err != nil {
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
func dial(ctx context.Context, raw, role string) (*amqp091.Connection, error) {
	if err := checkURL(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", err, strategies.ErrChannelClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rabbitmq: dial %s: %w: %w", redact.URL(raw), strategies.ErrChannelClosed, err)
	}
	deadline := time.Now().Add(dialTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	props := amqp091.NewConnectionProperties()
	props["connection_name"] = "harness " + role
	cfg := amqp091.Config{
		Heartbeat:  heartbeat,
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
	conn, err := amqp091.DialConfig(raw, cfg)
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: dial %s: %w: %w", redact.URL(raw), strategies.ErrChannelClosed, scrub(raw, err))
	}
	return conn, nil
}

// bounded runs fn, a blocking call on conn, for at most opTimeout or until ctx ends. When it
// gives up it closes conn at once, which makes fn return, and reports why.
func bounded(ctx context.Context, conn *amqp091.Connection, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
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
		case <-time.After(closeTimeout):
		}
		return fmt.Errorf("rabbitmq: no reply: %w", ctx.Err())
	}
}

// send runs fn, a call that only writes frames to conn's socket and waits for no reply (a
// publish on a confirm channel, an ack, a nack, a reject), on the calling goroutine: a goroutine
// per call costs more than the call. It is bounded as bounded is: when ctx ends or opTimeout
// passes first, conn is abandoned, which sets its socket's deadline and so makes a write stuck in
// fn return, and send reports why.
func send(ctx context.Context, conn *amqp091.Connection, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { abandon(conn) })
	err := fn()
	if !stop() {
		return fmt.Errorf("rabbitmq: send cut off: %w", ctx.Err())
	}
	return err
}

// abandon drops a connection without the close handshake: the socket closes at once, as when a
// client gives up on a link it no longer trusts. The broker requeues the channel's unacked
// deliveries.
func abandon(conn *amqp091.Connection) {
	if conn != nil {
		_ = conn.CloseDeadline(time.Now())
	}
}

// closeConn closes a connection with a bounded close handshake.
func closeConn(conn *amqp091.Connection) error {
	if conn == nil || conn.IsClosed() {
		return nil
	}
	err := conn.CloseDeadline(time.Now().Add(closeTimeout))
	if errors.Is(err, amqp091.ErrClosed) {
		return nil
	}
	return err
}

// isNotFound reports whether err is the broker's 404 NOT_FOUND channel error.
func isNotFound(err error) bool {
	var ae *amqp091.Error
	return errors.As(err, &ae) && ae.Code == amqp091.NotFound
}
