package servicetest_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/harness/real/realtest/servicetest"
	"github.com/deliveryharness/harness/service"
)

// Env's schema and queue are there, and a run's, while the test runs, and gone after it.
func TestEnv(t *testing.T) {
	inf := realtest.Require(t)
	admin := realtest.AdminConn(t, inf)
	var env service.Env
	var runID string
	t.Run("during", func(t *testing.T) {
		env = servicetest.Env(t, inf, "credits")
		runID = strings.TrimPrefix(env.Schema, pg.SchemaPrefix)
		if env.Schema != pg.SchemaPrefix+runID || env.Queue != amqp.QueueName(runID) {
			t.Fatalf("schema %s and queue %s are not those of one run", env.Schema, env.Queue)
		}
		if env.Proc != "harness" || env.AMQP != inf.AMQPURL || env.Workload != "credits" || env.Prefetch != servicetest.Prefetch {
			t.Errorf("env %+v: want Proc harness, inf's AMQP URL, workload credits, prefetch %d", env, servicetest.Prefetch)
		}
		if !maps.Equal(env.QueueArgs, amqp.QueueArguments(runID)) {
			t.Errorf("queue arguments %v, want the run's %v", env.QueueArgs, amqp.QueueArguments(runID))
		}
		if !realtest.SchemaExists(t, admin, env.Schema) {
			t.Errorf("schema %s does not exist", env.Schema)
		}
		if !queueExists(t, env.AMQP, runID) {
			t.Errorf("queue %s does not exist", env.Queue)
		}

		// The Postgres URL puts a service's tables in the schema.
		ctx := realtest.Context(t)
		c, err := pgx.Connect(ctx, env.Postgres)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		var schema string
		if err := c.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			t.Fatal(err)
		}
		if schema != env.Schema {
			t.Errorf("current_schema() is %s through env.Postgres, want %s", schema, env.Schema)
		}

		// A service that declares the queue too, with QueueArgs, gets the same queue.
		conn, err := amqp091.DialConfig(env.AMQP, amqp091.Config{Dial: amqp091.DefaultDial(5 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.QueueDeclare(env.Queue, true, false, false, false, amqp091.Table(env.QueueArgs)); err != nil {
			t.Errorf("declare %s again with env.QueueArgs: %v", env.Queue, err)
		}

		// `simulate clean` sees a live run, and leaves it alone.
		rep, err := pg.Clean(ctx, inf.PostgresURL, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(rep.Live, runID) {
			t.Errorf("clean does not see run %s as live (live: %v)", runID, rep.Live)
		}
	})
	if env.Schema == "" {
		t.Fatal("the inner test made no Env")
	}
	if realtest.SchemaExists(t, admin, env.Schema) {
		t.Errorf("schema %s is left after the test", env.Schema)
	}
	if queueExists(t, inf.AMQPURL, runID) {
		t.Errorf("queue %s is left after the test", env.Queue)
	}
}

// queueExists reports whether run runID's queue is on the broker at url.
func queueExists(t *testing.T, url, runID string) bool {
	t.Helper()
	q := amqp.QueueOf(url, runID)
	defer func() { _ = q.Close() }()
	ok, err := q.Exists(realtest.Context(t))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// Start runs every loop until stop, which ends their context and waits for them; a second stop
// does nothing.
func TestStart(t *testing.T) {
	var ended [2]bool
	loop := func(i int) servicetest.Loop {
		return servicetest.Loop{Name: "loop", Run: func(ctx context.Context) error {
			<-ctx.Done()
			ended[i] = true
			return nil
		}}
	}
	stop := servicetest.Start(t.Context(), t, 5*time.Second, loop(0), loop(1))
	stop()
	if ended != [2]bool{true, true} {
		t.Errorf("loops that saw their context end: %v, want both", ended)
	}
	stop()
}
