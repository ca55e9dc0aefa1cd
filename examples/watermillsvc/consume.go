package watermillsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deliveryharness/harness/service"
)

// Consume runs a Watermill router on the run's queue until ctx ends: a watermill-amqp
// subscriber feeds a handler that inserts one payment per message, behind the Deduplicator
// middleware. A router that cannot start (the broker unreachable when it connects, the
// subscription refused) is built again after a pause, with the same Deduplicator.
func (s *Service) Consume(ctx context.Context, env service.Env) error {
	if err := checkWorkload(env); err != nil {
		return err
	}
	for ctx.Err() == nil {
		if err := s.consume(ctx, env); err != nil && ctx.Err() == nil {
			s.logger.Error("watermillsvc: consumer stopped, starting again", err, nil)
			pause(ctx, restartPause)
		}
	}
	return nil
}

// consume runs one router until ctx ends or it cannot run.
func (s *Service) consume(ctx context.Context, env service.Env) (err error) {
	pool, err := newPool(ctx, env)
	if err != nil {
		return err
	}
	defer pool.Close()
	sub, err := wamqp.NewSubscriber(amqpConfig(env), s.logger)
	if err != nil {
		return fmt.Errorf("watermillsvc: consumer: AMQP subscriber: %w", err)
	}
	defer func() { err = errors.Join(err, closeErr("AMQP subscriber", sub.Close())) }()
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: closeTimeout}, s.logger)
	if err != nil {
		return fmt.Errorf("watermillsvc: consumer: router: %w", err)
	}
	router.AddMiddleware(s.dedup.Middleware)
	router.AddConsumerHandler("payments", env.Queue, sub, pay(ctx, pool, s.hooks.Paid))
	// The router stops the way Watermill documents it: Close, which closes the subscriber, so
	// that it takes no more deliveries. (Cancelling Run's context alone leaves the AMQP
	// subscriber free to open a channel and consume again until it is closed.) A payment in
	// flight is cancelled with ctx and nacked.
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			_ = router.Close()
		case <-stopped:
		}
	}()
	// Run returns once the router is closed, or at once when the subscription could not start
	// (then the router is not closed: Close would wait closeTimeout for a handler that never
	// ran).
	if err := router.Run(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("watermillsvc: consumer: router: %w", err)
	}
	return nil
}

// pay is the handler: one payment row per message (msg_id = the message's UUID), in its own
// transaction, bounded by payTimeout and by the consumer's ctx. An error nacks the message,
// which the broker then redelivers. paid, when set, is told of each payment that committed.
func pay(ctx context.Context, pool *pgxpool.Pool, paid func(id string, at time.Time)) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		var ev orderPlaced
		if err := json.Unmarshal(msg.Payload, &ev); err != nil {
			return fmt.Errorf("watermillsvc: message %s: decode OrderPlaced: %w", msg.UUID, err)
		}
		ctx, cancel := context.WithTimeout(ctx, payTimeout)
		defer cancel()
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO payments (msg_id, key, amount) VALUES ($1, $2, $3)`, msg.UUID, ev.Key, ev.Amount)
			return err
		})
		if err != nil {
			return fmt.Errorf("watermillsvc: message %s: insert the payment: %w", msg.UUID, err)
		}
		if paid != nil {
			paid(msg.UUID, time.Now())
		}
		return nil
	}
}
