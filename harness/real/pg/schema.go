package pg

// A run's schema: created with the harness's marker and the run's tables, read at the end of
// the run, dropped only when the marker is there.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deliveryharness/harness/harness/history"
)

// SchemaPrefix starts the name of every schema the harness creates.
const SchemaPrefix = "harness_"

// Waits of the PostgreSQL adapter. Every wait has a deadline: a lock wait ends at the server's
// lock_timeout, anything else at the statement deadline (or the caller's, when earlier).
const (
	lockTimeout      = "2s"            // per connection: a blocked INSERT or upsert gives up then
	statementTimeout = 5 * time.Second // per statement, COMMIT and BEGIN included
	connectTimeout   = 5 * time.Second // when the URL does not set connect_timeout
	dropLockTimeout  = "10s"           // DROP SCHEMA waits for stragglers' locks this long
	storeConns       = 4               // connections per Store
	adminConns       = 2               // connections per Schema (creation, final reads)
	poolCloseWait    = 2 * time.Second // Close waits this long for the pool to close its idle connections
)

var runIDPattern = regexp.MustCompile(`^[a-z0-9_]{1,40}$`)

// schemaMarker is the comment that says a schema is the harness's: Drop drops nothing else.
func schemaMarker(runID string) string { return "owned by the delivery harness, run " + runID }

// Schema is one run's PostgreSQL schema: created with the harness's marker, dropped afterwards.
// It holds the run's liveness marker (HoldLiveness) from before its creation until Drop or
// Close: while a Schema is open, Clean leaves the run alone.
type Schema struct {
	Name string // harness_<runid>

	url  string
	pool *connPool
	live *Liveness
}

// CreateSchema creates the schema harness_<runID> with the harness's marker comment and the
// tables of a run, in one transaction. runID is 1 to 40 characters of [a-z0-9_]. It refuses a
// schema that already exists: a run never reuses another's state.
//
// Tables: business (the producer's rows; seq is a bigserial taken at insert), outbox, inbox
// (unique on consumer and message id), processed (no unique key), effects (idem_key unique, NULLs
// distinct), vals (balances or prices by key), versions (the stored version per key of versioned
// effects), relay_cursors (each offset relay's last published outbox id), relay_positions (each
// fenced relay's (transaction id, id) position; outbox rows record their transaction's id) and run (the run id
// and its creation time).
func CreateSchema(ctx context.Context, url, runID string) (*Schema, error) {
	return createSchema(ctx, url, runID, false)
}

// CreateBareSchema is CreateSchema with only the marker and the run table: a team's service
// (service mode) creates its own tables there, under names of its choosing.
func CreateBareSchema(ctx context.Context, url, runID string) (*Schema, error) {
	return createSchema(ctx, url, runID, true)
}

