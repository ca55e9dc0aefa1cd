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
)

// TestConformance runs the port-semantics suite on PostgreSQL and RabbitMQ: the same checks the
// simulator passes, so that a verdict on one means the same on the other.
func TestConformance(t *testing.T) {
	inf := containers.Require(t)
	conformance.Test(t, confBackend{inf: inf}, conformance.Features{RequeueKeepsPosition: true})
}

// confBackend runs each body as a goroutine with its own database pool and broker connections.
type confBackend struct{ inf real.Infra }

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
	q, err := amqp.DeclareQueue(ctx, b.inf.AMQPURL, runID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := q.Delete(context.Background()); err != nil {
			t.Errorf("delete queue: %v", err)
		}
		_ = q.Close()
	})
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
		pub, err := amqp.NewPublisher(ctx, b.inf.AMQPURL, q.Name, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := amqp.NewSubscription(ctx, b.inf.AMQPURL, q.Name, max(1, s.Prefetch), 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The body's return is its process's exit: channels close (the broker requeues what
			// was not acknowledged) and connections go (open transactions roll back).
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
	// A closed channel's requeue reaches the queue shortly after Close returns.
	deadline := time.Now().Add(2 * time.Second)
	for {
		ready, err := q.Depth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		final.Ready = ready
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
		again, err := q.Depth(ctx)
		if err == nil && again == ready {
			break
		}
	}
	return final
}
