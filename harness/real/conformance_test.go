package real_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/conformance"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/containers"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/strategies"
)

// TestConformance runs the port-semantics suite on PostgreSQL and RabbitMQ: the same checks the
// simulator passes, so that a verdict on one means the same on the other.
func TestConformance(t *testing.T) {
	inf := containers.Require(t)
	conformance.Test(t, confBackend{inf: inf, broker: rabbitQueue}, conformance.Features{RequeueKeepsPosition: true})
}

// confQueue is a check's own queue on one broker: a process's publisher and subscription on it,
// and what is ready on it once every body has exited.
type confQueue interface {
	open(ctx context.Context, prefetch int) (strategies.Publisher, strategies.Subscription, func(), error)
	ready(ctx context.Context) (int, error)
}

// confBackend runs each body as a goroutine with its own database pool and broker connections,
// on a queue that broker makes for the check (and deletes when the test ends).
type confBackend struct {
	inf    real.Infra
	broker func(ctx context.Context, t testing.TB, inf real.Infra, runID string) confQueue
}

func (b confBackend) Run(t testing.TB, s conformance.Setup, bodies ...conformance.Body) history.Final {
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
	q := b.broker(ctx, t, b.inf, runID)
	// The emails workload's effect goes to a mail gateway, outside the database.
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
		pub, sub, closeBroker, err := q.open(ctx, max(1, s.Prefetch))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The body's return is its process's exit: its connections close (what it held
			// unacknowledged comes back: at the close on RabbitMQ, after the ack wait on NATS)
			// and open transactions roll back.
			defer store.Close()
			defer closeBroker()
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
	if final.Ready, err = q.ready(ctx); err != nil {
		t.Fatal(err)
	}
	return final
}

// rabbitConf is a check's queue on RabbitMQ.
type rabbitConf struct {
	url string
	q   *amqp.Queue
}

// rabbitQueue declares the check's queue on RabbitMQ.
func rabbitQueue(ctx context.Context, t testing.TB, inf real.Infra, runID string) confQueue {
	t.Helper()
	q, err := amqp.DeclareQueue(ctx, inf.AMQPURL, runID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := q.Delete(context.Background()); err != nil {
			t.Errorf("delete queue: %v", err)
		}
		_ = q.Close()
	})
	return rabbitConf{url: inf.AMQPURL, q: q}
}

func (r rabbitConf) open(ctx context.Context, prefetch int) (strategies.Publisher, strategies.Subscription, func(), error) {
	pub, err := amqp.NewPublisher(ctx, r.url, r.q.Name, 2*time.Second)
	if err != nil {
		return nil, nil, nil, err
	}
	sub, err := amqp.NewSubscription(ctx, r.url, r.q.Name, prefetch, 50*time.Millisecond)
	if err != nil {
		_ = pub.Close()
		return nil, nil, nil, err
	}
	return pub, sub, func() { _ = sub.Close(); _ = pub.Close() }, nil
}

// ready waits for a closed channel's requeue, which reaches the queue shortly after Close
// returns: the depth once two reads agree, or after 2 s.
func (r rabbitConf) ready(ctx context.Context) (int, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		ready, err := r.q.Depth(ctx)
		if err != nil {
			return 0, err
		}
		if time.Now().After(deadline) {
			return ready, nil
		}
		time.Sleep(50 * time.Millisecond)
		again, err := r.q.Depth(ctx)
		if err == nil && again == ready {
			return ready, nil
		}
	}
}
