package watermillsvc

import (
	"context"
	"fmt"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deliveryharness/harness/service"
)

// idleInTransaction is the server's bound on a transaction left idle (its client gone silent
// behind a stalled link): it ends it, and so releases its locks and the snapshot horizon that
// the outbox subscriber reads behind. It is longer than ackDeadline, during which the
// forwarder's transaction waits on the broker.
const idleInTransaction = "30s"

// connConfig sets the connection settings shared by every connection of the service.
func connConfig(cfg *pgx.ConnConfig) {
	cfg.ConnectTimeout = connectTimeout
	cfg.RuntimeParams["idle_in_transaction_session_timeout"] = idleInTransaction
}

// connect opens one PostgreSQL connection on env.Postgres (its search_path is the run's
// schema), bounded by connectTimeout.
func connect(ctx context.Context, env service.Env) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(env.Postgres)
	if err != nil {
		return nil, fmt.Errorf("watermillsvc: postgres URL: %w", err)
	}
	connConfig(cfg)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("watermillsvc: %s: connect to postgres: %w", env.Proc, err)
	}
	return conn, nil
}

// rollback ends tx if it is still open (after a commit it does nothing), within
// statementTimeout.
func rollback(tx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.Background(), statementTimeout)
	defer cancel()
	_ = tx.Rollback(ctx)
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// newPool makes a connection pool on env.Postgres; it connects lazily, and drops a connection
// that failed.
func newPool(ctx context.Context, env service.Env) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(env.Postgres)
	if err != nil {
		return nil, fmt.Errorf("watermillsvc: postgres URL: %w", err)
	}
	connConfig(cfg.ConnConfig)
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("watermillsvc: %s: postgres pool: %w", env.Proc, err)
	}
	return pool, nil
}

func execTimed(ctx context.Context, conn *pgx.Conn, q string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	_, err := conn.Exec(ctx, q, args...)
	return err
}

// timedConn gives each statement that watermill-sql runs through its pgx adapter
// (BeginnerFromPgx) a deadline of statementTimeout, the commit and rollback of its
// transactions included. watermill-sql passes its subscriber's context, which lasts as long as
// the subscription: without this, a stalled link would hold the relay until it is stopped.
type timedConn struct{ wsql.Conn }

var _ wsql.Conn = timedConn{}

func (c timedConn) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return timedTx{tx}, nil
}

func (c timedConn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	return c.Conn.Exec(ctx, sql, args...)
}

func (c timedConn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	rows, err := c.Conn.Query(ctx, sql, args...)
	if err != nil {
		cancel()
		return nil, err
	}
	return timedRows{rows, cancel}, nil
}

// timedTx is a transaction whose statements, commit and rollback each have a deadline.
type timedTx struct{ pgx.Tx }

func (t timedTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	return t.Tx.Exec(ctx, sql, args...)
}

func (t timedTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	rows, err := t.Tx.Query(ctx, sql, args...)
	if err != nil {
		cancel()
		return nil, err
	}
	return timedRows{rows, cancel}, nil
}

func (t timedTx) Commit(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	return t.Tx.Commit(ctx)
}

func (t timedTx) Rollback(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	return t.Tx.Rollback(ctx)
}

// timedRows ends its query's deadline when closed.
type timedRows struct {
	pgx.Rows
	cancel context.CancelFunc
}

func (r timedRows) Close() {
	r.Rows.Close()
	r.cancel()
}
