// Package ordersvc is an example of service mode: an order service and a payment service, written
// as a team would with plain pgx and amqp091-go, that the harness runs under faults (package
// service).
//
// The order service writes the order and an outbox row in one transaction (Handle). A relay claims
// unpublished outbox rows with FOR UPDATE SKIP LOCKED, publishes each to the run's queue with a
// publisher confirm and marks them published (Relay): it publishes at least once. The payment
// service records each message id in an inbox table in the same transaction as the payment, and
// acknowledges the delivery only after that transaction commits (Consume): a redelivered copy
// finds its inbox row and pays nothing.
//
// Two services are registered: "ordersvc", the correct one, and "ordersvc-bug", which differs in
// one line of the consumer (see Service).
//
// The package imports no part of the harness but package service.
package ordersvc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deliveryharness/harness/service"
)

func init() {
	service.MustRegister("ordersvc", func() service.Service { return &Service{} })
	service.MustRegister("ordersvc-bug", func() service.Service { return &Service{inboxApart: true} })
}

// Service is the order and payment service. Each process incarnation gets its own value; it holds
// nothing between calls but what its loops hold while they run.
//
// inboxApart is the bug of "ordersvc-bug". It changes the behaviour of one line, in the
// consumer's apply (marked "the bug"): the inbox row is committed in a transaction of its own,
// before the payment's transaction begins. When that first COMMIT's reply is lost (the
// ambiguous-commit fault), or the consumer dies or loses its database link between the two
// commits, the delivery is not acknowledged and comes back; the copy finds the inbox row and is
// acknowledged without a payment: the payment is lost (no-lost-effect). Without a fault the two
// services cannot be told apart.
type Service struct {
	inboxApart bool
}

var (
	_ service.Service    = (*Service)(nil)
	_ service.Relayer    = (*Service)(nil)
	_ service.Pender     = (*Service)(nil)
	_ service.Documented = (*Service)(nil)
)

// Deadlines of the service's network waits.
const (
	connectTimeout = 2 * time.Second        // a PostgreSQL or AMQP connection, with its handshake
	txTimeout      = 2 * time.Second        // one transaction
	brokerTimeout  = 2 * time.Second        // an AMQP call: open a channel, qos, consume, ack, close
	confirmTimeout = time.Second            // a publish and its publisher confirm
	closeTimeout   = 500 * time.Millisecond // closing a connection
	heartbeat      = 2 * time.Second        // AMQP heartbeats: a silent link fails after three
	retryPause     = 50 * time.Millisecond  // after a failure, before trying again
	idlePoll       = 20 * time.Millisecond  // the relay's wait when the outbox has nothing
	relayBatch     = 10                     // outbox rows claimed at once
)

// Doc implements service.Documented.
func (s *Service) Doc() string {
	if s.inboxApart {
		return "ordersvc with its bug: the inbox row commits in a transaction of its own, before the payment's"
	}
	return "order and outbox row in one transaction; a relay publishes with confirms; inbox row and payment in one transaction, then ack"
}

// Setup implements service.Service: the tables, in env.Schema.
func (s *Service) Setup(ctx context.Context, env service.Env) error {
	if env.Workload != "orders" {
		return fmt.Errorf("ordersvc: workload %q: this service places and pays orders only", env.Workload)
	}
	db, err := connectDB(ctx, env.Postgres)
	if err != nil {
		return err
	}
	defer closeDB(db)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	schema := pgx.Identifier{env.Schema}.Sanitize()
	q := queriesFor(env.Schema)
	ddl := []string{
		`CREATE SCHEMA IF NOT EXISTS ` + schema,
		`CREATE TABLE ` + q.orders + ` (id text PRIMARY KEY, key text NOT NULL, amount bigint NOT NULL)`,
		`CREATE TABLE ` + q.outbox + ` (id bigserial PRIMARY KEY, msg_id text NOT NULL UNIQUE, key text NOT NULL,
			amount bigint NOT NULL, published boolean NOT NULL DEFAULT false)`,
		`CREATE INDEX ON ` + q.outbox + ` (id) WHERE NOT published`,
		`CREATE TABLE ` + q.inbox + ` (msg_id text PRIMARY KEY)`,
		`CREATE TABLE ` + q.payments + ` (id bigserial PRIMARY KEY, msg_id text NOT NULL, key text NOT NULL, amount bigint NOT NULL)`,
	}
	for _, stmt := range ddl {
		if _, err := db.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("ordersvc: setup: %w", err)
		}
	}
	return nil
}

