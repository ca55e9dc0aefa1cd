package real

// The PostgreSQL half of the real backend: one schema per run (created with the harness's
// marker, dropped only when the marker is there), and strategies.Store / strategies.Tx on it,
// one SQL statement per port call at READ COMMITTED.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/redact"
	"github.com/deliveryharness/harness/strategies"
)

// SchemaPrefix starts the name of every schema the harness creates.
const SchemaPrefix = "harness_"

// Waits of the PostgreSQL adapter. Every wait has a deadline: a lock wait ends at the server's
// lock_timeout, anything else at the statement deadline (or the caller's, when earlier).
const (
	pgLockTimeout      = "2s"            // per connection: a blocked INSERT or upsert gives up then
	pgStatementTimeout = 5 * time.Second // per statement, COMMIT and BEGIN included
	pgConnectTimeout   = 5 * time.Second // when the URL does not set connect_timeout
	pgDropLockTimeout  = "10s"           // DROP SCHEMA waits for stragglers' locks this long
	pgStoreConns       = 4               // connections per Store
	pgAdminConns       = 2               // connections per Schema (creation, final reads)
	pgPoolCloseWait    = 2 * time.Second // Close waits this long for the pool to close its idle connections
)

var pgRunIDPattern = regexp.MustCompile(`^[a-z0-9_]{1,40}$`)

// schemaMarker is the comment that says a schema is the harness's: Drop drops nothing else.
func schemaMarker(runID string) string { return "owned by the delivery harness, run " + runID }

// Schema is one run's PostgreSQL schema: created with the harness's marker, dropped afterwards.
// It holds the run's liveness marker (HoldLiveness) from before its creation until Drop or
// Close: while a Schema is open, Clean leaves the run alone.
type Schema struct {
	Name string // harness_<runid>

	url  string
	pool *pgPool
	live *Liveness
}

