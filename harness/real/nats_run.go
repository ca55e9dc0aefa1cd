package real

// A run whose scenario picks the nats broker: its stream and durable consumer on NATS JetStream
// in place of the RabbitMQ queue, the workers' publishers and subscriptions on the NATS adapter,
// the broker links' wire toxics reading NATS's protocol. Every fault that acts on the broker link
// (partition-broker, broker-down, latency, lost-ack, lost-confirm, concurrent-consumers) goes
// through the same Toxiproxy proxies and gates as on RabbitMQ: the proxy of a worker's broker
// link keeps its name (the worker's name and proxyAMQP) whatever the broker speaks.

import (
	"context"
	"fmt"
	"time"

	"github.com/deliveryharness/harness/harness/component"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/nats"
	"github.com/deliveryharness/harness/harness/real/wire"
	"github.com/deliveryharness/harness/harness/real/worker"
	"github.com/deliveryharness/harness/service"
	"github.com/deliveryharness/harness/strategies"
)

// NATSConfirmTimeout is how long a NATS publisher waits for its PubAck, at most (the backend's
// confirm timeout when shorter). It is well inside the stream's duplicate window
// (strategies.Window, 3 s), as the simulator's 50 ms confirm wait is inside the same window, so
// that a publisher's retry after a lost confirm reaches the stream while it still remembers the
// message id: the case broker-side dedup is made for.
const NATSConfirmTimeout = 250 * time.Millisecond

// onNATS reports whether the run's scenario picks NATS JetStream.
func (r *run) onNATS() bool { return r.sc.BrokerOf() == history.BrokerNATS }

// natsRefuses says why sc cannot run on NATS on real servers, nil when it can. A team's service
// (service mode) brings its own RabbitMQ client; new-subscriber binds and purges a RabbitMQ
// queue mid-run, which has no NATS counterpart here; broker-restart restarts a RabbitMQ node
// (harness.ValidateWith refuses it for nats first).
func natsRefuses(sc history.Scenario, p strategies.Producer) error {
	if sc.BrokerOf() != history.BrokerNATS {
		return nil
	}
	if svc, ok := service.Of(p); ok {
		return fmt.Errorf("real: service %s talks to RabbitMQ: it does not run on the nats broker", svc.Name())
	}
	for _, k := range append([]string{sc.Fault}, faultKinds(sc.Faults)...) {
		if k == fault.NewSubscriber || k == fault.BrokerRestart {
			return fmt.Errorf("real: fault %s does not run on the nats broker", k)
		}
	}
	return nil
}

func faultKinds(fs []history.Fault) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Kind)
	}
	return out
}

// openStream creates the run's stream and its group's durable consumer on the backend's NATS
// server and returns the server's URL, for the workers' proxies.
func (r *run) openStream(ctx context.Context) (string, error) {
	inf := r.b.Infra
	if err := infra.RequireNATS(ctx, inf); err != nil {
		return "", err
	}
	s, err := nats.CreateStream(ctx, inf.NATSURL, r.runID, component.Group)
	if err != nil {
		return "", err
	}
	r.stream = s
	return inf.NATSURL, nil
}

// closeStream deletes the run's stream (its consumers with it) and reports the first error in
// *err.
func (r *run) closeStream(err *error) {
	if derr := r.stream.Delete(context.Background()); derr != nil && *err == nil {
		*err = derr
	}
	_ = r.stream.Close()
}

// brokerProto is what the run's broker links speak.
func (r *run) brokerProto() wire.Proto {
	if r.onNATS() {
		return wire.NATS
	}
	return wire.AMQP
}

// queueName is the RabbitMQ queue's name, for the workers; empty on NATS.
func (r *run) queueName() string {
	if r.queue == nil {
		return ""
	}
	return r.queue.Name
}

// natsConfig completes a worker's configuration for a NATS run: the broker, the stream, its
// subject and the group's durable consumer, and the PubAck wait.
func (r *run) natsConfig(cfg *worker.Config) {
	if r.stream == nil {
		return
	}
	cfg.Broker, cfg.NATS, cfg.AMQP = history.BrokerNATS, cfg.AMQP, ""
	cfg.Stream, cfg.Subject, cfg.Durable = r.stream.Name, r.stream.Subject, r.stream.Durable
	cfg.Timeouts.Confirm = min(cfg.Timeouts.Confirm, NATSConfirmTimeout)
}

// confirmTimeout is how long the run's publishers wait for a confirm: the backend's confirm
// timeout, and on NATS at most NATSConfirmTimeout (natsConfig).
func (r *run) confirmTimeout() time.Duration {
	if r.onNATS() {
		return min(r.b.Timeouts.Confirm, NATSConfirmTimeout)
	}
	return r.b.Timeouts.Confirm
}

// brokerDepth is what the broker still holds for the consumers: on RabbitMQ the queue's ready
// messages; on NATS the messages the group's consumer has not delivered plus those delivered and
// not acknowledged (the server redelivers them after the ack wait), and the latter alone.
func (r *run) brokerDepth(ctx context.Context) (ready, unacked int, err error) {
	if r.stream == nil {
		ready, err = r.queue.Depth(ctx)
		return ready, 0, err
	}
	pending, ackPending, err := r.stream.Depth(ctx)
	return pending + ackPending, ackPending, err
}

// observeStream records what the server holds once a dead process's connection is gone: on
// NATS its unacknowledged messages stay delivered until the ack wait runs out.
func (r *run) observeStream(ctx context.Context, name string) {
	pending, ackPending, err := r.stream.Depth(ctx)
	if err != nil {
		return
	}
	r.noteEvent(history.Event{Proc: "broker", Op: history.OpRequeue, From: name,
		Detail: fmt.Sprintf("connection of %s closed by the kernel; %d pending, %d delivered and unacknowledged (redelivered after the %v ack wait, not at once)",
			name, pending, ackPending, nats.AckWait)})
}

// brokerPublisher is a worker's publisher on its scenario's broker.
func brokerPublisher(ctx context.Context, c worker.Config) (interface {
	strategies.Publisher
	Close() error
}, error) {
	if c.Broker == history.BrokerNATS {
		p, err := nats.NewPublisher(ctx, c.NATS, c.Subject, c.Timeouts.Confirm)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	p, err := amqpPublisher(ctx, c)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// brokerSubscription is a worker's subscription on its scenario's broker.
func brokerSubscription(ctx context.Context, c worker.Config) (interface {
	strategies.Subscription
	Close() error
}, error) {
	if c.Broker == history.BrokerNATS {
		sub, err := nats.NewSubscription(ctx, c.NATS, c.Stream, c.Durable, max(1, c.Prefetch), c.Timeouts.Idle)
		if err != nil {
			return nil, err
		}
		return sub, nil
	}
	sub, err := amqpSubscription(ctx, c)
	if err != nil {
		return nil, err
	}
	return sub, nil
}

func amqpPublisher(ctx context.Context, c worker.Config) (*amqp.Publisher, error) {
	return amqp.NewPublisher(ctx, c.AMQP, c.Queue, c.Timeouts.Confirm)
}

func amqpSubscription(ctx context.Context, c worker.Config) (*amqp.Subscription, error) {
	return amqp.NewSubscription(ctx, c.AMQP, c.Queue, max(1, c.Prefetch), c.Timeouts.Idle)
}
