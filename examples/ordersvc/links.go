package ordersvc

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
)

// connectDB opens one PostgreSQL connection within connectTimeout.
func connectDB(ctx context.Context, url string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	db, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("ordersvc: connect to postgres: %w", err)
	}
	return db, nil
}

// closeDB closes a connection, giving the server closeTimeout to hear of it.
func closeDB(db *pgx.Conn) {
	if db == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = db.Close(ctx)
}

// rollback ends a transaction that did not commit; after a commit it does nothing. It has a
// context of its own, so that it runs when the caller's has ended.
func rollback(tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = tx.Rollback(ctx)
}

// broker is one AMQP connection and, when open, one channel on it.
type broker struct {
	raw  net.Conn // the socket under conn: closing it ends any call waiting on conn
	conn *amqp.Connection
	ch   *amqp.Channel
}

// dialBroker opens an AMQP connection (without a channel) within connectTimeout.
func dialBroker(ctx context.Context, url string) (*broker, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	b := &broker{}
	cfg := amqp.Config{
		Heartbeat: heartbeat,
		Dial: func(network, addr string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// The handshake's deadline; the client clears it once the connection is open.
			deadline, _ := ctx.Deadline()
			if err := c.SetDeadline(deadline); err != nil {
				_ = c.Close()
				return nil, err
			}
			b.raw = c
			return c, nil
		},
	}
	conn, err := amqp.DialConfig(url, cfg)
	if err != nil {
		return nil, fmt.Errorf("ordersvc: connect to the broker: %w", err)
	}
	b.conn = conn
	return b, nil
}

// within runs f, a call of the AMQP client that takes no context, for at most timeout. When time
// is up it closes the socket under the connection, which ends f with an error, and waits for f
// to return: no goroutine outlives the call.
func (b *broker) within(ctx context.Context, timeout time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = b.raw.Close()
		<-done
		return fmt.Errorf("ordersvc: broker call: %w", ctx.Err())
	}
}

// openChannel opens the channel, unless it is open.
func (b *broker) openChannel(ctx context.Context) error {
	if b.ch != nil {
		return nil
	}
	var ch *amqp.Channel
	err := b.within(ctx, brokerTimeout, func() (err error) {
		ch, err = b.conn.Channel()
		return err
	})
	if err != nil {
		return fmt.Errorf("ordersvc: open a channel: %w", err)
	}
	b.ch = ch
	return nil
}

// closeChannel closes the channel: the broker requeues what it delivered there unacknowledged.
// When the close does not complete, the connection is closed too.
func (b *broker) closeChannel() {
	if b == nil || b.ch == nil {
		return
	}
	ch := b.ch
	b.ch = nil
	if err := b.within(context.Background(), closeTimeout, ch.Close); err != nil {
		b.close()
	}
}

// healthy reports whether the connection is still open.
func (b *broker) healthy() bool { return b != nil && !b.conn.IsClosed() }

// close closes the connection (and its channel), waiting closeTimeout at most for the broker.
func (b *broker) close() {
	if b == nil {
		return
	}
	_ = b.conn.CloseDeadline(time.Now().Add(closeTimeout))
	_ = b.raw.Close()
}

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
