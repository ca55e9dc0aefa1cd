package pg

// The tailer's reader of a run's slot: strategies.ChangeLog.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deliveryharness/harness/strategies"
)

// LogReader is a strategies.ChangeLog on a run's slot, for the tailer: its own connection (one,
// opened lazily, with the schema's name as application_name), through whatever proxy the URL
// names.
type LogReader struct {
	slot   string
	url    string
	prefix string
	pool   *connPool
}

// NewLogReader returns the tailer's reader of slot for the outbox of schema. It does not connect.
func NewLogReader(ctx context.Context, url, schema, slot string) (*LogReader, error) {
	if err := checkSlotName(slot); err != nil {
		return nil, err
	}
	pool, err := newConnPool(ctx, url, schema, 1)
	if err != nil {
		return nil, err
	}
	return &LogReader{slot: slot, url: url, prefix: outboxInsertPrefix(schema), pool: pool}, nil
}

// Close closes the reader's connection.
func (l *LogReader) Close() { l.pool.close() }

// logLine is one row of pg_logical_slot_peek_changes: the change's position and test_decoding's text.
type logLine struct {
	lsn  string
	data string
}

// Read implements strategies.ChangeLog: pg_logical_slot_peek_changes with upto_nchanges of
// limit transactions' worth of rows (PostgreSQL stops at the first transaction boundary past
// it), keeping the inserts into this run's outbox and the COMMITs. Other tables' and schemas'
// changes are decoded too and skipped, but End covers them, so advancing passes them. End is
// the position of the last COMMIT row, the end of that commit record: advancing to it confirms
// the transaction. A server that refuses (the slot in use, an error) changed nothing.
//
// Transactions without an insert into this run's outbox (the run's consumers', other runs' and
// other tests' in the same database) are not the tailer's business: when everything a peek
// decoded is such, Read advances the slot past it itself, unrecorded and outside the fault
// gates, and peeks again (a few times at most), as the simulator's log, which holds only
// transactions with outbox rows, would never show them. So a tailer sees End > 0 only with rows,
// and one with nothing to publish stays idle however busy the database is.
func (l *LogReader) Read(ctx context.Context, limit int) (strategies.LogBatch, error) {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	upto := max(1, limit) * logRowsPerTxn
	for range logPassMax {
		b, err := l.peek(ctx, upto)
		if err != nil || len(b.Rows) > 0 || b.End == 0 {
			return b, err
		}
		if err := l.Advance(ctx, b.End); err != nil {
			return strategies.LogBatch{}, fmt.Errorf("postgres: read slot %s: pass transactions without outbox rows: %v", l.slot, err)
		}
	}
	return strategies.LogBatch{}, nil
}

// logPassMax is how many peeks one Read makes while it finds only other transactions.
const logPassMax = 4

// peek is one pg_logical_slot_peek_changes, decoded.
func (l *LogReader) peek(ctx context.Context, upto int) (strategies.LogBatch, error) {
	for attempt := 0; ; attempt++ {
		held, err := l.pool.acquire(ctx)
		if err != nil {
			return strategies.LogBatch{}, connectFailed(l.url, err)
		}
		var lines []logLine
		err = slotRetry(ctx, func() error {
			rows, _ := held.conn.Query(ctx, `SELECT lsn::text, data FROM pg_logical_slot_peek_changes($1, NULL, $2,
				'include-xids', '0', 'skip-empty-xacts', '1') WHERE data = 'COMMIT' OR starts_with(data, $3)`,
				pgx.QueryExecModeExec, l.slot, upto, l.prefix)
			var err error
			lines, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (logLine, error) {
				var x logLine
				err := r.Scan(&x.lsn, &x.data)
				return x, err
			})
			return err
		})
		if err != nil {
			werr := wrap("postgres: read slot "+l.slot, err, held.conn)
			if held.conn.IsClosed() {
				l.pool.discard(held)
			} else {
				l.pool.release(held)
			}
			// A connection idle since its last use may have died (a cut link) too recently for
			// the pool's ping; a read changes nothing, so one more try on a fresh one is safe.
			if errors.Is(werr, strategies.ErrConnection) && held.reused && attempt == 0 && ctx.Err() == nil {
				continue
			}
			return strategies.LogBatch{}, werr
		}
		l.pool.release(held)
		b, err := decodeBatch(lines, l.prefix)
		if err != nil {
			return strategies.LogBatch{}, fmt.Errorf("postgres: read slot %s: %w", l.slot, err)
		}
		return b, nil
	}
}

// Advance implements strategies.ChangeLog: pg_replication_slot_advance to pos, or to the slot's
// confirmed position if that is further (an advance never goes back), sent in one round trip
// (no prepare first), so that an advance whose reply is lost did reach the server. A server's
// refusal is a plain error (nothing moved); a lost connection or a reply that did not come
// within ctx wraps ErrUnknownOutcome: the slot may have moved.
func (l *LogReader) Advance(ctx context.Context, pos uint64) error {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	what := fmt.Sprintf("postgres: advance slot %s to %s", l.slot, formatLSN(pos))
	held, err := l.pool.acquire(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, connectFailed(l.url, err))
	}
	if held.conn.IsClosed() {
		l.pool.discard(held)
		return fmt.Errorf("%s: the connection closed before the statement was sent: %w", what, strategies.ErrConnection)
	}
	err = slotRetry(ctx, func() error {
		var end string
		return held.conn.QueryRow(ctx, `SELECT a.end_lsn::text FROM pg_replication_slots s,
			LATERAL pg_replication_slot_advance(s.slot_name, greatest(s.confirmed_flush_lsn, $2::pg_lsn)) a
			WHERE s.slot_name = $1`, pgx.QueryExecModeExec, l.slot, formatLSN(pos)).Scan(&end)
	})
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		l.pool.release(held)
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		l.pool.release(held)
		return fmt.Errorf("%s: the slot does not exist", what)
	case errors.As(err, &pgErr) && !held.conn.IsClosed():
		l.pool.release(held)
		return wrap(what, err, held.conn)
	default:
		l.pool.discard(held)
		return fmt.Errorf("%s: %w: %w", what, strategies.ErrUnknownOutcome, redacted(err, l.url))
	}
}

// decodeBatch turns peeked rows (COMMITs and this run's outbox inserts, in log order) into a
// LogBatch: the inserts, and End at the last COMMIT.
func decodeBatch(lines []logLine, prefix string) (strategies.LogBatch, error) {
	var b strategies.LogBatch
	for _, x := range lines {
		if x.data == "COMMIT" {
			pos, err := parseLSN(x.lsn)
			if err != nil {
				return strategies.LogBatch{}, err
			}
			b.End = pos
			continue
		}
		tuple, ok := strings.CutPrefix(x.data, prefix)
		if !ok {
			continue
		}
		row, err := parseOutboxInsert(tuple)
		if err != nil {
			return strategies.LogBatch{}, fmt.Errorf("outbox insert at %s: %w", x.lsn, err)
		}
		b.Rows = append(b.Rows, row)
	}
	return b, nil
}
