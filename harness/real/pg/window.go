package pg

// The dedup window's store (the dedup-window consumer): the table dedup_window (consumer, msg_id,
// seen_at) with its primary key on (consumer, msg_id), created with the run's schema.

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// windowTable is the CREATE TABLE statement of the dedup window's store in schema.
func windowTable(schema string) string {
	return `CREATE TABLE ` + pgx.Identifier{schema, "dedup_window"}.Sanitize() +
		` (consumer text, msg_id text, seen_at timestamptz NOT NULL, PRIMARY KEY (consumer, msg_id))`
}

// WindowForget implements strategies.Tx: one DELETE of the consumer's records seen before
// before. A record another transaction holds (deleting it, or inserting it) is waited for, up
// to lock_timeout; PostgreSQL then looks at the row again.
func (t *storeTx) WindowForget(ctx context.Context, consumer string, before time.Time) (int, error) {
	tag, err := t.exec(ctx, "dedup window forget "+consumer,
		`DELETE FROM `+pgx.Identifier{t.s.schema, "dedup_window"}.Sanitize()+` WHERE consumer = $1 AND seen_at < $2`,
		consumer, before)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// WindowInsert implements strategies.Tx: an INSERT under the primary key; a second insert of the
// pair gives ErrDuplicateKey, and one that meets a transaction writing the same key waits for it.
func (t *storeTx) WindowInsert(ctx context.Context, consumer, msgID string, at time.Time) error {
	_, err := t.exec(ctx, "dedup window insert "+consumer+"/"+msgID,
		`INSERT INTO `+pgx.Identifier{t.s.schema, "dedup_window"}.Sanitize()+` (consumer, msg_id, seen_at) VALUES ($1, $2, $3)`,
		consumer, msgID, at)
	return err
}