// CreateSchema creates the schema harness_<runID> with the harness's marker comment and the
// tables of a run, in one transaction. runID is 1 to 40 characters of [a-z0-9_]. It refuses a
// schema that already exists: a run never reuses another's state.
//
// Tables: business (the producer's rows; seq is a bigserial taken at insert), outbox, inbox
// (unique on consumer and message id), processed (no unique key), effects (idem_key unique, NULLs
// distinct), vals (balances or prices by key), versions (the stored version per key of versioned
// effects), and run (the run id and its creation time).
func CreateSchema(ctx context.Context, url, runID string) (*Schema, error) {
	if !pgRunIDPattern.MatchString(runID) {
		return nil, fmt.Errorf("postgres: run id %q: want 1 to 40 characters of [a-z0-9_]", runID)
	}
	name := SchemaPrefix + runID
	live, err := HoldLiveness(ctx, url, runID)
	if err != nil {
		return nil, err
	}
	pool, err := newPgPool(ctx, url, name, pgAdminConns)
	if err != nil {
		live.Release()
		return nil, err
	}
	s := &Schema{Name: name, url: url, pool: pool, live: live}
	if err := s.create(ctx, runID); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Schema) create(ctx context.Context, runID string) error {
	ctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
	defer cancel()
	held, err := s.pool.acquire(ctx)
	if err != nil {
		return pgConnectErr(s.url, err)
	}
	defer s.pool.release(held)
	conn := held.conn
	q := pgx.Identifier{s.Name}.Sanitize()
	tab := func(t string) string { return pgx.Identifier{s.Name, t}.Sanitize() }
	stmts := []string{
		`CREATE SCHEMA ` + q,
		`COMMENT ON SCHEMA ` + q + ` IS ` + pgLiteral(schemaMarker(runID)),
		`CREATE TABLE ` + tab("business") + ` (seq bigserial, id text PRIMARY KEY, key text NOT NULL,
			amount bigint NOT NULL, version bigint NOT NULL, kind text NOT NULL)`,
		`CREATE TABLE ` + tab("outbox") + ` (id bigserial PRIMARY KEY, msg_id text NOT NULL, key text NOT NULL,
			amount bigint NOT NULL, version bigint NOT NULL, kind text NOT NULL, published boolean NOT NULL DEFAULT false)`,
		// The relay's claim walks only the rows still to publish, however many were published.
		`CREATE INDEX ON ` + tab("outbox") + ` (id) WHERE NOT published`,
		`CREATE TABLE ` + tab("inbox") + ` (consumer text, msg_id text, PRIMARY KEY (consumer, msg_id))`,
		// No unique key here (the point of the processed log), but lookups by message are indexed.
		`CREATE TABLE ` + tab("processed") + ` (consumer text NOT NULL, msg_id text NOT NULL)`,
		`CREATE INDEX ON ` + tab("processed") + ` (consumer, msg_id)`,
		`CREATE TABLE ` + tab("effects") + ` (seq bigserial, msg_id text NOT NULL, key text NOT NULL,
			amount bigint NOT NULL, idem_key text UNIQUE)`,
		`CREATE TABLE ` + tab("vals") + ` (key text PRIMARY KEY, value bigint NOT NULL)`,
		`CREATE TABLE ` + tab("versions") + ` (key text PRIMARY KEY, version bigint NOT NULL)`,
		`CREATE TABLE ` + tab("run") + ` (run_id text NOT NULL, created timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO ` + tab("run") + ` (run_id) VALUES (` + pgLiteral(runID) + `)`,
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return pgWrap("postgres: create schema "+s.Name, err, conn)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for i, st := range stmts {
		if _, err := tx.Exec(ctx, st); err != nil {
			var pgErr *pgconn.PgError
			if i == 0 && errors.As(err, &pgErr) && pgErr.Code == "42P06" {
				return fmt.Errorf("postgres: schema %s already exists: refusing to use it for a new run", s.Name)
			}
			return pgWrap("postgres: create schema "+s.Name, err, conn)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return pgWrap("postgres: create schema "+s.Name+": commit", err, conn)
	}
	return nil
}

// Drop drops the schema and everything in it, only if it carries the harness's marker for its
// run id; otherwise it returns an error that says so and drops nothing. A schema already gone is
// not an error. Drop then closes the Schema (Close), which releases the run's liveness marker:
// call it after the run's slot and queue are gone.
func (s *Schema) Drop(ctx context.Context) error {
	defer s.Close()
	if s.pool != nil {
		s.pool.close()
	}
	cfg, err := pgParse(s.url, s.Name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return pgConnectErr(s.url, err)
	}
	defer pgCloseConn(conn)
	_, err = dropMarked(ctx, conn, s.Name)
	return err
}

// dropMarked drops schema name if its comment is the harness's marker for the run its name
// carries; it reports whether it dropped it (false, nil: the schema does not exist).
func dropMarked(ctx context.Context, conn *pgx.Conn, name string) (bool, error) {
	runID, ok := strings.CutPrefix(name, SchemaPrefix)
	if !ok || !pgRunIDPattern.MatchString(runID) {
		return false, fmt.Errorf("postgres: schema %q is not named %s<run id>: not dropping it", name, SchemaPrefix)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, pgWrap("postgres: drop schema "+name, err, conn)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var comment *string
	err = tx.QueryRow(ctx, `SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1`, name).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, pgWrap("postgres: drop schema "+name+": read its comment", err, conn)
	}
	if comment == nil || *comment != schemaMarker(runID) {
		found := "no comment"
		if comment != nil {
			found = fmt.Sprintf("comment %q", *comment)
		}
		return false, fmt.Errorf("postgres: schema %s does not carry the harness's marker %q (it has %s): not dropping it",
			name, schemaMarker(runID), found)
	}
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+pgDropLockTimeout+`'`); err != nil {
		return false, pgWrap("postgres: drop schema "+name, err, conn)
	}
	if _, err := tx.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
		return false, pgWrap("postgres: drop schema "+name, err, conn)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, pgWrap("postgres: drop schema "+name+": commit", err, conn)
	}
	return true, nil
}

// Close releases the Schema's connections and the run's liveness marker. The schema itself
// stays until Drop, or until Clean finds it (its run is then dead).
func (s *Schema) Close() {
	if s.pool != nil {
		s.pool.close()
	}
	s.live.Release()
}

