package sim

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// natsScenario is a scenario for RunBodies on a broker.
func natsScenario(broker string) history.Scenario {
	return history.Scenario{Workload: "orders", Seed: 1, Prefetch: 1, Broker: broker}
}

var order1 = history.Message{ID: "order-1", Key: "order-1", Amount: 10, Kind: "OrderPlaced"}

// events of op in h, with their times.
func eventsOf(h *history.History, op string) []history.Event {
	var out []history.Event
	for _, e := range h.Events {
		if e.Op == op && e.Proc == "broker" {
			out = append(out, e)
		}
	}
	return out
}

// publishTwice publishes m, waits gap, publishes it again; both confirms must come.
func publishTwice(gap time.Duration) func(context.Context, Ports) {
	return func(ctx context.Context, env Ports) {
		for i := range 2 {
			if i == 1 {
				env.Clock.Sleep(ctx, gap)
			}
			conf, err := env.Publisher.Publish(ctx, order1)
			if err != nil {
				panic(err)
			}
			if err := conf.Wait(ctx); err != nil {
				panic(err)
			}
		}
	}
}

// TestNATSDuplicateWindow: on NATS a publish of an id the stream stored within its window is
// confirmed and not stored again, and the history shows the drop; after the window, or on
// RabbitMQ, the repeat is stored.
func TestNATSDuplicateWindow(t *testing.T) {
	window := strategies.Window
	tests := []struct {
		name    string
		broker  string
		gap     time.Duration
		stored  int
		dropped int
	}{
		{"nats, repeat within the window", history.BrokerNATS, 10 * time.Millisecond, 1, 1},
		{"nats, repeat just inside the window", history.BrokerNATS, window - 5*time.Millisecond, 1, 1},
		{"nats, repeat after the window", history.BrokerNATS, window + time.Millisecond, 2, 0},
		{"rabbitmq, repeat within a second", history.BrokerRabbitMQ, 10 * time.Millisecond, 2, 0},
		{"rabbitmq by default", "", 10 * time.Millisecond, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := RunBodies(natsScenario(tt.broker), DefaultConfig(), publishTwice(tt.gap))
			if err != nil {
				t.Fatal(err)
			}
			stored, dropped := 0, 0
			for _, e := range eventsOf(h, history.OpEnqueue) {
				if e.Guard == GuardWindow {
					dropped++
				} else {
					stored++
				}
			}
			if stored != tt.stored || dropped != tt.dropped || h.Final.Ready != tt.stored {
				t.Errorf("stored %d, dropped %d, ready %d; want %d stored, %d dropped", stored, dropped, h.Final.Ready, tt.stored, tt.dropped)
			}
		})
	}
}

// takeAndLeave takes one delivery and settles it as settle says, then returns (its process
// exits, its connection closes); a second body takes what comes back.
func takeAndLeave(settle func(ctx context.Context, env Ports, d strategies.Delivery)) func(context.Context, Ports) {
	return func(ctx context.Context, env Ports) {
		conf, err := env.Publisher.Publish(ctx, order1)
		if err != nil {
			panic(err)
		}
		if err := conf.Wait(ctx); err != nil {
			panic(err)
		}
		d, err := env.Sub.Next(ctx)
		for err != nil {
			d, err = env.Sub.Next(ctx)
		}
		settle(ctx, env, d)
	}
}

// takeUntil takes deliveries for a while and acks them, from 20 ms on (after the first body took
// its delivery): the consumer that gets what comes back.
func takeUntil(ms int64) func(context.Context, Ports) {
	return func(ctx context.Context, env Ports) {
		start := env.Clock.Now()
		env.Clock.Sleep(ctx, 20*time.Millisecond)
		for env.Clock.Now().Sub(start) < time.Duration(ms)*time.Millisecond {
			d, err := env.Sub.Next(ctx)
			if err != nil {
				continue
			}
			_ = env.Sub.Ack(ctx, d.Tag)
		}
	}
}

