package real

// The brokers side by side through the harness's adapters: publish with confirm (one message
// published and its confirm awaited before the next, as every catalogue publisher does) and
// consume (Next and Ack per message, prefetch 1 and 16), on RabbitMQ (a classic durable queue,
// persistent messages) and on NATS JetStream (a file-stored stream, the Nats-Msg-Id header, a
// durable pull consumer with explicit acks).
//
//	HARNESS_REQUIRE_INFRA=1 go test -run '^$' -bench 'BenchmarkBroker' -benchtime 2000x ./harness/real/

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/nats"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
)

// benchBroker is one broker's queue or stream for a benchmark: a publisher and a subscription
// on it, and its removal.
type benchBroker struct {
	pub   interface{ strategies.Publisher }
	sub   func(prefetch int) strategies.Subscription
	close func()
}

func newBenchBroker(b *testing.B, broker string) benchBroker {
	b.Helper()
	inf := realtest.RequireNATS(b)
	ctx := context.Background()
	runID := NewRunID()
	var closers []func()
	bb := benchBroker{close: func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}}
	switch broker {
	case history.BrokerNATS:
		st, err := nats.CreateStream(ctx, inf.NATSURL, runID, "bench")
		if err != nil {
			b.Fatal(err)
		}
		closers = append(closers, func() { _ = st.Delete(context.Background()); _ = st.Close() })
		pub, err := nats.NewPublisher(ctx, inf.NATSURL, st.Subject, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		closers = append(closers, func() { _ = pub.Close() })
		bb.pub = pub
		bb.sub = func(prefetch int) strategies.Subscription {
			s, err := nats.NewSubscription(ctx, inf.NATSURL, st.Name, st.Durable, prefetch, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			closers = append(closers, func() { _ = s.Close() })
			return s
		}
	default:
		q, err := amqp.DeclareQueue(ctx, inf.AMQPURL, runID)
		if err != nil {
			b.Fatal(err)
		}
		closers = append(closers, func() { _ = q.Delete(context.Background()); _ = q.Close() })
		pub, err := amqp.NewPublisher(ctx, inf.AMQPURL, q.Name, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		closers = append(closers, func() { _ = pub.Close() })
		bb.pub = pub
		bb.sub = func(prefetch int) strategies.Subscription {
			s, err := amqp.NewSubscription(ctx, inf.AMQPURL, q.Name, prefetch, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			closers = append(closers, func() { _ = s.Close() })
			return s
		}
	}
	return bb
}

func publishN(b *testing.B, pub strategies.Publisher, n int, prefix string) {
	b.Helper()
	ctx := context.Background()
	for i := range n {
		c, err := pub.Publish(ctx, history.Message{ID: fmt.Sprintf("%s-%d", prefix, i), Key: "k", Seq: int64(i), Amount: 1, Kind: "OrderPlaced"})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBrokerPublishConfirm: one publish and its confirm at a time.
func BenchmarkBrokerPublishConfirm(b *testing.B) {
	for _, broker := range history.Brokers() {
		b.Run(broker, func(b *testing.B) {
			bb := newBenchBroker(b, broker)
			defer bb.close()
			publishN(b, bb.pub, 10, "warm")
			b.ResetTimer()
			publishN(b, bb.pub, b.N, "m")
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkBrokerConsume: Next and Ack of b.N messages published beforehand.
func BenchmarkBrokerConsume(b *testing.B) {
	for _, broker := range history.Brokers() {
		for _, prefetch := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/prefetch-%d", broker, prefetch), func(b *testing.B) {
				bb := newBenchBroker(b, broker)
				defer bb.close()
				publishN(b, bb.pub, b.N, "m")
				sub := bb.sub(prefetch)
				ctx := context.Background()
				b.ResetTimer()
				for range b.N {
					d, err := sub.Next(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if err := sub.Ack(ctx, d.Tag); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}
