package real_test

import (
	"context"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/conformance"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/nats"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
)

// TestConformanceNATS runs the port-semantics suite on PostgreSQL and NATS JetStream, with the
// features where JetStream differs from RabbitMQ: redelivery after the ack wait (not at a
// consumer's exit), the duplicate window, and a requeued message's place not kept.
func TestConformanceNATS(t *testing.T) {
	inf := realtest.RequireNATS(t)
	conformance.Test(t, confBackend{inf: inf, broker: natsStream}, conformance.Features{AckWait: nats.AckWait, DedupWindow: strategies.Window})
}

// natsConf is a check's stream and durable consumer on NATS JetStream.
type natsConf struct {
	url string
	st  *nats.Stream
}

// natsStream creates the check's stream and durable consumer on NATS JetStream.
func natsStream(ctx context.Context, t testing.TB, inf real.Infra, runID string) confQueue {
	t.Helper()
	st, err := nats.CreateStream(ctx, inf.NATSURL, runID, "conformance")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Delete(context.Background()); err != nil {
			t.Errorf("delete stream: %v", err)
		}
		_ = st.Close()
	})
	return natsConf{url: inf.NATSURL, st: st}
}

func (n natsConf) open(ctx context.Context, prefetch int) (strategies.Publisher, strategies.Subscription, func(), error) {
	pub, err := nats.NewPublisher(ctx, n.url, n.st.Subject, 2*time.Second)
	if err != nil {
		return nil, nil, nil, err
	}
	sub, err := nats.NewSubscription(ctx, n.url, n.st.Name, n.st.Durable, prefetch, 50*time.Millisecond)
	if err != nil {
		_ = pub.Close()
		return nil, nil, nil, err
	}
	return pub, sub, func() { _ = sub.Close(); _ = pub.Close() }, nil
}

// ready: every body has exited, so what the consumer still has delivered and unacknowledged
// comes back after the ack wait, and counts as ready, as RabbitMQ's requeue at a close does.
func (n natsConf) ready(ctx context.Context) (int, error) {
	pending, ackPending, err := n.st.Depth(ctx)
	return pending + ackPending, err
}