// TestNATSRedelivery: on NATS an unacknowledged delivery comes back, flagged, only when its ack
// wait runs out, not when its connection closes (RabbitMQ requeues it at once); a Nak requeues
// at once; a Term drops the message.
func TestNATSRedelivery(t *testing.T) {
	cfg := DefaultConfig()
	leave := func(context.Context, Ports, strategies.Delivery) {}
	nak := func(ctx context.Context, env Ports, d strategies.Delivery) { _ = env.Sub.Nack(ctx, d.Tag, true) }
	term := func(ctx context.Context, env Ports, d strategies.Delivery) { _ = env.Sub.Nack(ctx, d.Tag, false) }
	tests := []struct {
		name     string
		broker   string
		settle   func(context.Context, Ports, strategies.Delivery)
		requeues int
		atLeast  int64 // the requeue comes this long after the first delivery, at least
		before   int64 // and before this long
	}{
		{"nats: left unacknowledged, back after the ack wait", history.BrokerNATS, leave, 1, cfg.AckWait, cfg.AckWait + 5},
		{"rabbitmq: left unacknowledged, back when the channel closes", history.BrokerRabbitMQ, leave, 1, 0, 20},
		// Back at once, to the same consumer, which leaves without acking it: back again after
		// the ack wait.
		{"nats: nak, back at once", history.BrokerNATS, nak, 2, 0, 20},
		{"nats: term, dropped", history.BrokerNATS, term, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := RunBodies(natsScenario(tt.broker), cfg, takeAndLeave(tt.settle), takeUntil(2*cfg.AckWait))
			if err != nil {
				t.Fatal(err)
			}
			delivers, requeues := eventsOf(h, history.OpDeliver), eventsOf(h, history.OpRequeue)
			if len(requeues) != tt.requeues || len(delivers) != 1+tt.requeues {
				t.Fatalf("%d requeues, %d deliveries; want %d and %d:\n%v", len(requeues), len(delivers), tt.requeues, 1+tt.requeues, h.Events)
			}
			if tt.requeues == 0 {
				return
			}
			if d := requeues[0].Time - delivers[0].Time; d < tt.atLeast || d >= tt.before {
				t.Errorf("requeued %d ms after the delivery; want in [%d, %d)", d, tt.atLeast, tt.before)
			}
			if !delivers[1].Redelivered {
				t.Errorf("the second delivery is not flagged redelivered: %+v", delivers[1])
			}
		})
	}
}

// TestNATSLateAck: an ack that comes after the ack wait settles the message (its redelivery,
// still in the queue, is not handed out), and the client sees no error.
func TestNATSLateAck(t *testing.T) {
	cfg := DefaultConfig()
	var ackErr error
	slow := func(ctx context.Context, env Ports, d strategies.Delivery) {
		env.Clock.Sleep(ctx, time.Duration(cfg.AckWait+10)*time.Millisecond)
		ackErr = env.Sub.Ack(ctx, d.Tag)
	}
	h, err := RunBodies(natsScenario(history.BrokerNATS), cfg, takeAndLeave(slow))
	if err != nil {
		t.Fatal(err)
	}
	if ackErr != nil {
		t.Errorf("late ack: %v", ackErr)
	}
	// The redelivery went back to the queue and was handed to the same, still connected,
	// consumer's buffer; the late ack settles the message and nothing is left.
	if n := len(eventsOf(h, history.OpRequeue)); n != 1 {
		t.Errorf("%d requeues, want 1", n)
	}
	if h.Final.Ready != 0 || h.Final.Unacked != 0 {
		t.Errorf("ready %d, unacked %d after a late ack; want none", h.Final.Ready, h.Final.Unacked)
	}
}

// TestNATSDeterministic: a NATS run is the same run, event for event, every time.
func TestNATSDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	body := func() []func(context.Context, Ports) {
		return []func(context.Context, Ports){publishTwice(20 * time.Millisecond), takeAndLeave(func(context.Context, Ports, strategies.Delivery) {}), takeUntil(2 * cfg.AckWait)}
	}
	h1, err1 := RunBodies(natsScenario(history.BrokerNATS), cfg, body()...)
	h2, err2 := RunBodies(natsScenario(history.BrokerNATS), cfg, body()...)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !reflect.DeepEqual(h1.Events, h2.Events) {
		t.Error("two runs of one NATS scenario differ")
	}
}