func createSchema(ctx context.Context, url, runID string, bare bool) (*Schema, error) {
	if !runIDPattern.MatchString(runID) {
		return nil, fmt.Errorf("postgres: run id %q: want 1 to 40 characters of [a-z0-9_]", runID)
	}
	name := SchemaPrefix + runID
	live, err := HoldLiveness(ctx, url, runID)
	if err != nil {
		return nil, err
	}
	pool, err := newConnPool(ctx, url, name, adminConns)
	if err != nil {
		live.Release()
		return nil, err
	}
	s := &Schema{Name: name, url: url, pool: pool, live: live}
	if err := s.create(ctx, runID, bare); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Schema) create(ctx context.Context, runID string, bare bool) error {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	held, err := s.pool.acquire(ctx)
	if err != nil {
		return connectFailed(s.url, err)
	}
	defer s.pool.release(held)
	conn := held.conn
	q := pgx.Identifier{s.Name}.Sanitize()
	tab := func(t string) string { return pgx.Identifier{s.Name, t}.Sanitize() }
	stmts := []string{
		`CREATE SCHEMA ` + q,
		`COMMENT ON SCHEMA ` + q + ` IS ` + literal(schemaMarker(runID)),
		`CREATE TABLE ` + tab("business") + ` (seq bigserial, id text PRIMARY KEY, key text NOT NULL,
			amount bigint NOT NULL, version bigint NOT NULL, kind text NOT NULL)`,
		`CREATE TABLE ` + tab("outbox") + ` (id bigserial PRIMARY KEY, msg_id text NOT NULL, key text NOT NULL,
			amount bigint NOT NULL, version bigint NOT NULL, kind text NOT NULL, published boolean NOT NULL DEFAULT false,
			xid xid8 NOT NULL DEFAULT pg_current_xact_id())`,
		// The relay's claim walks only the rows still to publish, however many were published.
		`CREATE INDEX ON ` + tab("outbox") + ` (id) WHERE NOT published`,
		`CREATE TABLE ` + tab("inbox") + ` (consumer text, msg_id text, PRIMARY KEY (consumer, msg_id))`,
		// No unique key here (the point of the processed log), but lookups by message are indexed.
		`CREATE TABLE ` + tab("processed") + ` (consumer text NOT NULL, msg_id text NOT NULL)`,
		`CREATE INDEX ON ` + tab("processed") + ` (consumer, msg_id)`,
		// The dedup-buffer producer's send buffer: one entry per message id, its put time and its outbox row.
		`CREATE TABLE ` + tab("send_buffer") + ` (msg_id text PRIMARY KEY, at timestamptz NOT NULL, outbox_id bigint NOT NULL UNIQUE)`,
		`CREATE TABLE ` + tab("effects") + ` (seq bigserial, msg_id text NOT NULL, key text NOT NULL,
			amount bigint NOT NULL, idem_key text UNIQUE)`,
		`CREATE TABLE ` + tab("vals") + ` (key text PRIMARY KEY, value bigint NOT NULL)`,
		`CREATE TABLE ` + tab("versions") + ` (key text PRIMARY KEY, version bigint NOT NULL)`,
		`CREATE TABLE ` + tab("relay_cursors") + ` (relay text PRIMARY KEY, last_id bigint NOT NULL)`,
		`CREATE TABLE ` + tab("relay_positions") + ` (relay text PRIMARY KEY, last_xid xid8 NOT NULL, last_id bigint NOT NULL)`,
		windowTable(s.Name),
		`CREATE TABLE ` + tab("run") + ` (run_id text NOT NULL, created timestamptz NOT NULL DEFAULT now())`,
		`INSERT INTO ` + tab("run") + ` (run_id) VALUES (` + literal(runID) + `)`,
	}
	stmts = slices.Insert(stmts, len(stmts)-2, chainTables(tab)...) // the chain workload's (chain.go), before the run table
	if bare {
		stmts = append(stmts[:2:2], stmts[len(stmts)-2:]...)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return wrap("postgres: create schema "+s.Name, err, conn)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for i, st := range stmts {
		if _, err := tx.Exec(ctx, st); err != nil {
			var pgErr *pgconn.PgError
			if i == 0 && errors.As(err, &pgErr) && pgErr.Code == "42P06" {
				return fmt.Errorf("postgres: schema %s already exists: refusing to use it for a new run", s.Name)
			}
			return wrap("postgres: create schema "+s.Name, err, conn)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap("postgres: create schema "+s.Name+": commit", err, conn)
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
	cfg, err := parseConfig(s.url, s.Name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return connectFailed(s.url, err)
	}
	defer closeConn(conn)
	_, err = dropMarked(ctx, conn, s.Name)
	return err
}

// dropMarked drops schema name if its comment is the harness's marker for the run its name
// carries; it reports whether it dropped it (false, nil: the schema does not exist).
func dropMarked(ctx context.Context, conn *pgx.Conn, name string) (bool, error) {
	runID, ok := strings.CutPrefix(name, SchemaPrefix)
	if !ok || !runIDPattern.MatchString(runID) {
		return false, fmt.Errorf("postgres: schema %q is not named %s<run id>: not dropping it", name, SchemaPrefix)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, wrap("postgres: drop schema "+name, err, conn)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var comment *string
	err = tx.QueryRow(ctx, `SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1`, name).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, wrap("postgres: drop schema "+name+": read its comment", err, conn)
	}
	if comment == nil || *comment != schemaMarker(runID) {
		found := "no comment"
		if comment != nil {
			found = fmt.Sprintf("comment %q", *comment)
		}
		return false, fmt.Errorf("postgres: schema %s does not carry the harness's marker %q (it has %s): not dropping it",
			name, schemaMarker(runID), found)
	}
	if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+dropLockTimeout+`'`); err != nil {
		return false, wrap("postgres: drop schema "+name, err, conn)
	}
	if _, err := tx.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
		return false, wrap("postgres: drop schema "+name, err, conn)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, wrap("postgres: drop schema "+name+": commit", err, conn)
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

// Outstanding counts the outbox work a relay still has: the committed rows not marked published
// and above every relay's durable cursor (relay_cursors). An offset relay marks nothing, and what
// its cursor has passed it never reads again (a row that committed below the cursor after the
// relay read past it is lost to it, which the invariants judge); without cursors (a claiming
// relay) it is Unpublished.
func (s *Schema) Outstanding(ctx context.Context) (int, error) {
	var n int
	err := s.read(ctx, "count outstanding outbox rows", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{s.Name, "outbox"}.Sanitize()+
			` o WHERE NOT published AND id > (SELECT COALESCE(max(last_id), 0) FROM `+pgx.Identifier{s.Name, "relay_cursors"}.Sanitize()+`)`+
			` AND NOT EXISTS (SELECT 1 FROM `+pgx.Identifier{s.Name, "relay_positions"}.Sanitize()+` p WHERE (o.xid, o.id) <= (p.last_xid, p.last_id))`).Scan(&n)
	})
	return n, err
}

// read runs fn in a read-only REPEATABLE READ transaction on an admin connection.
func (s *Schema) read(ctx context.Context, what string, fn func(pgx.Tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	held, err := s.pool.acquire(ctx)
	if err != nil {
		return connectFailed(s.url, err)
	}
	defer s.pool.release(held)
	conn := held.conn
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return wrap("postgres: "+s.Name+": "+what, err, conn)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if err := fn(tx); err != nil {
		return wrap("postgres: "+s.Name+": "+what, err, conn)
	}
	return nil
}
