package real

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/service"
)

// dualWrite is a small service written with pgx and amqp091 directly: the producer commits the
// order and then publishes it (a dual write), the consumer dedups through an inbox. Its
// variants misbehave on purpose, for the harness's error paths.
type dualWrite struct {
	setupErr, finalErr bool   // Setup or Final fails
	busy               bool   // its consumer republishes forever: the run never settles
	point              string // the consumer passes this point before each payment
}

func (d *dualWrite) Setup(ctx context.Context, env service.Env) error {
	if d.setupErr {
		return errors.New("setup refused: no such table space")
	}
	return withConn(ctx, env, func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `CREATE TABLE orders (id text PRIMARY KEY, key text, amount bigint);
			CREATE TABLE inbox (msg_id text PRIMARY KEY);
			CREATE TABLE payments (msg_id text, key text, amount bigint)`)
		return err
	})
}

// withConn runs fn on a new connection, within a deadline that fn's ctx carries.
func withConn(ctx context.Context, env service.Env, fn func(context.Context, *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, env.Postgres)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close(context.Background()) }()
	return fn(ctx, c)
}

func (d *dualWrite) Handle(ctx context.Context, env service.Env, cmd service.Command) error {
	err := withConn(ctx, env, func(ctx context.Context, c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO orders VALUES ($1, $2, $3)`, cmd.ID, cmd.Key, cmd.Amount)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("insert order: %w", err)
	}
	return publish(ctx, env, cmd)
}

func publish(ctx context.Context, env service.Env, cmd service.Command) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := amqp091.DialConfig(env.AMQP, amqp091.Config{Dial: amqp091.DefaultDial(time.Second)})
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Confirm(false); err != nil {
		return err
	}
	body, _ := json.Marshal(cmd)
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", env.Queue, false, false,
		amqp091.Publishing{MessageId: cmd.ID, Body: body, DeliveryMode: amqp091.Persistent})
	if err != nil {
		return err
	}
	ok, err := dc.WaitContext(ctx)
	if err == nil && !ok {
		err = errors.New("nacked")
	}
	return err
}

func (d *dualWrite) Consume(ctx context.Context, env service.Env) error {
	for ctx.Err() == nil {
		err := d.consume(ctx, env)
		if ctx.Err() == nil && err != nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func (d *dualWrite) consume(ctx context.Context, env service.Env) error {
	conn, err := amqp091.DialConfig(env.AMQP, amqp091.Config{Dial: amqp091.DefaultDial(time.Second), Heartbeat: time.Second})
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if err := ch.Qos(env.Prefetch, 0, false); err != nil {
		return err
	}
	ds, err := ch.ConsumeWithContext(ctx, env.Queue, "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case dl, ok := <-ds:
			if !ok {
				return errors.New("deliveries closed")
			}
			if d.busy {
				_ = ch.PublishWithContext(ctx, "", env.Queue, false, false, amqp091.Publishing{MessageId: dl.MessageId, Body: dl.Body})
				_ = dl.Ack(false)
				continue
			}
			var cmd service.Command
			if err := json.Unmarshal(dl.Body, &cmd); err != nil {
				_ = dl.Nack(false, false)
				continue
			}
			if d.point != "" {
				env.Point(ctx, d.point)
			}
			err := withConn(ctx, env, func(ctx context.Context, c *pgx.Conn) error {
				return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
					tag, err := tx.Exec(ctx, `INSERT INTO inbox VALUES ($1) ON CONFLICT DO NOTHING`, dl.MessageId)
					if err != nil || tag.RowsAffected() == 0 {
						return err
					}
					_, err = tx.Exec(ctx, `INSERT INTO payments VALUES ($1, $2, $3)`, dl.MessageId, cmd.Key, cmd.Amount)
					return err
				})
			})
			if err != nil {
				return err // no ack: the broker redelivers once the connection is gone
			}
			if err := dl.Ack(false); err != nil {
				return err
			}
		}
	}
}

func (d *dualWrite) Final(ctx context.Context, env service.Env) (service.State, error) {
	if d.finalErr {
		return service.State{}, errors.New("final read refused")
	}
	var st service.State
	err := withConn(ctx, env, func(ctx context.Context, c *pgx.Conn) error {
		rows, _ := c.Query(ctx, `SELECT id, key, amount FROM orders ORDER BY id`)
		var err error
		if st.Committed, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (service.Command, error) {
			var m service.Command
			err := r.Scan(&m.ID, &m.Key, &m.Amount)
			return m, err
		}); err != nil {
			return err
		}
		rows, _ = c.Query(ctx, `SELECT msg_id, key, amount FROM payments`)
		st.Effects, err = pgx.CollectRows(rows, pgx.RowToStructByPos[service.Effect])
		return err
	})
	return st, err
}

func (d *dualWrite) Points() service.Points {
	if d.point == "" || d.point == "typo" {
		return service.Points{}
	}
	return service.Points{Consumer: []string{d.point}}
}

func init() {
	service.MustRegister("svctest-dual-write", func() service.Service { return &dualWrite{} })
	service.MustRegister("svctest-point", func() service.Service { return &dualWrite{point: "before-payment"} })
	service.MustRegister("svctest-setup-fails", func() service.Service { return &dualWrite{setupErr: true} })
	service.MustRegister("svctest-final-fails", func() service.Service { return &dualWrite{finalErr: true} })
	service.MustRegister("svctest-busy", func() service.Service { return &dualWrite{busy: true} })
	service.MustRegister("svctest-typo", func() service.Service { return &dualWrite{point: "typo"} })
}

// serviceScenario is a scenario of a registered service: n orders, one fault.
func serviceScenario(name string, n int, faults ...history.Fault) history.Scenario {
	sc := history.Scenario{Producer: name, Consumer: name, Workload: "orders", Fault: fault.None, Consumers: 1, Prefetch: 1}
	for i := 1; i <= n; i++ {
		sc.Commands = append(sc.Commands, history.Message{ID: fmt.Sprintf("order-%d", i), Key: fmt.Sprintf("k%d", i), Amount: int64(10 * i), Kind: "OrderPlaced"})
	}
	for _, f := range faults {
		sc.Fault = f.Kind
		k, _ := fault.Lookup(f.Kind)
		sc.Consumers = max(sc.Consumers, k.Consumers)
	}
	sc.Faults = faults
	return sc
}

// runService runs a scenario of a registered service on b and returns the history and the run's
// id, which the backend reports as it starts.
func runServiceScenario(t *testing.T, b *Backend, sc history.Scenario) (*history.History, string, error) {
	t.Helper()
	var runID string
	b.started = func(id string) { runID = id }
	h, err := harness.Run(realtest.Context(t), b, sc)
	return h, runID, err
}

func TestServiceModeSeesTheWire(t *testing.T) {
	inf := realtest.Require(t)
	tests := []struct {
		name   string
		fault  []history.Fault
		broken []invariants.Name
		saw    []string // events that must be in the timeline: "proc op"
	}{
		{name: "no fault", saw: []string{"producer commit", "producer publish", "producer confirm", "consumer-1 receive", "consumer-1 ack"}},
		// A dual write killed right after its COMMIT's reply: the order is in, its message never
		// leaves.
		{name: "crash after commit", fault: []history.Fault{{Kind: fault.CrashProducer, Target: "producer", Point: service.PointCommit, Nth: 2}},
			broken: []invariants.Name{invariants.NoLostEffect}, saw: []string{"producer crash", "producer restart"}},
		// The COMMIT's reply withheld: the client gives up, the order is in, nothing is published.
		{name: "ambiguous commit", fault: []history.Fault{{Kind: fault.AmbiguousCommit, Target: "producer", Nth: 1}},
			broken: []invariants.Name{invariants.NoLostEffect}},
		// A lost ack with its connection: the inbox turns the redelivery away.
		{name: "lost ack", fault: []history.Fault{{Kind: fault.LostAck, Target: "consumer-1", Nth: 1}}, saw: []string{"consumer-1 receive"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBackend(inf)
			h, runID, err := runServiceScenario(t, b, serviceScenario("svctest-dual-write", 3, tc.fault...))
			if err != nil {
				if h != nil {
					t.Log(timelineOf(h))
				}
				t.Fatal(err)
			}
			var broken []invariants.Name
			for _, v := range invariants.Check(h) {
				broken = append(broken, v.Invariant)
			}
			if !slices.Equal(broken, tc.broken) {
				t.Errorf("broken %v, want %v\n%s", broken, tc.broken, timelineOf(h))
			}
			seen := map[string]bool{}
			for _, e := range h.Events {
				seen[e.Proc+" "+e.Op] = true
			}
			for _, want := range tc.saw {
				if !seen[want] {
					t.Errorf("no %q in the timeline\n%s", want, timelineOf(h))
				}
			}
			requireGone(t, inf, runID)
		})
	}
}

// TestServiceBadInput: a service that cannot set up, whose final read fails, whose loops never
// go idle, or that passes a point it does not declare ends its run with one error, and leaves no
// schema or queue behind.
func TestServiceBadInput(t *testing.T) {
	inf := realtest.Require(t)
	tests := []struct {
		service string
		fault   []history.Fault
		want    string
	}{
		{"svctest-setup-fails", nil, "setup: setup refused"},
		{"svctest-final-fails", nil, "final read refused"},
		{"svctest-busy", nil, "no quiescence before the deadline"},
		{"svctest-typo", nil, `passed fault point "typo", which its Points do not declare`},
	}
	for _, tc := range tests {
		t.Run(tc.service, func(t *testing.T) {
			b := NewBackend(inf)
			b.Deadline = 8 * time.Second
			_, runID, err := runServiceScenario(t, b, serviceScenario(tc.service, 2, tc.fault...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			requireGone(t, inf, runID)
		})
	}
}

// TestServicePoint: a crash fires at a service's own point.
func TestServicePoint(t *testing.T) {
	inf := realtest.Require(t)
	b := NewBackend(inf)
	h, runID, err := runServiceScenario(t, b, serviceScenario("svctest-point", 2,
		history.Fault{Kind: fault.CrashConsumer, Target: "consumer-1", Point: "before-payment", Nth: 1}))
	if err != nil {
		t.Fatal(err)
	}
	if vs := invariants.Check(h); len(vs) > 0 {
		t.Errorf("violations %v\n%s", vs, timelineOf(h))
	}
	crashed := slices.ContainsFunc(h.Events, func(e history.Event) bool {
		return e.Proc == "consumer-1" && e.Op == history.OpCrash && strings.Contains(e.Detail, "before-payment")
	})
	if !crashed {
		t.Errorf("no crash at before-payment\n%s", timelineOf(h))
	}
	requireGone(t, inf, runID)
}

func timelineOf(h *history.History) string {
	var b strings.Builder
	for i, e := range h.Events {
		fmt.Fprintf(&b, "%3d t=%-5d %s\n", i+1, e.Time, e)
	}
	return b.String()
}

// requireGone fails the test if the run's schema or queue is still on the servers.
func requireGone(t *testing.T, inf Infra, runID string) {
	t.Helper()
	if runID == "" {
		t.Fatal("the run reported no id")
	}
	admin := realtest.AdminConn(t, inf)
	if realtest.SchemaExists(t, admin, pg.SchemaPrefix+runID) {
		t.Errorf("schema %s left behind", pg.SchemaPrefix+runID)
	}
	ok, err := amqp.QueueOf(inf.AMQPURL, runID).Exists(realtest.Context(t))
	if err != nil || ok {
		t.Errorf("queue of run %s left behind (exists %v, %v)", runID, ok, err)
	}
}

// TestServiceFidelity: a fault fired at a protocol point on the wire does to a team's service
// what the same fault at the matching fault point does to the catalogue's model of that code on
// the simulator. svctest-dual-write is double-write with an inbox consumer written in pgx and
// amqp091; both backends must break the same invariants.
func TestServiceFidelity(t *testing.T) {
	inf := realtest.Require(t)
	tests := []struct {
		name  string
		model history.Fault // on the simulator, double-write and inbox
		wire  history.Fault // on real servers, svctest-dual-write
		want  []invariants.Name
	}{
		{"crash after the producer's commit",
			history.Fault{Kind: fault.CrashProducer, Target: "producer", Point: "producer.after-commit", Nth: 2},
			history.Fault{Kind: fault.CrashProducer, Target: "producer", Point: service.PointCommit, Nth: 2},
			[]invariants.Name{invariants.NoLostEffect}},
		{"crash after the publisher confirm",
			history.Fault{Kind: fault.CrashProducer, Target: "producer", Point: "producer.after-publish", Nth: 1},
			history.Fault{Kind: fault.CrashProducer, Target: "producer", Point: service.PointConfirm, Nth: 1},
			nil},
		{"ambiguous commit of the order",
			history.Fault{Kind: fault.AmbiguousCommit, Target: "producer", Nth: 1},
			history.Fault{Kind: fault.AmbiguousCommit, Target: "producer", Nth: 1},
			[]invariants.Name{invariants.NoLostEffect}},
		{"consumer crash after the payment's commit",
			history.Fault{Kind: fault.CrashConsumer, Target: "consumer-1", Point: "consumer.after-effect", Nth: 1},
			history.Fault{Kind: fault.CrashConsumer, Target: "consumer-1", Point: service.PointCommit, Nth: 1},
			nil},
		{"lost ack",
			history.Fault{Kind: fault.LostAck, Target: "consumer-1", Nth: 2},
			history.Fault{Kind: fault.LostAck, Target: "consumer-1", Nth: 2},
			nil},
	}
	broken := func(h *history.History) []invariants.Name {
		var out []invariants.Name
		for _, v := range invariants.Check(h) {
			if !slices.Contains(out, v.Invariant) {
				out = append(out, v.Invariant)
			}
		}
		return out
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			model := serviceScenario("svctest-dual-write", 3, tc.model)
			model.Producer, model.Consumer, model.Seed = "double-write", "inbox", 1
			hs, err := harness.Run(realtest.Context(t), harness.NewSim(), model)
			if err != nil {
				t.Fatal(err)
			}
			hr, runID, err := runServiceScenario(t, NewBackend(inf), serviceScenario("svctest-dual-write", 3, tc.wire))
			if err != nil {
				t.Fatal(err)
			}
			if got := broken(hs); !slices.Equal(got, tc.want) {
				t.Errorf("simulator broke %v, want %v\n%s", got, tc.want, timelineOf(hs))
			}
			if got := broken(hr); !slices.Equal(got, tc.want) {
				t.Errorf("service on real servers broke %v, want %v\n%s", got, tc.want, timelineOf(hr))
			}
			requireGone(t, inf, runID)
		})
	}
}
