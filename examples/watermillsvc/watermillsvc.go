// Package watermillsvc is a service built with Watermill the way its users put it together,
// registered for service mode as "watermill" (orders workload only):
//
//   - Handle writes the order and its OrderPlaced event in one PostgreSQL transaction: a
//     watermill-sql publisher bound to that transaction, wrapped by the forwarder's publisher,
//     inserts the enveloped event into the outbox topic's table.
//   - Relay runs Watermill's forwarder (components/forwarder): a watermill-sql subscriber on the
//     outbox topic, a watermill-amqp publisher (durable queue config, publisher confirms) to
//     the run's queue through the default exchange.
//   - Consume runs a message.Router with the Deduplicator middleware and a handler that inserts
//     one payment per message in its own transaction, fed by a watermill-amqp subscriber on the
//     run's queue.
//
// What the harness should see, from the libraries' own design:
//   - Watermill v1.5's Deduplicator keeps its keys in process memory (a map with a one-minute
//     window; the default key is an Adler-32 hash of the payload, not the message UUID): a
//     consumer that dies forgets what it applied, and a redelivery after its crash pays again.
//   - The Deduplicator records a key before the handler runs: a handler that fails (its
//     database link cut) nacks, and the redelivery is then dropped as a duplicate and acked,
//     so the payment is never made.
//   - Each consumer process has its own Deduplicator: competing consumers do not see each
//     other's keys.
//   - The forwarder acknowledges an outbox row once the broker confirmed its publish, and the
//     SQL subscriber commits its offset per batch (up to 100 rows): a relay that dies in
//     between publishes the batch again.
//   - The SQL subscriber reads only rows of transactions older than the server's snapshot
//     horizon (pg_snapshot_xmin): any transaction left open on the server, a producer's behind
//     a stalled link for one, holds the relay back until it ends.
//
// Watermill's tables (watermill_outbox, watermill_offsets_outbox) are named without a schema,
// so they land in the first schema of the search_path, the run's; Setup checks that they did.
//
// It imports the harness's service package only; it must not import the harness's backends.
package watermillsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/jackc/pgx/v5"

	"github.com/deliveryharness/harness/service"
)

// Name is the service's registered name.
const Name = "watermill"

// OutboxTopic is the forwarder's topic: the outbox table is watermill_outbox and the
// forwarder's offsets table watermill_offsets_outbox, both in the run's schema.
const OutboxTopic = "outbox"

// RelayGroup is the consumer group of the forwarder's SQL subscriber (the offsets row).
const RelayGroup = "relay"

// Timeouts: every wait the libraries let us bound.
const (
	// connectTimeout bounds a PostgreSQL connection attempt and an AMQP dial and handshake.
	connectTimeout = 5 * time.Second
	// statementTimeout bounds each statement of the SQL subscriber's transactions (and their
	// commit), and of Setup, Final and Pending.
	statementTimeout = 5 * time.Second
	// handleTimeout bounds one Handle: connect, insert, publish into the outbox, commit.
	handleTimeout = 15 * time.Second
	// payTimeout bounds one payment's transaction in the consumer.
	payTimeout = 10 * time.Second
	// heartbeat is the AMQP heartbeat: a link that stays silent for three of them is closed
	// by the client, which then reconnects.
	heartbeat = 2 * time.Second
	// ackDeadline: the SQL subscriber gives a row up (and ends its batch) when the forwarder
	// has not acknowledged it by then.
	ackDeadline = 15 * time.Second
	// pollInterval is the SQL subscriber's pause when the outbox has nothing new (its
	// default). Each poll is a transaction on the relay's link (BEGIN, SELECT, COMMIT): the
	// harness settles a run only once the links have been quiet for a while, which a much
	// shorter interval would never let happen.
	pollInterval = time.Second
	// retryInterval is the SQL subscriber's pause after an error, and the resend pause after a
	// nack.
	retryInterval = 500 * time.Millisecond
	// closeTimeout bounds a router's close: how long it waits for running handlers.
	closeTimeout = 10 * time.Second
	// dedupTimeout bounds the Deduplicator's repository call.
	dedupTimeout = 5 * time.Second
	// restartPause is the pause before a relay or consumer that could not start tries again.
	restartPause = 500 * time.Millisecond
)

// EnvLog turns on Watermill's standard logger (to stderr) when set to 1.
const EnvLog = "HARNESS_WATERMILL_LOG"

// Service is the Watermill service. Each process incarnation has its own value: what it holds
// in memory (the Deduplicator's keys) dies with the process.
type Service struct {
	logger watermill.LoggerAdapter
	// dedup is the consumer's Deduplicator, kept for the process's life so that a router
	// restarted in the same process keeps its keys, as one long-lived router would.
	dedup *middleware.Deduplicator
	// hooks are a benchmark's (WithHooks); zero in service mode.
	hooks Hooks
}

