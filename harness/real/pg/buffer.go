package pg

// The dedup-buffer producer's send buffer on PostgreSQL: send_buffer holds one entry per message
// id (its put time and its outbox row); the rows themselves are outbox rows, which the relay
// claims once they are older than the buffer period and marks published as any outbox relay.

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// bufferPutSQL is one statement: an upsert of the id's entry that replaces it only when it is
// forgotten (its row published and put at or before $7, the put's time less the period), and the
// outbox row of the entry it wrote, under the id it took from the outbox's sequence. A
// concurrent put of the same id waits on the primary key; the conflicting row is locked even
// when the WHERE leaves it as it is. No row comes back when the repeat is dropped.
func (s *Store) bufferPutSQL() string {
	tab := func(t string) string { return pgx.Identifier{s.schema, t}.Sanitize() }
	return `WITH put AS (
		INSERT INTO ` + tab("send_buffer") + ` AS b (msg_id, at, outbox_id)
		VALUES ($1, $6, nextval(pg_get_serial_sequence(` + literal(tab("outbox")) + `, 'id')))
		ON CONFLICT (msg_id) DO UPDATE SET at = EXCLUDED.at, outbox_id = EXCLUDED.outbox_id
			WHERE b.at <= $7 AND NOT EXISTS (SELECT 1 FROM ` + tab("outbox") + ` o WHERE o.id = b.outbox_id AND NOT o.published)
		RETURNING outbox_id)
	INSERT INTO ` + tab("outbox") + ` (id, msg_id, key, amount, version, kind)
	SELECT outbox_id, $1, $2, $3, $4, $5 FROM put
	RETURNING id`
}

// claimBufferedSQL is claimOutbox for the rows whose entry was put at or before $1.
func (s *Store) claimBufferedSQL() string {
	tab := func(t string) string { return pgx.Identifier{s.schema, t}.Sanitize() }
	return `SELECT o.id, o.msg_id, o.key, o.amount, o.version, o.kind FROM ` + tab("outbox") + ` o
		JOIN ` + tab("send_buffer") + ` b ON b.outbox_id = o.id
		WHERE NOT o.published AND b.at <= $1 ORDER BY o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED`
}

// nextBufferedSQL is the put time of the oldest buffered row not yet published (NULL: none).
func (s *Store) nextBufferedSQL() string {
	tab := func(t string) string { return pgx.Identifier{s.schema, t}.Sanitize() }
	return `SELECT min(b.at) FROM ` + tab("send_buffer") + ` b JOIN ` + tab("outbox") + ` o ON o.id = b.outbox_id WHERE NOT o.published`
}

// BufferPut implements strategies.Tx: it reports whether it wrote the entry and its outbox row.
func (t *storeTx) BufferPut(ctx context.Context, m history.Message, at time.Time, period time.Duration) (bool, error) {
	what := "buffer " + m.ID
	if err := t.usable(what); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	rows, _ := t.tx.Query(ctx, t.s.bufferPutSQL(), m.ID, m.Key, m.Amount, m.Seq, m.Kind, at, at.Add(-period))
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return false, t.fail(what, err)
	}
	return len(ids) == 1, nil
}

// ClaimBuffered implements strategies.Tx: SELECT ... FOR UPDATE SKIP LOCKED of the buffered rows
// put at or before before, oldest first.
func (t *storeTx) ClaimBuffered(ctx context.Context, before time.Time, limit int) ([]strategies.OutboxRow, error) {
	return t.outboxRows(ctx, fmt.Sprintf("claim buffered (limit %d)", limit), t.s.claimBufferedSQL(), before, max(limit, 0))
}

// NextBuffered implements strategies.Tx: a plain SELECT min(...), which waits for no lock.
func (t *storeTx) NextBuffered(ctx context.Context) (time.Time, bool, error) {
	what := "next buffered"
	if err := t.usable(what); err != nil {
		return time.Time{}, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	var at *time.Time
	if err := t.tx.QueryRow(ctx, t.s.nextBufferedSQL()).Scan(&at); err != nil {
		return time.Time{}, false, t.fail(what, err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return *at, true, nil
}