// Handle implements service.Service: the order and its outbox row in one transaction. It does not
// retry: after a failed COMMIT nobody knows whether the order exists.
func (s *Service) Handle(ctx context.Context, env service.Env, cmd service.Command) error {
	db, err := connectDB(ctx, env.Postgres)
	if err != nil {
		return err
	}
	defer closeDB(db)
	q := queriesFor(env.Schema)
	ctx, cancel := context.WithTimeout(ctx, txTimeout)
	defer cancel()
	tx, err := db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("ordersvc: place %s: begin: %w", cmd.ID, err)
	}
	defer rollback(tx)
	if _, err := tx.Exec(ctx, q.insertOrder, cmd.ID, cmd.Key, cmd.Amount); err != nil {
		return fmt.Errorf("ordersvc: place %s: insert order: %w", cmd.ID, err)
	}
	if _, err := tx.Exec(ctx, q.insertOutbox, cmd.ID, cmd.Key, cmd.Amount); err != nil {
		return fmt.Errorf("ordersvc: place %s: insert outbox row: %w", cmd.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("ordersvc: place %s: commit (outcome unknown): %w", cmd.ID, err)
	}
	return nil
}

// Pending implements service.Pender: the outbox rows not yet published.
func (s *Service) Pending(ctx context.Context, env service.Env) (int, error) {
	db, err := connectDB(ctx, env.Postgres)
	if err != nil {
		return 0, err
	}
	defer closeDB(db)
	ctx, cancel := context.WithTimeout(ctx, txTimeout)
	defer cancel()
	var n int
	if err := db.QueryRow(ctx, queriesFor(env.Schema).pending).Scan(&n); err != nil {
		return 0, fmt.Errorf("ordersvc: count unpublished outbox rows: %w", err)
	}
	return n, nil
}

// Final implements service.Service: every order committed and every payment made.
func (s *Service) Final(ctx context.Context, env service.Env) (service.State, error) {
	db, err := connectDB(ctx, env.Postgres)
	if err != nil {
		return service.State{}, err
	}
	defer closeDB(db)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	q := queriesFor(env.Schema)
	rows, _ := db.Query(ctx, q.readOrders)
	committed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (service.Command, error) {
		c := service.Command{Kind: "OrderPlaced"}
		return c, r.Scan(&c.ID, &c.Key, &c.Amount)
	})
	if err != nil {
		return service.State{}, fmt.Errorf("ordersvc: read orders: %w", err)
	}
	rows, _ = db.Query(ctx, q.readPayments)
	effects, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (service.Effect, error) {
		var e service.Effect
		return e, r.Scan(&e.Msg, &e.Key, &e.Amount)
	})
	if err != nil {
		return service.State{}, fmt.Errorf("ordersvc: read payments: %w", err)
	}
	return service.State{Committed: committed, Effects: effects}, nil
}

// queries are the service's statements on the tables of one schema.
type queries struct {
	orders, outbox, inbox, payments string // qualified table names

	insertOrder, insertOutbox     string
	claim, markPublished, pending string
	insertInbox, insertPayment    string
	readOrders, readPayments      string // the final reads
}

func queriesFor(schema string) queries {
	table := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() }
	q := queries{orders: table("orders"), outbox: table("outbox"), inbox: table("inbox"), payments: table("payments")}
	q.insertOrder = `INSERT INTO ` + q.orders + ` (id, key, amount) VALUES ($1, $2, $3)`
	q.insertOutbox = `INSERT INTO ` + q.outbox + ` (msg_id, key, amount) VALUES ($1, $2, $3)`
	q.claim = `SELECT id, msg_id, key, amount FROM ` + q.outbox + ` WHERE NOT published ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`
	q.markPublished = `UPDATE ` + q.outbox + ` SET published = true WHERE id = ANY($1)`
	q.pending = `SELECT count(*) FROM ` + q.outbox + ` WHERE NOT published`
	q.insertInbox = `INSERT INTO ` + q.inbox + ` (msg_id) VALUES ($1) ON CONFLICT DO NOTHING`
	q.insertPayment = `INSERT INTO ` + q.payments + ` (msg_id, key, amount) VALUES ($1, $2, $3)`
	q.readOrders = `SELECT id, key, amount FROM ` + q.orders + ` ORDER BY id`
	q.readPayments = `SELECT msg_id, key, amount FROM ` + q.payments + ` ORDER BY id`
	return q
}

// payload is the body of an OrderPlaced message; its message id is the order's id.
type payload struct {
	Key    string `json:"key"`
	Amount int64  `json:"amount"`
}

// errNoConfirm: the broker nacked a publish.
var errNoConfirm = errors.New("ordersvc: the broker refused a publish (nack)")