// Final reads the database the way the invariants see it, in one snapshot (REPEATABLE READ,
// read only):
//   - Committed: the business rows, ordered by their seq, a bigserial taken at INSERT. That is
//     insertion order, which equals commit order when producers commit one at a time; two
//     transactions that overlap may commit in the other order. (The invariants order a key's
//     changes by their version first; commit order only breaks ties.)
//   - Effects: the effect rows in insertion order (their seq), by the same rule.
//   - Values: by key, in byte order (COLLATE "C", as Go sorts strings).
//   - Outbox: the committed outbox rows in id order.
//
// Ready and Unacked are the broker's and stay 0.
func (s *Schema) Final(ctx context.Context) (history.Final, error) {
	var f history.Final
	err := s.read(ctx, "final read", func(tx pgx.Tx) error {
		tab := func(t string) string { return pgx.Identifier{s.Name, t}.Sanitize() }
		// Columns are selected in the order of the history types' fields.
		rows, _ := tx.Query(ctx, `SELECT id, key, amount, version, kind FROM `+tab("business")+` ORDER BY seq`)
		committed, err := pgx.CollectRows(rows, pgx.RowToStructByPos[history.Message])
		if err != nil {
			return fmt.Errorf("business: %w", err)
		}
		rows, _ = tx.Query(ctx, `SELECT msg_id, key, amount FROM `+tab("effects")+` ORDER BY seq`)
		effects, err := pgx.CollectRows(rows, pgx.RowToStructByPos[history.Effect])
		if err != nil {
			return fmt.Errorf("effects: %w", err)
		}
		rows, _ = tx.Query(ctx, `SELECT key, value FROM `+tab("vals")+` ORDER BY key COLLATE "C"`)
		values, err := pgx.CollectRows(rows, pgx.RowToStructByPos[history.Value])
		if err != nil {
			return fmt.Errorf("vals: %w", err)
		}
		rows, _ = tx.Query(ctx, `SELECT id, msg_id, published FROM `+tab("outbox")+` ORDER BY id`)
		outbox, err := pgx.CollectRows(rows, pgx.RowToStructByPos[history.OutboxRow])
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		f = history.Final{Committed: committed, Effects: effects, Values: values, Outbox: outbox}
		return nil
	})
	return f, err
}

// Unpublished counts the committed outbox rows not yet marked published.
func (s *Schema) Unpublished(ctx context.Context) (int, error) {
	var n int
	err := s.read(ctx, "count unpublished outbox rows", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{s.Name, "outbox"}.Sanitize()+
			` WHERE NOT published`).Scan(&n)
	})
	return n, err
}

