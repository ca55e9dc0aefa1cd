package real_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/conformance"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/nats"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
)

// TestConformanceNATS runs the port-semantics suite on PostgreSQL and NATS JetStream, with the
// features where JetStream differs from RabbitMQ: redelivery after the ack wait (not at a
// consumer's exit), the duplicate window, and a requeued message's place not kept.
func TestConformanceNATS(t *testing.T) {
	inf := realtest.RequireNATS(t)
	conformance.Test(t, confNATS{inf: inf}, conformance.Features{AckWait: nats.AckWait, DedupWindow: strategies.Window})
}

// confNATS runs each body as a goroutine with its own database pool and NATS connections, on a
// stream and durable consumer of the check's own.
type confNATS struct{ inf real.Infra }

func (b confNATS) Run(t testing.TB, s conformance.Setup, bodies ...conformance.Body) history.Final {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runID := real.NewRunID()
	schema, err := pg.CreateSchema(ctx, b.inf.PostgresURL, runID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := schema.Drop(context.Background()); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	st, err := nats.CreateStream(ctx, b.inf.NATSURL, runID, "conformance")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Delete(context.Background()); err != nil {
			t.Errorf("delete stream: %v", err)
		}
		_ = st.Close()
	})
	var gw *real.Gateway
	var mail pg.Mailer
	if s.Workload == "emails" {
		if gw, err = real.StartGateway(nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = gw.Close() })
		mail = real.NewGatewayClient(gw.URL, 5*time.Second)
	}
	var wg sync.WaitGroup
	for i, body := range bodies {
		store, err := pg.NewStoreWithGateway(ctx, b.inf.PostgresURL, schema.Name, s.Workload, mail)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := nats.NewPublisher(ctx, b.inf.NATSURL, st.Subject, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := nats.NewSubscription(ctx, b.inf.NATSURL, st.Name, st.Durable, max(1, s.Prefetch), 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The body's return is its process's exit: its connections close (what it held
			// unacknowledged comes back after the ack wait) and open transactions roll back.
			defer store.Close()
			defer pub.Close()
			defer sub.Close()
			body(ctx, conformance.Env{Name: "body-" + string(rune('1'+i)), Store: store, Publisher: pub, Sub: sub, Clock: real.Clock{}})
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("bodies still running after %v", time.Minute)
	}
	final, err := schema.Final(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gw != nil {
		final.Effects = gw.Effects()
	}
	// Every body has exited: what the consumer still has delivered and unacknowledged comes back
	// after the ack wait, so it counts as ready, as RabbitMQ's requeue at a close does.
	pending, ackPending, err := st.Depth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	final.Ready = pending + ackPending
	return final
}
