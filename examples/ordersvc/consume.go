package ordersvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/service"
)

// Consume implements service.Service: it pays for orders until ctx ends. Each delivery is handled
// in one transaction that inserts its message id into the inbox and, when the id is new, the
// payment; the delivery is acknowledged after that transaction commits. When anything before the
// ack fails, the channel is closed without the ack, so the broker delivers the message again.
func (s *Service) Consume(ctx context.Context, env service.Env) error {
	c := &consumer{env: env, q: queriesFor(env.Schema), inboxApart: s.inboxApart}
	defer c.close()
	for ctx.Err() == nil {
		if err := c.session(ctx); err != nil {
			pause(ctx, retryPause)
		}
	}
	return nil
}

// consumer is one consumer process's connections; a broken one is dropped and opened again.
type consumer struct {
	env        service.Env
	q          queries
	inboxApart bool
	db         *pgx.Conn
	mq         *broker
	deliveries <-chan amqp.Delivery // of mq's channel
}

// errDeliveriesEnded: the channel or connection the deliveries came on closed.
var errDeliveriesEnded = errors.New("ordersvc: consume: deliveries ended")

// session connects what is not connected and handles deliveries until ctx ends (nil) or
// something fails.
func (c *consumer) session(ctx context.Context) error {
	if err := c.connect(ctx); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-c.deliveries:
			if !ok {
				c.dropChannel()
				return errDeliveriesEnded
			}
			if err := c.handle(ctx, d); err != nil {
				return err
			}
		}
	}
}

// connect opens what is not open: the database connection, the broker connection, and a channel
// consuming the run's queue with manual acks and env.Prefetch deliveries at most unacknowledged.
func (c *consumer) connect(ctx context.Context) error {
	if c.db == nil {
		db, err := connectDB(ctx, c.env.Postgres)
		if err != nil {
			return err
		}
		c.db = db
	}
	if !c.mq.healthy() {
		c.dropBroker()
		mq, err := dialBroker(ctx, c.env.AMQP)
		if err != nil {
			return err
		}
		c.mq = mq
	}
	if c.mq.ch != nil {
		return nil
	}
	if err := c.mq.openChannel(ctx); err != nil {
		c.dropBroker()
		return err
	}
	ch := c.mq.ch
	if err := c.mq.within(ctx, brokerTimeout, func() error { return ch.Qos(max(1, c.env.Prefetch), 0, false) }); err != nil {
		c.dropBroker()
		return fmt.Errorf("ordersvc: consume: qos: %w", err)
	}
	var deliveries <-chan amqp.Delivery
	err := c.mq.within(ctx, brokerTimeout, func() (err error) {
		deliveries, err = ch.Consume(c.env.Queue, "", false, false, false, false, nil)
		return err
	})
	if err != nil {
		c.dropBroker()
		return fmt.Errorf("ordersvc: consume %s: %w", c.env.Queue, err)
	}
	c.deliveries = deliveries
	return nil
}

// handle pays for one delivery and acknowledges it.
func (c *consumer) handle(ctx context.Context, d amqp.Delivery) error {
	var p payload
	if d.MessageId == "" || json.Unmarshal(d.Body, &p) != nil {
		// No version of the order service sends this: drop it rather than loop on it.
		return c.settle(ctx, func() error { return d.Reject(false) })
	}
	if err := c.apply(ctx, d.MessageId, p); err != nil {
		// Not acknowledged: closing the channel hands the delivery back to the broker.
		c.dropChannel()
		return err
	}
	return c.settle(ctx, func() error { return d.Ack(false) })
}

// apply runs the payment's transaction: the inbox row and, for a message id not seen before, the
// payment.
func (c *consumer) apply(ctx context.Context, msgID string, p payload) error {
	ctx, cancel := context.WithTimeout(ctx, txTimeout)
	defer cancel()
	tx, err := c.db.Begin(ctx)
	if err != nil {
		c.dropDB()
		return fmt.Errorf("ordersvc: pay %s: begin: %w", msgID, err)
	}
	defer func() { rollback(tx) }()
	tag, err := tx.Exec(ctx, c.q.insertInbox, msgID)
	if err == nil && c.inboxApart {
		tx, err = commitAndBegin(ctx, c.db, tx) // the bug (ordersvc-bug): the inbox row commits without its payment
	}
	if err != nil {
		c.dropDB()
		return fmt.Errorf("ordersvc: pay %s: inbox: %w", msgID, err)
	}
	if tag.RowsAffected() == 1 {
		if _, err := tx.Exec(ctx, c.q.insertPayment, msgID, p.Key, p.Amount); err != nil {
			c.dropDB()
			return fmt.Errorf("ordersvc: pay %s: insert payment: %w", msgID, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		// Outcome unknown: the delivery comes back, and the inbox row, if it committed, stops a
		// second payment.
		c.dropDB()
		return fmt.Errorf("ordersvc: pay %s: commit (outcome unknown): %w", msgID, err)
	}
	return nil
}

// commitAndBegin commits tx and begins the next transaction on db; when either fails it returns
// tx, which the caller's rollback then finds ended.
func commitAndBegin(ctx context.Context, db *pgx.Conn, tx pgx.Tx) (pgx.Tx, error) {
	if err := tx.Commit(ctx); err != nil {
		return tx, err
	}
	next, err := db.Begin(ctx)
	if err != nil {
		return tx, err
	}
	return next, nil
}

// settle acknowledges or rejects a delivery within brokerTimeout, even when ctx has just ended:
// the payment has committed, so the ack is worth sending. On failure the broker connection is
// dropped, and the broker delivers the message again.
func (c *consumer) settle(ctx context.Context, f func() error) error {
	if err := c.mq.within(context.WithoutCancel(ctx), brokerTimeout, f); err != nil {
		c.dropBroker()
		return fmt.Errorf("ordersvc: consume: settle a delivery: %w", err)
	}
	return nil
}

func (c *consumer) dropChannel() {
	c.mq.closeChannel()
	c.deliveries = nil
}

func (c *consumer) dropDB() {
	closeDB(c.db)
	c.db = nil
}

func (c *consumer) dropBroker() {
	c.mq.close()
	c.mq = nil
	c.deliveries = nil
}

func (c *consumer) close() {
	c.dropBroker()
	c.dropDB()
}