// read runs fn in a read-only REPEATABLE READ transaction on an admin connection.
func (s *Schema) read(ctx context.Context, what string, fn func(pgx.Tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
	defer cancel()
	held, err := s.pool.acquire(ctx)
	if err != nil {
		return pgConnectErr(s.url, err)
	}
	defer s.pool.release(held)
	conn := held.conn
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return pgWrap("postgres: "+s.Name+": "+what, err, conn)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(tx); err != nil {
		return pgWrap("postgres: "+s.Name+": "+what, err, conn)
	}
	return nil
}

// Store is a strategies.Store on one run's schema: its own small pool of connections (at most
// four), opened lazily, each with lock_timeout = 2s and the schema's name as application_name.
type Store struct {
	schema   string
	workload string
	url      string
	pool     *pgPool
	sql      pgStatements
	mail     Mailer // the mail gateway, for emails
}

// pgStatements are the adapter's SQL with the schema's tables fully qualified.
type pgStatements struct {
	insertBusiness, appendOutbox, claimOutbox, markPublished string
	insertEffect, insertEffectIdem, addValue, setValue       string
	inboxInsert, inboxContains, recordProcessed, processed   string
	upsertVersion                                            string
}

// NewStore returns a Store on schema for workload ("orders", "credits" or "prices"). It does not
// connect: connections open at Begin, so a Store can be made while the server is unreachable.
func NewStore(ctx context.Context, url, schema, workload string) (*Store, error) {
	if workload == "emails" {
		return nil, errors.New("postgres: workload emails needs a mail gateway: use NewStoreWithGateway")
	}
	return NewStoreWithGateway(ctx, url, schema, workload, nil)
}

// NewStoreWithGateway is NewStore that also takes the emails workload, whose effect is a call to
// the mail gateway mail, outside the transaction. A Store whose process sends no email (a
// producer, a relay) may have no gateway: its Apply then fails.
func NewStoreWithGateway(ctx context.Context, url, schema, workload string, mail Mailer) (*Store, error) {
	switch workload {
	case "orders", "credits", "prices", "emails":
	default:
		return nil, fmt.Errorf("postgres: unknown workload %q: want orders, credits, prices or emails", workload)
	}
	if schema == "" {
		return nil, errors.New("postgres: empty schema name")
	}
	pool, err := newPgPool(ctx, url, schema, pgStoreConns)
	if err != nil {
		return nil, err
	}
	tab := func(t string) string { return pgx.Identifier{schema, t}.Sanitize() }
	return &Store{
		schema: schema, workload: workload, url: url,
		pool: pool, mail: mail,
		sql: pgStatements{
			insertBusiness: `INSERT INTO ` + tab("business") + ` (id, key, amount, version, kind) VALUES ($1, $2, $3, $4, $5)`,
			appendOutbox:   `INSERT INTO ` + tab("outbox") + ` (msg_id, key, amount, version, kind) VALUES ($1, $2, $3, $4, $5)`,
			claimOutbox: `SELECT id, msg_id, key, amount, version, kind FROM ` + tab("outbox") +
				` WHERE NOT published ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
			markPublished:    `UPDATE ` + tab("outbox") + ` SET published = true WHERE id = ANY($1)`,
			insertEffect:     `INSERT INTO ` + tab("effects") + ` (msg_id, key, amount) VALUES ($1, $2, $3)`,
			insertEffectIdem: `INSERT INTO ` + tab("effects") + ` (msg_id, key, amount, idem_key) VALUES ($1, $2, $3, $1) ON CONFLICT (idem_key) DO NOTHING`,
			addValue: `INSERT INTO ` + tab("vals") + ` AS v (key, value) VALUES ($1, $2)
				ON CONFLICT (key) DO UPDATE SET value = v.value + EXCLUDED.value`,
			setValue: `INSERT INTO ` + tab("vals") + ` AS v (key, value) VALUES ($1, $2)
				ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
			inboxInsert:     `INSERT INTO ` + tab("inbox") + ` (consumer, msg_id) VALUES ($1, $2)`,
			inboxContains:   `SELECT EXISTS (SELECT 1 FROM ` + tab("inbox") + ` WHERE consumer = $1 AND msg_id = $2)`,
			recordProcessed: `INSERT INTO ` + tab("processed") + ` (consumer, msg_id) VALUES ($1, $2)`,
			processed:       `SELECT EXISTS (SELECT 1 FROM ` + tab("processed") + ` WHERE consumer = $1 AND msg_id = $2)`,
			// The conflicting row is locked even when the WHERE leaves it as it is.
			upsertVersion: `INSERT INTO ` + tab("versions") + ` AS v (key, version) VALUES ($1, $2)
				ON CONFLICT (key) DO UPDATE SET version = EXCLUDED.version WHERE v.version < EXCLUDED.version`,
		},
	}, nil
}

// Close closes the Store's connections, those of open transactions included, as the exit of the
// process would: the server rolls those transactions back.
func (s *Store) Close() { s.pool.close() }

// Begin implements strategies.Store: a transaction at the server's default isolation (READ
// COMMITTED) on a connection of the pool. A server that cannot be reached gives ErrConnection.
func (s *Store) Begin(ctx context.Context) (strategies.Tx, error) {
	ctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		held, err := s.pool.acquire(ctx)
		if err != nil {
			return nil, pgConnectErr(s.url, err)
		}
		tx, err := held.conn.Begin(ctx)
		if err == nil {
			return &pgTx{s: s, held: held, conn: held.conn, tx: tx}, nil
		}
		werr := pgWrap("postgres: begin", err, held.conn)
		s.pool.discard(held)
		// An idle connection may have died since its last use (a cut link, a restarted server)
		// less than a second ago, too recently for the pool's ping: BEGIN on it changed nothing,
		// so one more try on a fresh connection is safe.
		if held.reused && attempt == 0 && ctx.Err() == nil {
			continue
		}
		return nil, werr
	}
}

