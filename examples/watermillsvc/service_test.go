package watermillsvc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deliveryharness/harness/examples/watermillsvc"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/harness/real/realtest/servicetest"
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
	env := envFor{servicetest.Env(t, inf, "orders")}
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

	stop := servicetest.Start(ctx, t, 45*time.Second,
		servicetest.Loop{Name: "relay", Run: func(ctx context.Context) error {
			return watermillsvc.New().Relay(ctx, env.as("relay"))
		}},
		servicetest.Loop{Name: "consumer", Run: func(ctx context.Context) error {
			return watermillsvc.New().Consume(ctx, env.as("consumer-1"))
		}})

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

// envFor is a run's Env (servicetest.Env); as gives it to one process.
type envFor struct{ service.Env }

func (e envFor) as(proc string) service.Env {
	env := e.Env
	env.Proc = proc
	return env
}
