package ordersvc_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	_ "github.com/deliveryharness/harness/examples/ordersvc"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/harness/real/realtest/servicetest"
	"github.com/deliveryharness/harness/service"
)

// TestMain lets the test binary serve as the worker binary of service mode's runner.
func TestMain(m *testing.M) {
	if real.IsWorker() {
		real.WorkerMain()
	}
	os.Exit(m.Run())
}

// Without faults both services place five orders and pay each once.
func TestOrdersvcPaysEachOrderOnce(t *testing.T) {
	for _, name := range []string{"ordersvc", "ordersvc-bug"} {
		t.Run(name, func(t *testing.T) {
			env, broker := newEnv(t, realtest.Require(t))
			svc := build(t, name)
			ctx := t.Context()
			if err := svc.Setup(ctx, env); err != nil {
				t.Fatal(err)
			}
			var cmds []service.Command
			for i := 1; i <= 5; i++ {
				cmd := service.Command{ID: fmt.Sprintf("order-%d", i), Key: fmt.Sprintf("order-%d", i), Amount: int64(10 * i), Kind: "OrderPlaced"}
				if err := svc.Handle(ctx, as(env, "producer"), cmd); err != nil {
					t.Fatalf("handle %s: %v", cmd.ID, err)
				}
				cmds = append(cmds, cmd)
			}
			stop := runLoops(t, svc, env, true, true)
			st := await(t, svc, env, 5)
			stop()
			if got := queued(t, broker, env.Queue); got != 0 {
				t.Errorf("%d messages left in the queue, want 0", got)
			}
			st = final(t, svc, env)
			if !slices.Equal(st.Committed, cmds) {
				t.Errorf("committed %v, want %v", st.Committed, cmds)
			}
			var want []service.Effect
			for _, c := range cmds {
				want = append(want, service.Effect{Msg: c.ID, Key: c.Key, Amount: c.Amount})
			}
			slices.SortFunc(st.Effects, func(a, b service.Effect) int { return cmp.Compare(a.Msg, b.Msg) })
			if !slices.Equal(st.Effects, want) {
				t.Errorf("effects %v, want one per message: %v", st.Effects, want)
			}
		})
	}
}

// A message delivered twice (the relay published it again, as it does when it dies before
// marking its batch) is paid once, and both copies are acknowledged.
func TestOrdersvcPaysOnceForADuplicate(t *testing.T) {
	inf := realtest.Require(t)
	env, broker := newEnv(t, inf)
	svc := build(t, "ordersvc")
	ctx := t.Context()
	if err := svc.Setup(ctx, env); err != nil {
		t.Fatal(err)
	}
	cmd := service.Command{ID: "order-1", Key: "order-1", Amount: 10, Kind: "OrderPlaced"}
	if err := svc.Handle(ctx, as(env, "producer"), cmd); err != nil {
		t.Fatal(err)
	}
	relayOnce := func() {
		stop := runLoops(t, svc, env, true, false)
		awaitPublished(t, svc, env)
		stop()
	}
	relayOnce()
	// Unmark the row, as if the relay had died between its publish and its commit.
	admin := realtest.AdminConn(t, inf)
	if _, err := admin.Exec(realtest.Context(t), `UPDATE `+pgx.Identifier{env.Schema, "outbox"}.Sanitize()+` SET published = false`); err != nil {
		t.Fatal(err)
	}
	relayOnce()
	if got := queued(t, broker, env.Queue); got != 2 {
		t.Fatalf("%d copies in the queue, want 2", got)
	}
	// Consume in rounds until a round ends with the queue empty: a copy the consumer held
	// unacknowledged when it stopped goes back to the queue.
	deadline := time.Now().Add(30 * time.Second)
	for {
		stop := runLoops(t, svc, env, false, true)
		time.Sleep(200 * time.Millisecond)
		stop()
		if queued(t, broker, env.Queue) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the consumer did not acknowledge both copies within 30s")
		}
	}
	st := final(t, svc, env)
	want := []service.Effect{{Msg: "order-1", Key: "order-1", Amount: 10}}
	if !slices.Equal(st.Effects, want) {
		t.Errorf("effects %v, want %v", st.Effects, want)
	}
}

// newEnv is a run's Env on inf's servers (servicetest.Env), with a broker channel for looking at
// its queue, closed when the test ends.
func newEnv(t *testing.T, inf infra.Infra) (service.Env, *amqp.Channel) {
	t.Helper()
	env := servicetest.Env(t, inf, "orders")
	conn, err := amqp.DialConfig(inf.AMQPURL, amqp.Config{Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseDeadline(time.Now().Add(5 * time.Second)) })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return env, ch
}

// build makes a value of the registered service name.
func build(t *testing.T, name string) service.Service {
	t.Helper()
	fn, err := service.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return fn()
}

// as is env for the named process.
func as(env service.Env, proc string) service.Env {
	env.Proc = proc
	return env
}

// runLoops runs the relay and a consumer (each when asked) until the returned stop is called;
// stop fails the test when a loop returns an error or does not return within 10s of its context
// ending.
func runLoops(t *testing.T, svc service.Service, env service.Env, relay, consume bool) (stop func()) {
	t.Helper()
	var loops []servicetest.Loop
	if relay {
		r, ok := svc.(service.Relayer)
		if !ok {
			t.Fatal("the service has no relay")
		}
		loops = append(loops, servicetest.Loop{Name: "relay", Run: func(ctx context.Context) error {
			return r.Relay(ctx, as(env, "relay"))
		}})
	}
	if consume {
		loops = append(loops, servicetest.Loop{Name: "consumer", Run: func(ctx context.Context) error {
			return svc.Consume(ctx, as(env, "consumer-1"))
		}})
	}
	return servicetest.Start(context.Background(), t, 10*time.Second, loops...)
}

// await waits (30s at most) until nothing is pending and the final state shows n effects.
func await(t *testing.T, svc service.Service, env service.Env, n int) service.State {
	t.Helper()
	p := svc.(service.Pender)
	deadline := time.Now().Add(30 * time.Second)
	for {
		pending, err := p.Pending(t.Context(), env)
		if err != nil {
			t.Fatal(err)
		}
		st := final(t, svc, env)
		if pending == 0 && len(st.Effects) >= n {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %d outbox rows pending, %d effects of %d", pending, len(st.Effects), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitPublished waits (30s at most) until the outbox has nothing pending.
func awaitPublished(t *testing.T, svc service.Service, env service.Env) {
	t.Helper()
	p := svc.(service.Pender)
	deadline := time.Now().Add(30 * time.Second)
	for {
		pending, err := p.Pending(t.Context(), env)
		if err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: %d outbox rows pending", pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func final(t *testing.T, svc service.Service, env service.Env) service.State {
	t.Helper()
	st, err := svc.Final(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// queued is how many messages the queue holds ready for delivery.
func queued(t *testing.T, ch *amqp.Channel, queue string) int {
	t.Helper()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q.Messages
}
