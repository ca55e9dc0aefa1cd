package wire

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/realtest"
)

// randomName is prefix and random hex, for schemas and queues of the test's own.
func randomName(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "harness_wiretest_" + hex.EncodeToString(b[:])
}

// proxied starts a proxy in front of the server of rawURL with the wire toxic on both streams
// for hook h, and returns the URL through it.
func proxied(t *testing.T, srv *toxiproxy.ApiServer, rawURL, defaultPort string, proto Proto, h Hook) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("server URL: %v", err)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), defaultPort)
	}
	id, stop := Watch(h)
	t.Cleanup(stop)
	p := newProxy(t, srv, fmt.Sprintf("%s-%s", proto, id), host)
	addWire(t, p, id, proto)
	u.Host = p.Listen
	if proto == Postgres {
		q := u.Query()
		q.Set("sslmode", "disable") // TLS would make the link opaque
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// pgFixture is a schema of the test's own with a table t(id int).
type pgFixture struct {
	admin *pgx.Conn
	table string
}

func newPGFixture(t *testing.T, inf infra.Infra) pgFixture {
	t.Helper()
	admin := realtest.AdminConn(t, inf)
	schema := randomName(t)
	ctx := realtest.Context(t)
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	table := pgx.Identifier{schema, "t"}.Sanitize()
	if _, err := admin.Exec(ctx, `CREATE TABLE `+table+` (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return pgFixture{admin: admin, table: table}
}

func (f pgFixture) has(t *testing.T, id int) bool {
	t.Helper()
	var ok bool
	if err := f.admin.QueryRow(realtest.Context(t), `SELECT EXISTS (SELECT 1 FROM `+f.table+` WHERE id = $1)`, id).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// insertTx inserts id in a transaction of its own on c, the commit bounded by ctx.
func insertTx(ctx context.Context, c *pgx.Conn, table string, id int) error {
	tx, err := c.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+table+` VALUES ($1)`, id); err != nil {
		return fmt.Errorf("insert: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func TestPostgresThroughToxic(t *testing.T) {
	inf := realtest.Require(t)
	fix := newPGFixture(t, inf)
	srv := newToxiproxy(t)

	connect := func(t *testing.T, h Hook) *pgx.Conn {
		t.Helper()
		c, err := pgx.Connect(realtest.Context(t), proxied(t, srv, inf.PostgresURL, "5432", Postgres, h))
		if err != nil {
			t.Fatalf("connect through the proxy: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = c.Close(ctx)
		})
		return c
	}

	t.Run("three commits", func(t *testing.T) {
		h := newRecordHook(nil)
		c := connect(t, h)
		for i := 1; i <= 3; i++ {
			if err := insertTx(realtest.Context(t), c, fix.table, 100+i); err != nil {
				t.Fatal(err)
			}
		}
		commits := h.of(PGCommit)
		if len(commits) != 3 {
			t.Fatalf("saw %d commits, want 3: %+v", len(commits), h.events)
		}
		for _, e := range commits {
			if e.Upstream || e.Tag != "COMMIT" || e.Conn != commits[0].Conn {
				t.Fatalf("commit event %+v", e)
			}
		}
		if len(h.of(PGReady)) == 0 {
			t.Fatal("saw no ReadyForQuery")
		}
	})

	t.Run("withhold the second commit reply", func(t *testing.T) {
		h := newRecordHook(on(PGCommit, 2, Withhold))
		c := connect(t, h)
		if err := insertTx(realtest.Context(t), c, fix.table, 201); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := insertTx(ctx, c, fix.table, 202)
		if err == nil || !(errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err)) {
			t.Fatalf("commit with its reply withheld returned %v, want its context deadline", err)
		}
		if !fix.has(t, 202) {
			t.Fatal("the server did not commit the row whose reply was withheld")
		}
		if n := len(h.of(PGCommit)); n != 2 {
			t.Fatalf("saw %d commits, want 2", n)
		}
	})

	t.Run("hold the first commit and freeze", func(t *testing.T) {
		h := newRecordHook(nil)
		h.setEpoch(5)
		h.rule = func(e Event, n int) Action {
			if e.Kind == PGCommit && n == 1 {
				h.frozen[e.Epoch] = true // as the harness does between a trigger and its SIGKILL
				return Hold
			}
			return Pass
		}
		c := connect(t, h)
		if err := insertTx(realtest.Context(t), c, fix.table, 301); err != nil {
			t.Fatalf("the held commit's reply did not arrive: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := c.Exec(ctx, `INSERT INTO `+fix.table+` VALUES (302)`); err == nil {
			t.Fatal("a statement after the held commit succeeded")
		}
		if !fix.has(t, 301) || fix.has(t, 302) {
			t.Fatalf("rows 301 (committed) and 302 (never sent): %v, %v", fix.has(t, 301), fix.has(t, 302))
		}
	})
}

// amqpFixture is a queue of the test's own and a direct connection to inspect it.
type amqpFixture struct {
	ch    *amqp.Channel
	queue string
}

func newAMQPFixture(t *testing.T, amqpURL string) amqpFixture {
	t.Helper()
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		t.Fatalf("direct connection: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	q := randomName(t)
	if _, err := ch.QueueDeclare(q, false, false, false, false, amqp.Table{"x-expires": int32(600000)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := ch.QueueDelete(q, false, false, false); err != nil {
			t.Errorf("delete queue %s: %v", q, err)
		}
	})
	return amqpFixture{ch: ch, queue: q}
}

// depth waits until the queue holds n ready messages, or fails after d.
func (f amqpFixture) depth(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		q, err := f.ch.QueueDeclarePassive(f.queue, false, false, false, false, amqp.Table{"x-expires": int32(600000)})
		if err != nil {
			t.Fatal(err)
		}
		if q.Messages == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue holds %d messages, want %d", q.Messages, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f amqpFixture) publish(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := f.ch.PublishWithContext(realtest.Context(t), "", f.queue, false, false, amqp.Publishing{MessageId: id, Body: []byte("body of " + id)}); err != nil {
			t.Fatal(err)
		}
	}
}

// consume opens a connection through url and consumes the queue with manual acks.
func consume(t *testing.T, url, queue string, prefetch int) (*amqp.Connection, <-chan amqp.Delivery) {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("connect through the proxy: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		t.Fatal(err)
	}
	ds, err := ch.ConsumeWithContext(realtest.Context(t), queue, "", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, ds
}

func next(t *testing.T, ds <-chan amqp.Delivery, d time.Duration) amqp.Delivery {
	t.Helper()
	select {
	case m, ok := <-ds:
		if !ok {
			t.Fatal("deliveries closed")
		}
		return m
	case <-time.After(d):
		t.Fatalf("no delivery in %v", d)
	}
	return amqp.Delivery{}
}

func TestAMQPThroughToxic(t *testing.T) {
	inf := realtest.Require(t)
	srv := newToxiproxy(t)

	t.Run("publisher confirms", func(t *testing.T) {
		fix := newAMQPFixture(t, inf.AMQPURL)
		h := newRecordHook(on(AMQPConfirm, 2, Drop))
		conn, err := amqp.Dial(proxied(t, srv, inf.AMQPURL, "5672", AMQP, h))
		if err != nil {
			t.Fatalf("connect through the proxy: %v", err)
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Confirm(false); err != nil {
			t.Fatal(err)
		}
		for i, id := range []string{"m1", "m2", "m3"} {
			dc, err := ch.PublishWithDeferredConfirmWithContext(realtest.Context(t), "", fix.queue, false, false, amqp.Publishing{MessageId: id, Body: []byte(id)})
			if err != nil {
				t.Fatal(err)
			}
			wait := 5 * time.Second
			if i == 1 {
				wait = time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			acked, err := dc.WaitContext(ctx)
			cancel()
			switch {
			case i == 1 && err == nil:
				t.Fatalf("the dropped confirm of %s arrived (ack %v)", id, acked)
			case i != 1 && (err != nil || !acked):
				t.Fatalf("confirm of %s: ack %v, %v", id, acked, err)
			}
		}
		fix.depth(t, 3, 5*time.Second)
		pubs, confirms := h.of(AMQPPublish), h.waitFor(t, AMQPConfirm, 3, 5*time.Second)
		var ids []string
		for _, p := range pubs {
			ids = append(ids, p.MessageID)
			if !p.Upstream || p.Conn != confirms[0].Conn {
				t.Fatalf("publish %+v, confirms %+v", p, confirms)
			}
		}
		if !slices.Equal(ids, []string{"m1", "m2", "m3"}) {
			t.Fatalf("publishes seen with ids %q", ids)
		}
		for i, c := range confirms {
			if c.Upstream || c.DeliveryTag != uint64(i+1) {
				t.Fatalf("confirms %+v", confirms)
			}
		}
	})

	t.Run("ack lost with its connection", func(t *testing.T) {
		fix := newAMQPFixture(t, inf.AMQPURL)
		fix.publish(t, "d1")
		h := newRecordHook(on(AMQPAck, 1, DropReset))
		url := proxied(t, srv, inf.AMQPURL, "5672", AMQP, h)
		conn, ds := consume(t, url, fix.queue, 1)
		m := next(t, ds, 5*time.Second)
		if m.MessageId != "d1" || m.Redelivered {
			t.Fatalf("first delivery %q redelivered %v", m.MessageId, m.Redelivered)
		}
		if err := m.Ack(false); err != nil {
			t.Fatal(err)
		}
		select {
		case <-conn.NotifyClose(make(chan *amqp.Error, 1)):
		case <-time.After(5 * time.Second):
			t.Fatal("the connection whose ack was dropped stayed open")
		}
		_, ds = consume(t, url, fix.queue, 1)
		m = next(t, ds, 5*time.Second)
		if m.MessageId != "d1" || !m.Redelivered {
			t.Fatalf("after the lost ack got %q redelivered %v, want d1 redelivered", m.MessageId, m.Redelivered)
		}
		if err := m.Ack(false); err != nil {
			t.Fatal(err)
		}
		acks := h.waitFor(t, AMQPAck, 2, 5*time.Second)
		dels := h.of(AMQPDeliver)
		if len(dels) != 2 || dels[0].MessageID != "d1" || dels[0].Redelivered || !dels[1].Redelivered || dels[1].MessageID != "d1" {
			t.Fatalf("deliveries seen %+v", dels)
		}
		if acks[0].Conn != dels[0].Conn || acks[1].Conn != dels[1].Conn || acks[0].Conn == acks[1].Conn {
			t.Fatalf("acks %+v on other connections than deliveries %+v", acks, dels)
		}
		fix.depth(t, 0, 5*time.Second)
	})

	t.Run("deferred delivery is overtaken", func(t *testing.T) {
		fix := newAMQPFixture(t, inf.AMQPURL)
		fix.publish(t, "e1", "e2")
		h := newRecordHook(on(AMQPDeliver, 1, Defer))
		_, ds := consume(t, proxied(t, srv, inf.AMQPURL, "5672", AMQP, h), fix.queue, 2)
		first, second := next(t, ds, 5*time.Second), next(t, ds, 5*time.Second)
		if first.MessageId != "e2" || second.MessageId != "e1" {
			t.Fatalf("received %q then %q, want e2 then e1", first.MessageId, second.MessageId)
		}
		for _, m := range []amqp.Delivery{first, second} {
			if err := m.Ack(false); err != nil {
				t.Fatal(err)
			}
		}
		h.waitFor(t, AMQPAck, 2, 5*time.Second)
		fix.depth(t, 0, 5*time.Second)
	})
}
