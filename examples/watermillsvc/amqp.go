package watermillsvc

import (
	"encoding/json"
	"math"
	"time"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/service"
)

// amqpConfig is watermill-amqp's durable queue config for env.Queue: the default exchange,
// routing key and queue name = the topic (the run's queue), persistent messages, the queue
// declared durable with env.QueueArgs (as the harness declared it). On top of the defaults:
//   - a dial and handshake deadline and a short heartbeat, so that a stalled link is closed
//     (after three silent heartbeats) and the library's reconnect loop takes over;
//   - a reconnect backoff capped at two seconds, so that a healed link is used again soon;
//   - publisher confirms: the forwarder's publish returns only once the broker has the
//     message, so that the outbox row is not acknowledged for a publish the broker never got
//     (the durable queue config leaves them off). watermill-amqp waits for the confirm with no
//     deadline of its own: a confirm that never comes holds that publish until its channel
//     closes, and the SQL subscriber gives the row up after ackDeadline and sends it again;
//   - the prefetch of env.Prefetch.
func amqpConfig(env service.Env) wamqp.Config {
	cfg := wamqp.NewDurableQueueConfig(env.AMQP)
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("watermillsvc " + env.Proc)
	cfg.Connection.AmqpConfig = &amqp.Config{
		Heartbeat:  heartbeat,
		Dial:       amqp.DefaultDial(connectTimeout),
		Properties: props,
	}
	cfg.Connection.Reconnect = &wamqp.ReconnectConfig{
		BackoffInitialInterval:     200 * time.Millisecond,
		BackoffRandomizationFactor: 0.5,
		BackoffMultiplier:          1.5,
		BackoffMaxInterval:         2 * time.Second,
	}
	cfg.Queue.Arguments = queueArgs(env.QueueArgs)
	cfg.Publish.ConfirmDelivery = true
	cfg.Consume.Qos.PrefetchCount = max(1, env.Prefetch)
	return cfg
}

// queueArgs gives the queue's arguments as declared. A whole number that reached this process
// as a JSON number (float64, json.Number) is sent as an integer: RabbitMQ treats every integer
// type of a queue argument as equivalent, but refuses a double where the queue has an integer.
func queueArgs(args map[string]any) amqp.Table {
	if args == nil {
		return nil
	}
	out := make(amqp.Table, len(args))
	for k, v := range args {
		switch n := v.(type) {
		case float64:
			if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
				v = int64(n)
			}
		case json.Number:
			if i, err := n.Int64(); err == nil {
				v = i
			}
		}
		out[k] = v
	}
	return out
}
