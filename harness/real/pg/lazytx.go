package pg

// A transaction's statements on its connection, with BEGIN sent in the same round trip as the
// first of them.

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/deliveryharness/harness/strategies"
)

// lazyTx runs a storeTx's statements. Begin sends nothing: the first statement goes out as one
// pipeline of BEGIN and the statement, with one Sync, so that a transaction costs a round trip
// less; every later one goes out alone (a prepared statement of pgx's statement cache). A
// transaction is READ COMMITTED, each statement with its own snapshot, so starting it with its
// first statement changes nothing it sees. COMMIT and ROLLBACK go out alone (storeTx.Commit,
// storeTx.Rollback): what a lost COMMIT reply means depends on it being the only thing pending.
type lazyTx struct{ t *storeTx }

// Exec runs a statement that returns no rows.
func (l lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if l.t.begun {
		return l.t.conn.Exec(ctx, sql, args...)
	}
	br, err := l.t.begin(ctx, sql, args...)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query runs a statement that returns rows; the caller closes them (pgx.CollectRows does).
func (l lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if l.t.begun {
		return l.t.conn.Query(ctx, sql, args...)
	}
	br, err := l.t.begin(ctx, sql, args...)
	if err != nil {
		return errRows{err}, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return errRows{err}, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow runs a statement that returns one row.
func (l lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if l.t.begun {
		return l.t.conn.QueryRow(ctx, sql, args...)
	}
	rows, err := l.Query(ctx, sql, args...)
	return firstRow{rows: rows, err: err}
}

// begin sends BEGIN and, unless sql is empty, the transaction's first statement in one round
// trip, reads BEGIN's reply and returns the batch with the statement's reply next. An idle
// connection may have died since its last use (a cut link, a restarted server) less than a second
// ago, too recently for the pool's ping: when BEGIN fails on such a connection for want of it,
// nothing of the transaction reached a live server, so it tries once more on a fresh one.
func (t *storeTx) begin(ctx context.Context, sql string, args ...any) (pgx.BatchResults, error) {
	for attempt := 0; ; attempt++ {
		b := &pgx.Batch{}
		b.Queue("begin")
		if sql != "" {
			b.Queue(sql, args...)
		}
		br := t.conn.SendBatch(ctx, b)
		_, err := br.Exec()
		if err == nil {
			t.begun = true
			return br, nil
		}
		_ = br.Close()
		if attempt > 0 || !t.held.reused || ctx.Err() != nil ||
			!errors.Is(sentinel(err, t.conn), strategies.ErrConnection) || !t.reconnect(ctx) {
			return nil, err
		}
	}
}

// reconnect swaps the transaction's connection, which died before BEGIN, for a fresh one from
// the pool. It reports false, keeping the dead one, when it cannot (the pool is closed: the
// process exits; the server cannot be reached).
func (t *storeTx) reconnect(ctx context.Context) bool {
	held, err := t.s.pool.acquire(ctx)
	if err != nil {
		return false
	}
	t.s.pool.discard(t.held)
	t.held, t.conn = held, held.conn
	return true
}

// batchRows are the rows of a transaction's first statement: when they end, the batch that
// carried it is closed (its Sync read), and an error of that is the rows' error.
type batchRows struct {
	pgx.Rows
	br  pgx.BatchResults
	err error
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.finish()
	return false
}

func (r *batchRows) finish() {
	if r.br == nil {
		return
	}
	r.Rows.Close()
	r.err = r.br.Close()
	r.br = nil
}

func (r *batchRows) Close() { r.finish() }

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// firstRow is QueryRow's row: the first of rows, pgx.ErrNoRows when there is none.
type firstRow struct {
	rows pgx.Rows
	err  error
}

func (r firstRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// errRows are the rows of a statement that failed before it returned any.
type errRows struct{ err error }

func (errRows) Close()                                       {}
func (r errRows) Err() error                                 { return r.err }
func (errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (errRows) Next() bool                                   { return false }
func (r errRows) Scan(...any) error                          { return r.err }
func (r errRows) Values() ([]any, error)                     { return nil, r.err }
func (errRows) RawValues() [][]byte                          { return nil }
func (errRows) Conn() *pgx.Conn                              { return nil }
func (errRows) TypeMap() *pgtype.Map                         { return nil }