// pgTx is one transaction: a connection held from Begin to Commit or Rollback.
type pgTx struct {
	s    *Store
	held *pgHeld
	conn *pgx.Conn // held.conn
	tx   pgx.Tx
	done bool  // Commit or Rollback was called
	lost error // a statement lost the connection: the server has rolled the transaction back
}

// usable is the check before every statement: the transaction is still open on a live connection.
func (t *pgTx) usable(what string) error {
	if t.done {
		return fmt.Errorf("postgres: %s: statement after the transaction ended: %w", what, strategies.ErrTxAborted)
	}
	if t.lost != nil {
		return fmt.Errorf("postgres: %s: %w (after: %v)", what, strategies.ErrTxAborted, t.lost)
	}
	return nil
}

// fail classifies a statement's error and remembers a lost connection.
func (t *pgTx) fail(what string, err error) error {
	werr := pgWrap("postgres: "+what, err, t.conn)
	if errors.Is(werr, strategies.ErrConnection) {
		t.lost = werr
	}
	return werr
}

func (t *pgTx) exec(ctx context.Context, what, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.usable(what); err != nil {
		return pgconn.CommandTag{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
	defer cancel()
	tag, err := t.tx.Exec(ctx, sql, args...)
	if err != nil {
		return tag, t.fail(what, err)
	}
	return tag, nil
}

func (t *pgTx) exists(ctx context.Context, what, sql string, args ...any) (bool, error) {
	if err := t.usable(what); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
	defer cancel()
	var ok bool
	if err := t.tx.QueryRow(ctx, sql, args...).Scan(&ok); err != nil {
		return false, t.fail(what, err)
	}
	return ok, nil
}

// InsertBusiness implements strategies.Tx: a duplicate id gives ErrDuplicateKey.
func (t *pgTx) InsertBusiness(ctx context.Context, m history.Message) error {
	_, err := t.exec(ctx, "insert business "+m.ID, t.s.sql.insertBusiness, m.ID, m.Key, m.Amount, m.Seq, m.Kind)
	return err
}

// AppendOutbox implements strategies.Tx.
func (t *pgTx) AppendOutbox(ctx context.Context, m history.Message) error {
	_, err := t.exec(ctx, "append outbox "+m.ID, t.s.sql.appendOutbox, m.ID, m.Key, m.Amount, m.Seq, m.Kind)
	return err
}

// ClaimOutbox implements strategies.Tx: SELECT ... FOR UPDATE SKIP LOCKED, oldest first.
func (t *pgTx) ClaimOutbox(ctx context.Context, limit int) ([]strategies.OutboxRow, error) {
	what := fmt.Sprintf("claim outbox (limit %d)", limit)
	if err := t.usable(what); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
	defer cancel()
	rows, _ := t.tx.Query(ctx, t.s.sql.claimOutbox, max(limit, 0))
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (strategies.OutboxRow, error) {
		var o strategies.OutboxRow
		err := r.Scan(&o.ID, &o.Msg.ID, &o.Msg.Key, &o.Msg.Amount, &o.Msg.Seq, &o.Msg.Kind)
		return o, err
	})
	if err != nil {
		return nil, t.fail(what, err)
	}
	return out, nil
}

// MarkPublished implements strategies.Tx.
func (t *pgTx) MarkPublished(ctx context.Context, ids []int64) error {
	if ids == nil {
		ids = []int64{}
	}
	_, err := t.exec(ctx, fmt.Sprintf("mark published %v", ids), t.s.sql.markPublished, ids)
	return err
}

// Apply implements strategies.Tx: an effect row, and for credits balance += amount, for prices
// price := amount (an upsert, which locks the value's row to the end of the transaction); for
// emails a call to the mail gateway without an idempotency key, outside the transaction.
func (t *pgTx) Apply(ctx context.Context, m history.Message) error {
	if t.s.workload == "emails" {
		return t.s.send(ctx, m, "")
	}
	if _, err := t.exec(ctx, "apply "+m.ID+": effect", t.s.sql.insertEffect, m.ID, m.Key, m.Amount); err != nil {
		return err
	}
	return t.value(ctx, m)
}

// value writes the workload's value change of m.
func (t *pgTx) value(ctx context.Context, m history.Message) error {
	var err error
	switch t.s.workload {
	case "credits":
		_, err = t.exec(ctx, "apply "+m.ID+": credit "+m.Key, t.s.sql.addValue, m.Key, m.Amount)
	case "prices":
		_, err = t.exec(ctx, "apply "+m.ID+": set price of "+m.Key, t.s.sql.setValue, m.Key, m.Amount)
	}
	return err
}

// ApplyIdempotent implements strategies.Tx: the effect row under the unique idem_key = message id
// (INSERT ... ON CONFLICT DO NOTHING, which waits for a concurrent inserter of the same key); the
// value changes only when the row was new, except that prices always set the price, since setting
// a price is idempotent by itself. For emails it is the gateway call with the message id as its
// idempotency key, which the gateway keeps.
func (t *pgTx) ApplyIdempotent(ctx context.Context, m history.Message) error {
	if t.s.workload == "emails" {
		return t.s.send(ctx, m, m.ID)
	}
	tag, err := t.exec(ctx, "apply idempotent "+m.ID+": effect", t.s.sql.insertEffectIdem, m.ID, m.Key, m.Amount)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 && t.s.workload != "prices" {
		return nil
	}
	return t.value(ctx, m)
}

// send is the emails workload's effect: a call to the mail gateway, outside any transaction.
func (s *Store) send(ctx context.Context, m history.Message, key string) error {
	if s.mail == nil {
		return fmt.Errorf("postgres: email %s: this store has no mail gateway", m.ID)
	}
	return s.mail.Send(ctx, m, key)
}

// ApplyVersioned implements strategies.Tx: one upsert of the key's version row whose WHERE
// compares versions (it locks the row to the end of the transaction, applied or not); when it
// wrote the row, the effect as Apply writes it (for emails, the gateway call without a key).
func (t *pgTx) ApplyVersioned(ctx context.Context, m history.Message) (bool, error) {
	tag, err := t.exec(ctx, fmt.Sprintf("apply versioned %s: version %d of %s", m.ID, m.Seq, m.Key), t.s.sql.upsertVersion, m.Key, m.Seq)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	return true, t.Apply(ctx, m)
}

// InboxInsert implements strategies.Tx: a second insert of the pair gives ErrDuplicateKey; a
// concurrent one waits for the first transaction (up to lock_timeout, then ErrLockTimeout).
func (t *pgTx) InboxInsert(ctx context.Context, consumer, msgID string) error {
	_, err := t.exec(ctx, "inbox insert "+consumer+"/"+msgID, t.s.sql.inboxInsert, consumer, msgID)
	return err
}

// InboxContains implements strategies.Tx.
func (t *pgTx) InboxContains(ctx context.Context, consumer, msgID string) (bool, error) {
	return t.exists(ctx, "inbox contains "+consumer+"/"+msgID, t.s.sql.inboxContains, consumer, msgID)
}

// RecordProcessed implements strategies.Tx.
func (t *pgTx) RecordProcessed(ctx context.Context, consumer, msgID string) error {
	_, err := t.exec(ctx, "record processed "+consumer+"/"+msgID, t.s.sql.recordProcessed, consumer, msgID)
	return err
}

// Processed implements strategies.Tx.
func (t *pgTx) Processed(ctx context.Context, consumer, msgID string) (bool, error) {
	return t.exists(ctx, "processed "+consumer+"/"+msgID, t.s.sql.processed, consumer, msgID)
}

// Commit implements strategies.Tx. A transaction that an earlier error aborted gives ErrTxAborted
// (PostgreSQL answers COMMIT with ROLLBACK); one whose connection was already gone gives
// ErrTxAborted after a statement reported the loss, ErrConnection otherwise; any other error,
// whatever pgx says about retrying, is ErrUnknownOutcome: the COMMIT may have taken effect.
func (t *pgTx) Commit(ctx context.Context) error {
	if err := t.usable("commit"); err != nil {
		t.end()
		return err
	}
	defer t.end()
	if t.conn.IsClosed() {
		return fmt.Errorf("postgres: commit: the connection closed before the COMMIT was sent: %w", strategies.ErrConnection)
	}
	ctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
	defer cancel()
	err := t.tx.Commit(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrTxCommitRollback):
		return fmt.Errorf("postgres: commit: the server rolled back the transaction an earlier error aborted: %w", strategies.ErrTxAborted)
	default:
		return fmt.Errorf("postgres: commit: %w: %w", strategies.ErrUnknownOutcome, pgRedacted(err, t.s.url))
	}
}