// New builds the service for one process.
func New() *Service {
	var logger watermill.LoggerAdapter = watermill.NopLogger{}
	if os.Getenv(EnvLog) == "1" {
		logger = watermill.NewStdLogger(false, false)
	}
	return &Service{
		logger: logger,
		// As users add it: the default key (Adler-32 of the payload) and the default
		// repository (in memory, one-minute window); only the timeout is ours.
		dedup: &middleware.Deduplicator{Timeout: dedupTimeout},
	}
}

func init() {
	service.MustRegister(Name, func() service.Service { return New() })
}

var (
	_ service.Service    = (*Service)(nil)
	_ service.Relayer    = (*Service)(nil)
	_ service.Pender     = (*Service)(nil)
	_ service.Documented = (*Service)(nil)
)

// ErrWorkload: the service implements the orders workload only.
var ErrWorkload = errors.New("watermillsvc: only the orders workload is implemented")

// Doc describes the service in one line.
func (*Service) Doc() string {
	return "Watermill: watermill-sql outbox in the order's transaction, forwarder to watermill-amqp, router with the in-memory Deduplicator"
}

// orderPlaced is the OrderPlaced event's payload.
type orderPlaced struct {
	Key    string `json:"key"`
	Amount int64  `json:"amount"`
}

// payloadOf is the OrderPlaced event's payload for cmd, as Handle publishes it: the bytes the
// consumer receives (the forwarder's envelope and watermill-amqp's marshaler carry them as they
// are) and the Deduplicator's default key hashes.
func payloadOf(cmd service.Command) ([]byte, error) {
	return json.Marshal(orderPlaced{Key: cmd.Key, Amount: cmd.Amount})
}

// schemaAdapter and offsetsAdapter are watermill-sql's PostgreSQL defaults: their table names
// are unqualified, so they land in the first schema of the connection's search_path.
func schemaAdapter() wsql.DefaultPostgreSQLSchema { return wsql.DefaultPostgreSQLSchema{} }

func offsetsAdapter() wsql.DefaultPostgreSQLOffsetsAdapter {
	return wsql.DefaultPostgreSQLOffsetsAdapter{}
}

func checkWorkload(env service.Env) error {
	if env.Workload != "orders" {
		return fmt.Errorf("%w (got %q)", ErrWorkload, env.Workload)
	}
	return nil
}

// Setup creates the orders and payments tables and Watermill's outbox and offsets tables, and
// checks that all of them landed in env.Schema.
func (s *Service) Setup(ctx context.Context, env service.Env) error {
	if err := checkWorkload(env); err != nil {
		return err
	}
	conn, err := connect(ctx, env)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, key text NOT NULL, amount bigint NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS payments (id bigserial PRIMARY KEY, msg_id text NOT NULL, key text NOT NULL, amount bigint NOT NULL)`,
	} {
		if err := execTimed(ctx, conn, q); err != nil {
			return fmt.Errorf("watermillsvc: setup: %w", err)
		}
	}
	// watermill-sql creates the topic's table and the offsets table (CREATE TABLE IF NOT
	// EXISTS, under an advisory lock, in a transaction) when asked to initialize a topic.
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(timedConn{conn}), wsql.SubscriberConfig{
		ConsumerGroup:  RelayGroup,
		SchemaAdapter:  schemaAdapter(),
		OffsetsAdapter: offsetsAdapter(),
	}, s.logger)
	if err != nil {
		return fmt.Errorf("watermillsvc: setup: outbox subscriber: %w", err)
	}
	defer func() { _ = sub.Close() }()
	if err := sub.SubscribeInitialize(OutboxTopic); err != nil {
		return fmt.Errorf("watermillsvc: setup: create the outbox tables: %w", err)
	}
	return checkTables(ctx, conn, env.Schema)
}

// Tables are the service's tables: its own and Watermill's.
var Tables = []string{"orders", "payments", "watermill_" + OutboxTopic, "watermill_offsets_" + OutboxTopic}

// checkTables fails when one of the service's tables is not in schema (the search_path did
// not take, or a table of that name elsewhere was found first).
func checkTables(ctx context.Context, conn *pgx.Conn, schema string) error {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	for _, t := range Tables {
		var where *string
		err := conn.QueryRow(ctx, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE c.oid = to_regclass($1)`, pgx.Identifier{t}.Sanitize()).Scan(&where)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("watermillsvc: setup: table %s not found on the search_path", t)
		}
		if err != nil {
			return fmt.Errorf("watermillsvc: setup: find table %s: %w", t, err)
		}
		if *where != schema {
			return fmt.Errorf("watermillsvc: setup: table %s landed in schema %s, not %s", t, *where, schema)
		}
	}
	return nil
}

