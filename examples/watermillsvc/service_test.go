package watermillsvc_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/examples/watermillsvc"
	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/service"
)

func TestRegistered(t *testing.T) {
	if !slices.Contains(service.Names(), watermillsvc.Name) {
		t.Fatalf("service %q not registered (registered: %v)", watermillsvc.Name, service.Names())
	}
	p, c, err := service.Strategies(watermillsvc.Name)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := service.Of(p)
	if !ok || !s.HasRelay() {
		t.Fatalf("producer %s: want a service's producer with a relay", p.Name())
	}
	if c.Name() != watermillsvc.Name {
		t.Fatalf("consumer name %q, want %q", c.Name(), watermillsvc.Name)
	}
}

// TestQueueArgs: arguments that crossed a process boundary as JSON keep their integer type.
func TestQueueArgs(t *testing.T) {
	var fromJSON map[string]any
	if err := json.Unmarshal([]byte(`{"x-expires": 600000, "x-queue-type": "classic", "ratio": 0.5}`), &fromJSON); err != nil {
		t.Fatal(err)
	}
	got := watermillsvc.QueueArgs(fromJSON)
	if v, ok := got["x-expires"].(int64); !ok || v != 600000 {
		t.Errorf("x-expires = %#v, want int64(600000)", got["x-expires"])
	}
	if got["x-queue-type"] != "classic" || got["ratio"] != 0.5 {
		t.Errorf("other arguments changed: %#v", got)
	}
	if v, ok := watermillsvc.QueueArgs(map[string]any{"x-expires": int32(600000)})["x-expires"].(int32); !ok || v != 600000 {
		t.Errorf("an int32 argument is not kept as is")
	}
	if watermillsvc.QueueArgs(nil) != nil {
		t.Errorf("no arguments should stay nil")
	}
}

// TestService runs the service by hand, without the harness's runner: Setup in a schema of the
// test's own, five orders, then the relay and a consumer until the five payments are in.
func TestService(t *testing.T) {
	inf := realtest.Require(t)
	env := testEnv(t, inf)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	if err := watermillsvc.New().Setup(ctx, env.as("harness")); err != nil {
		t.Fatalf("setup: %v", err)
	}
	admin := realtest.AdminConn(t, inf)
	for _, table := range watermillsvc.Tables {
		var schemas []string
		rows, _ := admin.Query(ctx, `SELECT table_schema FROM information_schema.tables WHERE table_name = $1 AND table_schema = ANY($2)`,
			table, []string{env.Schema, "public"})
		schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(schemas, []string{env.Schema}) {
			t.Errorf("table %s is in schemas %v, want only %s", table, schemas, env.Schema)
		}
	}

	producer := watermillsvc.New()
	var cmds []service.Command
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("order-%d", i)
		cmd := service.Command{ID: id, Key: id, Amount: int64(10 * i), Kind: "OrderPlaced"}
		cmds = append(cmds, cmd)
		if err := producer.Handle(ctx, env.as("producer"), cmd); err != nil {
			t.Fatalf("handle %s: %v", id, err)
		}
	}
	harness := watermillsvc.New()
	if n, err := harness.Pending(ctx, env.as("harness")); err != nil || n != 5 {
		t.Fatalf("pending before the relay runs = %d, %v; want 5", n, err)
	}

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() { errs <- watermillsvc.New().Relay(runCtx, env.as("relay")) })
	wg.Go(func() { errs <- watermillsvc.New().Consume(runCtx, env.as("consumer-1")) })

	var st service.State
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		st, err = harness.Final(ctx, env.as("harness"))
		if err != nil {
			t.Fatalf("final: %v", err)
		}
		if len(st.Effects) >= 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	returned := make(chan struct{})
	go func() { wg.Wait(); close(returned) }()
	select {
	case <-returned:
	case <-time.After(45 * time.Second):
		t.Fatal("the relay or the consumer did not return within 45s of its context's end")
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("relay or consumer: %v", err)
		}
	}

	if len(st.Committed) != 5 {
		t.Errorf("committed %d orders, want 5: %v", len(st.Committed), st.Committed)
	}
	if len(st.Effects) != 5 {
		t.Errorf("%d payments, want 5: %v", len(st.Effects), st.Effects)
	}
	paid := map[string]int{}
	for _, e := range st.Effects {
		paid[e.Msg]++
	}
	for _, c := range cmds {
		if paid[c.ID] != 1 {
			t.Errorf("order %s paid %d times, want once", c.ID, paid[c.ID])
		}
	}
	for _, e := range st.Effects {
		i := slices.IndexFunc(cmds, func(c service.Command) bool { return c.ID == e.Msg })
		if i < 0 || cmds[i].Key != e.Key || cmds[i].Amount != e.Amount {
			t.Errorf("payment %+v matches no order", e)
		}
	}
	if n, err := harness.Pending(ctx, env.as("harness")); err != nil || n != 0 {
		t.Errorf("pending after the relay ran = %d, %v; want 0", n, err)
	}
}

// envFor is a run's Env; as gives it to one process.
type envFor struct{ service.Env }

func (e envFor) as(proc string) service.Env {
	env := e.Env
	env.Proc = proc
	return env
}

// testEnv is a run's Env built by hand: a schema and a queue of the test's own, removed when the
// test ends.
func testEnv(t *testing.T, inf infra.Infra) envFor {
	t.Helper()
	name := "harness_svctest_" + randomHex(t)
	ctx := realtest.Context(t)
	admin := realtest.AdminConn(t, inf)
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, inf.PostgresURL)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})

	args := amqp.Table{"x-expires": int32(600000)}
	conn, err := amqp.DialConfig(inf.AMQPURL, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		t.Fatalf("connect to the broker: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
		t.Fatalf("declare queue: %v", err)
	}
	t.Cleanup(func() {
		ch, err := conn.Channel()
		if err == nil {
			_, err = ch.QueueDelete(name, false, false, false)
		}
		if err != nil {
			t.Errorf("delete queue %s: %v", name, err)
		}
	})

	u, err := url.Parse(inf.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return envFor{service.Env{
		Postgres:  u.String(),
		AMQP:      inf.AMQPURL,
		Schema:    name,
		Queue:     name,
		QueueArgs: map[string]any(args),
		Workload:  "orders",
		Prefetch:  2,
	}}
}

func randomHex(t *testing.T) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}