// Rollback implements strategies.Tx. It is safe after any error and after Commit; a rollback on
// a lost connection is no error (the server rolled the transaction back when it lost it).
func (t *pgTx) Rollback(ctx context.Context) error {
	if t.done {
		return nil
	}
	defer t.end()
	if t.conn.IsClosed() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
	defer cancel()
	err := t.tx.Rollback(ctx)
	if err == nil || errors.Is(err, pgx.ErrTxClosed) || t.conn.IsClosed() {
		return nil
	}
	return pgWrap("postgres: rollback", err, t.conn)
}

// end gives the connection back: to the pool when it is idle and healthy, else closed.
func (t *pgTx) end() {
	if t.done {
		return
	}
	t.done = true
	t.s.pool.release(t.held)
}

// pgParse parses url into a connection config with the adapter's session settings.
func pgParse(url, schema string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad URL %s: %w", redact.URL(url), pgRedacted(err, url))
	}
	pgSession(cfg, schema)
	return cfg, nil
}

// pgSession sets the adapter's session settings on cfg: lock_timeout, the schema's name as
// application_name (unless schema is empty), a connect timeout when the URL sets none.
func pgSession(cfg *pgx.ConnConfig, schema string) {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	cfg.RuntimeParams["lock_timeout"] = pgLockTimeout
	if schema != "" {
		cfg.RuntimeParams["application_name"] = schema
	}
}

