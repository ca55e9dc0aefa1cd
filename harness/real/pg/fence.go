package pg

// The fenced relay's statements (outbox-fenced, event-sourcing's subscriber): each outbox row
// records pg_current_xact_id() at insert (the column's default); the read takes the rows after a
// (transaction id, id) position whose transaction id is below the statement's snapshot xmin, as
// watermill-sql v4's PostgreSQL offsets adapter does; the position is an upsert of the relay's
// row of relay_positions. Also the event store's committed record.

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

func (s *Store) tab(t string) string { return pgx.Identifier{s.schema, t}.Sanitize() }

// ReadOutboxFenced implements strategies.Tx: the rows after the position, in (xid, id) order, of
// transactions below pg_snapshot_xmin(pg_current_snapshot()); no lock. Transaction ids travel as
// text (xid8 has no binary codec in pgx).
func (t *storeTx) ReadOutboxFenced(ctx context.Context, after strategies.Position, limit int) ([]strategies.OutboxRow, error) {
	what := fmt.Sprintf("read outbox fenced after (%d, %d) (limit %d)", after.Tx, after.ID, limit)
	if err := t.usable(what); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	sql := `SELECT id, msg_id, key, amount, version, kind, xid::text FROM ` + t.s.tab("outbox") + `
		WHERE (xid = $1::text::xid8 AND id > $2 OR xid > $1::text::xid8)
		AND xid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY xid, id LIMIT $3`
	rows, _ := t.tx.Query(ctx, sql, strconv.FormatUint(after.Tx, 10), after.ID, max(limit, 0))
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (strategies.OutboxRow, error) {
		var o strategies.OutboxRow
		var xid string
		if err := r.Scan(&o.ID, &o.Msg.ID, &o.Msg.Key, &o.Msg.Amount, &o.Msg.Seq, &o.Msg.Kind, &xid); err != nil {
			return o, err
		}
		var err error
		o.Tx, err = strconv.ParseUint(xid, 10, 64)
		return o, err
	})
	if err != nil {
		return nil, t.fail(what, err)
	}
	return out, nil
}

// RelayPosition implements strategies.Tx: the relay's row of relay_positions, the zero position
// when it has none.
func (t *storeTx) RelayPosition(ctx context.Context, relay string) (strategies.Position, error) {
	what := "relay position " + relay
	if err := t.usable(what); err != nil {
		return strategies.Position{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	var xid string
	var p strategies.Position
	err := t.tx.QueryRow(ctx, `SELECT COALESCE((SELECT last_xid::text FROM `+t.s.tab("relay_positions")+` WHERE relay = $1), '0'),
		COALESCE((SELECT last_id FROM `+t.s.tab("relay_positions")+` WHERE relay = $1), 0)`, relay).Scan(&xid, &p.ID)
	if err != nil {
		return p, t.fail(what, err)
	}
	if p.Tx, err = strconv.ParseUint(xid, 10, 64); err != nil {
		return strategies.Position{}, fmt.Errorf("postgres: %s: %w", what, err)
	}
	return p, nil
}

// SetRelayPosition implements strategies.Tx: an upsert of the relay's row (locked to the end of
// the transaction).
func (t *storeTx) SetRelayPosition(ctx context.Context, relay string, pos strategies.Position) error {
	_, err := t.exec(ctx, fmt.Sprintf("set relay position %s to (%d, %d)", relay, pos.Tx, pos.ID),
		`INSERT INTO `+t.s.tab("relay_positions")+` AS p (relay, last_xid, last_id) VALUES ($1, $2::text::xid8, $3)
		ON CONFLICT (relay) DO UPDATE SET last_xid = EXCLUDED.last_xid, last_id = EXCLUDED.last_id`,
		relay, strconv.FormatUint(pos.Tx, 10), pos.ID)
	return err
}

// Events reads the event store's committed record: the committed outbox rows, in position (id)
// order, as messages. A producer whose events table is its state (strategies.EventSourcer)
// writes no business row: this is what committed.
func (s *Schema) Events(ctx context.Context) ([]history.Message, error) {
	var out []history.Message
	err := s.read(ctx, "read the events", func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `SELECT msg_id, key, amount, version, kind FROM `+pgx.Identifier{s.Name, "outbox"}.Sanitize()+` ORDER BY id`)
		var err error
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[history.Message])
		return err
	})
	return out, err
}