// Handle places the order: in one transaction, the order's row and its OrderPlaced event,
// published with watermill-sql's publisher bound to the transaction and enveloped by the
// forwarder's publisher for the outbox topic. The event's UUID is the command's id and its
// destination topic the run's queue. Each call connects on its own (see Place).
func (s *Service) Handle(ctx context.Context, env service.Env, cmd service.Command) error {
	ctx, cancel := context.WithTimeout(ctx, handleTimeout)
	defer cancel()
	conn, err := connect(ctx, env)
	if err != nil {
		return err
	}
	defer closeConn(conn)
	return s.place(ctx, conn, env.Queue, cmd)
}

// Place is Handle on a connection the caller holds (its search_path the run's schema), for an
// in-process producer that keeps its connection, as a service with a pool would: the order's
// transaction, its event published to queue through the outbox, bounded by handleTimeout.
func (s *Service) Place(ctx context.Context, conn *pgx.Conn, queue string, cmd service.Command) error {
	ctx, cancel := context.WithTimeout(ctx, handleTimeout)
	defer cancel()
	return s.place(ctx, conn, queue, cmd)
}

func (s *Service) place(ctx context.Context, conn *pgx.Conn, queue string, cmd service.Command) error {
	payload, err := payloadOf(cmd)
	if err != nil {
		return fmt.Errorf("watermillsvc: %s: encode the event: %w", cmd.ID, err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("watermillsvc: %s: begin: %w", cmd.ID, err)
	}
	defer rollback(tx)
	if _, err := tx.Exec(ctx, `INSERT INTO orders (id, key, amount) VALUES ($1, $2, $3)`, cmd.ID, cmd.Key, cmd.Amount); err != nil {
		return fmt.Errorf("watermillsvc: %s: insert the order: %w", cmd.ID, err)
	}
	sqlPub, err := wsql.NewPublisher(wsql.TxFromPgx(tx), wsql.PublisherConfig{SchemaAdapter: schemaAdapter()}, s.logger)
	if err != nil {
		return fmt.Errorf("watermillsvc: %s: outbox publisher: %w", cmd.ID, err)
	}
	pub := forwarder.NewPublisher(sqlPub, forwarder.PublisherConfig{ForwarderTopic: OutboxTopic})
	defer func() { _ = pub.Close() }()
	msg := message.NewMessageWithContext(ctx, cmd.ID, payload)
	if err := pub.Publish(queue, msg); err != nil {
		return fmt.Errorf("watermillsvc: %s: publish into the outbox: %w", cmd.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("watermillsvc: %s: commit: %w", cmd.ID, err)
	}
	s.committed(cmd.ID)
	return nil
}

// Final reads the orders (committed) and the payments (effects), in one snapshot.
func (s *Service) Final(ctx context.Context, env service.Env) (service.State, error) {
	var st service.State
	conn, err := connect(ctx, env)
	if err != nil {
		return st, err
	}
	defer closeConn(conn)
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return st, fmt.Errorf("watermillsvc: final read: %w", err)
	}
	defer rollback(tx)
	rows, _ := tx.Query(ctx, `SELECT id, key, amount FROM orders ORDER BY id COLLATE "C"`)
	st.Committed, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (service.Command, error) {
		c := service.Command{Seq: 1, Kind: "OrderPlaced"}
		err := r.Scan(&c.ID, &c.Key, &c.Amount)
		return c, err
	})
	if err != nil {
		return st, fmt.Errorf("watermillsvc: final read: orders: %w", err)
	}
	rows, _ = tx.Query(ctx, `SELECT msg_id, key, amount FROM payments ORDER BY id`)
	st.Effects, err = pgx.CollectRows(rows, pgx.RowToStructByPos[service.Effect])
	if err != nil {
		return st, fmt.Errorf("watermillsvc: final read: payments: %w", err)
	}
	return st, nil
}

// Pending counts the outbox rows the forwarder has not acknowledged: those after its consumer
// group's offset (transaction id, then offset), as watermill-sql's PostgreSQL offsets adapter
// orders them. The offset moves when the SQL subscriber commits a batch, after the broker
// confirmed each of its publishes.
func (s *Service) Pending(ctx context.Context, env service.Env) (int, error) {
	conn, err := connect(ctx, env)
	if err != nil {
		return 0, err
	}
	defer closeConn(conn)
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM `+schemaAdapter().MessagesTable(OutboxTopic)+` m
		WHERE NOT EXISTS (SELECT 1 FROM `+offsetsAdapter().MessagesOffsetsTable(OutboxTopic)+` o
			WHERE o.consumer_group = $1 AND (o.last_processed_transaction_id > m.transaction_id
				OR (o.last_processed_transaction_id = m.transaction_id AND o.offset_acked >= m."offset")))`,
		RelayGroup).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("watermillsvc: count the outbox backlog: %w", err)
	}
	return n, nil
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