// pgWrap wraps a failed operation's error with what was being done, the strategies sentinel it
// falls under (if any) and the cause, on one line.
func pgWrap(what string, err error, conn *pgx.Conn) error {
	if s := pgSentinel(err, conn); s != nil {
		return fmt.Errorf("%s: %w: %w", what, s, pgRedacted(err, ""))
	}
	return fmt.Errorf("%s: %w", what, pgRedacted(err, ""))
}

// pgConnectErr is the error of a connection that could not be opened: ErrConnection, with the
// server's URL redacted.
func pgConnectErr(url string, err error) error {
	if errors.Is(err, errPoolClosed) {
		return fmt.Errorf("postgres %s: %w", redact.URL(url), err)
	}
	return fmt.Errorf("postgres %s: %w: %w", redact.URL(url), strategies.ErrConnection, pgRedacted(err, url))
}

// pgSentinel classifies err: a unique violation, an aborted transaction, a lock timeout, or a
// lost connection (server unreachable, connection closed, a deadline that closed it).
func pgSentinel(err error, conn *pgx.Conn) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return strategies.ErrDuplicateKey
		case pgErr.Code == "25P02":
			return strategies.ErrTxAborted
		case pgErr.Code == "55P03":
			return strategies.ErrLockTimeout
		case strings.HasPrefix(pgErr.Code, "08"), pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03":
			return strategies.ErrConnection
		}
		if conn != nil && conn.IsClosed() {
			return strategies.ErrConnection
		}
		return nil
	}
	if errors.Is(err, pgx.ErrTxClosed) {
		return strategies.ErrTxAborted
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		(conn != nil && conn.IsClosed()) {
		return strategies.ErrConnection
	}
	return nil
}

