package ordersvc

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/service"
)

// Relay implements service.Relayer: it publishes the outbox until ctx ends. Each pass claims a
// batch of unpublished rows (FOR UPDATE SKIP LOCKED, so that competing relays skip them),
// publishes each with a publisher confirm and marks the batch published in the claim's
// transaction. A pass that fails anywhere rolls back, so its rows are published again by a later
// pass: the relay publishes at least once, and the consumer drops the copies.
func (s *Service) Relay(ctx context.Context, env service.Env) error {
	r := &relay{env: env, q: queriesFor(env.Schema)}
	defer r.close()
	for ctx.Err() == nil {
		n, err := r.pass(ctx)
		switch {
		case err != nil:
			pause(ctx, retryPause)
		case n == 0:
			pause(ctx, idlePoll)
		}
	}
	return nil
}

// relay is one relay process's connections; a broken one is dropped and opened again.
type relay struct {
	env service.Env
	q   queries
	db  *pgx.Conn
	mq  *broker // its channel is in confirm mode
}

// outboxRow is a claimed row.
type outboxRow struct {
	id     int64
	msgID  string
	key    string
	amount int64
}

// pass claims, publishes and marks one batch, and returns how many rows it published.
func (r *relay) pass(ctx context.Context) (int, error) {
	if err := r.connect(ctx); err != nil {
		return 0, err
	}
	tx, err := r.beginClaim(ctx)
	if err != nil {
		r.dropDB()
		return 0, err
	}
	defer rollback(tx)
	batch, err := r.claim(ctx, tx)
	if err != nil {
		r.dropDB()
		return 0, err
	}
	if len(batch) == 0 {
		return 0, nil
	}
	ids := make([]int64, len(batch))
	for i, row := range batch {
		if err := r.publish(ctx, row); err != nil {
			// The rows stay unpublished; the rollback releases them.
			r.dropBroker()
			return 0, err
		}
		ids[i] = row.id
	}
	tctx, cancel := context.WithTimeout(ctx, txTimeout)
	defer cancel()
	if _, err := tx.Exec(tctx, r.q.markPublished, ids); err != nil {
		r.dropDB()
		return 0, fmt.Errorf("ordersvc: relay: mark published: %w", err)
	}
	if err := tx.Commit(tctx); err != nil {
		// Whether the rows are marked is unknown: if not, they are published again.
		r.dropDB()
		return 0, fmt.Errorf("ordersvc: relay: commit (outcome unknown): %w", err)
	}
	return len(batch), nil
}

// connect opens what is not open: the database connection, and the broker connection with a
// channel in confirm mode.
func (r *relay) connect(ctx context.Context) error {
	if r.db == nil {
		db, err := connectDB(ctx, r.env.Postgres)
		if err != nil {
			return err
		}
		r.db = db
	}
	if !r.mq.healthy() {
		r.dropBroker()
		mq, err := dialBroker(ctx, r.env.AMQP)
		if err != nil {
			return err
		}
		r.mq = mq
	}
	if r.mq.ch == nil {
		if err := r.mq.openChannel(ctx); err != nil {
			r.dropBroker()
			return err
		}
		if err := r.mq.within(ctx, brokerTimeout, func() error { return r.mq.ch.Confirm(false) }); err != nil {
			r.dropBroker()
			return fmt.Errorf("ordersvc: relay: confirm mode: %w", err)
		}
	}
	return nil
}

func (r *relay) beginClaim(ctx context.Context) (pgx.Tx, error) {
	ctx, cancel := context.WithTimeout(ctx, txTimeout)
	defer cancel()
	tx, err := r.db.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("ordersvc: relay: begin: %w", err)
	}
	return tx, nil
}

func (r *relay) claim(ctx context.Context, tx pgx.Tx) ([]outboxRow, error) {
	ctx, cancel := context.WithTimeout(ctx, txTimeout)
	defer cancel()
	rows, _ := tx.Query(ctx, r.q.claim, relayBatch)
	batch, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (outboxRow, error) {
		var o outboxRow
		return o, row.Scan(&o.id, &o.msgID, &o.key, &o.amount)
	})
	if err != nil {
		return nil, fmt.Errorf("ordersvc: relay: claim: %w", err)
	}
	return batch, nil
}

// publish publishes one row, persistent, through the default exchange to the run's queue, and
// waits confirmTimeout at most for its confirm.
func (r *relay) publish(ctx context.Context, row outboxRow) error {
	body, err := json.Marshal(payload{Key: row.key, Amount: row.amount})
	if err != nil {
		return fmt.Errorf("ordersvc: relay: encode %s: %w", row.msgID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	msg := amqp.Publishing{
		MessageId:    row.msgID,
		DeliveryMode: amqp.Persistent,
		ContentType:  "application/json",
		Type:         "OrderPlaced",
		Body:         body,
	}
	var conf *amqp.DeferredConfirmation
	err = r.mq.within(ctx, confirmTimeout, func() (err error) {
		conf, err = r.mq.ch.PublishWithDeferredConfirmWithContext(ctx, "", r.env.Queue, false, false, msg)
		return err
	})
	if err != nil {
		return fmt.Errorf("ordersvc: relay: publish %s: %w", row.msgID, err)
	}
	acked, err := conf.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("ordersvc: relay: no confirm of %s: %w", row.msgID, err)
	}
	if !acked {
		return fmt.Errorf("%w: %s", errNoConfirm, row.msgID)
	}
	return nil
}

func (r *relay) dropDB() {
	closeDB(r.db)
	r.db = nil
}

func (r *relay) dropBroker() {
	r.mq.close()
	r.mq = nil
}

func (r *relay) close() {
	r.dropDB()
	r.dropBroker()
}
