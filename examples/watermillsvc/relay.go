package watermillsvc

import (
	"context"
	"errors"
	"fmt"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"

	"github.com/deliveryharness/harness/service"
)

// Relay runs Watermill's forwarder until ctx ends: a watermill-sql subscriber reads the outbox
// topic (consumer group RelayGroup) and the forwarder publishes each enveloped event to its
// destination topic, the run's queue, with a watermill-amqp publisher. The AMQP client
// reconnects by itself; a forwarder that cannot start (the broker unreachable when it
// connects, the outbox's subscription refused) is built again after a pause.
func (s *Service) Relay(ctx context.Context, env service.Env) error {
	if err := checkWorkload(env); err != nil {
		return err
	}
	for ctx.Err() == nil {
		if err := s.forward(ctx, env); err != nil && ctx.Err() == nil {
			s.logger.Error("watermillsvc: relay stopped, starting again", err, nil)
			pause(ctx, restartPause)
		}
	}
	return nil
}

// forward runs one forwarder until ctx ends or it cannot run.
func (s *Service) forward(ctx context.Context, env service.Env) (err error) {
	pool, err := newPool(ctx, env)
	if err != nil {
		return err
	}
	defer pool.Close()
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(timedConn{pool}), wsql.SubscriberConfig{
		ConsumerGroup:  RelayGroup,
		AckDeadline:    new(ackDeadline),
		PollInterval:   s.poll(),
		ResendInterval: retryInterval,
		RetryInterval:  retryInterval,
		SchemaAdapter:  schemaAdapter(),
		OffsetsAdapter: offsetsAdapter(),
	}, s.logger)
	if err != nil {
		return fmt.Errorf("watermillsvc: relay: outbox subscriber: %w", err)
	}
	defer func() { err = errors.Join(err, closeErr("outbox subscriber", sub.Close())) }()
	pub, err := wamqp.NewPublisher(amqpConfig(env), s.logger)
	if err != nil {
		return fmt.Errorf("watermillsvc: relay: AMQP publisher: %w", err)
	}
	defer func() { err = errors.Join(err, closeErr("AMQP publisher", pub.Close())) }()
	fwd, err := forwarder.NewForwarder(sub, pub, s.logger, forwarder.Config{
		ForwarderTopic: OutboxTopic,
		CloseTimeout:   closeTimeout,
	})
	if err != nil {
		return fmt.Errorf("watermillsvc: relay: forwarder: %w", err)
	}
	// Run returns when ctx ends (the subscription ends, and with it the router), or at once
	// when the subscription could not start.
	if err := fwd.Run(ctx); err != nil {
		return fmt.Errorf("watermillsvc: relay: forwarder: %w", err)
	}
	return nil
}

func closeErr(what string, err error) error {
	if err != nil {
		return fmt.Errorf("watermillsvc: close the %s: %w", what, err)
	}
	return nil
}