// pgRedacted returns err with its text on one line and the password of url, if any, masked.
func pgRedacted(err error, url string) error {
	var password string
	if url != "" {
		if cfg, perr := pgconn.ParseConfig(url); perr == nil {
			password = cfg.Password
		}
	}
	return redact.Error(err, password)
}

// pgLiteral quotes s as an SQL string literal.
func pgLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func pgCloseConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx)
}

var errPoolClosed = errors.New("postgres: connections closed")

// pgPool is a pgxpool.Pool of a few connections, opened lazily, that also knows which
// connections are taken, so that close can cut them as the exit of a process would. A connection
// goes back to the pool only when it is open and idle, outside any transaction (pgxpool destroys
// any other); one idle for more than a second is pinged before it is handed out again.
type pgPool struct {
	pool *pgxpool.Pool

	mu     sync.Mutex
	taken  map[*pgHeld]bool
	closed bool
}

// pgHeld is a connection taken from a pgPool, until release.
type pgHeld struct {
	conn   *pgx.Conn
	reused bool          // the connection served an earlier acquire
	pc     *pgxpool.Conn // nil once close cut the connection (or after release)
}

// pgReusedKey marks, in a connection's custom data, that it has been handed out before.
const pgReusedKey = "harness.reused"

// newPgPool makes a pool of at most size connections to url, with the adapter's session
// settings and schema as application_name. It opens no connection.
func newPgPool(ctx context.Context, url, schema string, size int32) (*pgPool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad URL %s: %w", redact.URL(url), pgRedacted(err, url))
	}
	pgSession(cfg.ConnConfig, schema)
	cfg.MaxConns, cfg.MinConns, cfg.MinIdleConns = size, 0, 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", redact.URL(url), pgRedacted(err, url))
	}
	return &pgPool{pool: pool, taken: map[*pgHeld]bool{}}, nil
}

// acquire takes a connection, waiting for a free one (until ctx ends) or opening a new one.
func (p *pgPool) acquire(ctx context.Context) (*pgHeld, error) {
	if p.isClosed() {
		return nil, errPoolClosed
	}
	pc, err := p.pool.Acquire(ctx)
	if err != nil {
		if p.isClosed() {
			return nil, errPoolClosed
		}
		return nil, err
	}
	conn := pc.Conn()
	data := conn.PgConn().CustomData()
	_, reused := data[pgReusedKey]
	data[pgReusedKey] = true
	h := &pgHeld{conn: conn, reused: reused, pc: pc}
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.taken[h] = true
	}
	p.mu.Unlock()
	if closed {
		pc.Release()
		return nil, errPoolClosed
	}
	return h, nil
}

func (p *pgPool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// release gives h back to the pool (which keeps it only if it is open and idle); a connection
// that close cut is closed instead. Only the goroutine that took h calls release, once.
func (p *pgPool) release(h *pgHeld) {
	p.mu.Lock()
	delete(p.taken, h)
	pc := h.pc
	h.pc = nil
	p.mu.Unlock()
	if pc != nil {
		pc.Release()
		return
	}
	pgCloseConn(h.conn) // close cut it and took it out of the pool
}

// discard closes h's connection and gives it back, so that the pool destroys it.
func (p *pgPool) discard(h *pgHeld) {
	pgCloseConn(h.conn)
	p.release(h)
}

// close closes every connection, as the exit of a process would: it takes the ones in use out of
// the pool and closes their sockets, so that the server rolls back their open transactions (their
// next statement fails with ErrConnection; Commit or Rollback then frees them), and then closes
// the pool, waiting at most pgPoolCloseWait for its idle connections to close.
func (p *pgPool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for h := range p.taken {
		h.pc.Hijack()
		h.pc = nil
		_ = h.conn.PgConn().Conn().Close()
	}
	clear(p.taken)
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.pool.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(pgPoolCloseWait):
	}
}
