package pg

// The chain workload's tables (Orders -> Payments -> Shipping): chain_outbox, the payment
// service's own outbox, and shipments, what the shipping service recorded. The consumer workers
// are the payment service: their store's outbox statements reach chain_outbox (ChainMiddle),
// which the harness's relay publishes to a second queue; the shipping consumer's effect is a
// shipment row (ChainShipping).

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/deliveryharness/harness/harness/history"
)

// chainTables are the chain's tables, created with every run's schema (createSchema): rows of
// the outbox's columns, and shipments like effect rows.
func chainTables(tab func(string) string) []string {
	return []string{
		`CREATE TABLE ` + tab("chain_outbox") + ` (id bigserial PRIMARY KEY, msg_id text NOT NULL, key text NOT NULL,
			amount bigint NOT NULL, version bigint NOT NULL, kind text NOT NULL, published boolean NOT NULL DEFAULT false)`,
		`CREATE TABLE ` + tab("shipments") + ` (seq bigserial, msg_id text NOT NULL, key text NOT NULL, amount bigint NOT NULL)`,
	}
}

// ChainMiddle is the store as the chain's payment service sees it: the same connections, and
// its outbox statements (append, claim, mark) on chain_outbox.
func (s *Store) ChainMiddle() *Store {
	c := *s
	tab := func(t string) string { return pgx.Identifier{s.schema, t}.Sanitize() }
	c.sql.appendOutbox = `INSERT INTO ` + tab("chain_outbox") + ` (msg_id, key, amount, version, kind) VALUES ($1, $2, $3, $4, $5)`
	c.sql.claimOutbox = `SELECT id, msg_id, key, amount, version, kind FROM ` + tab("chain_outbox") +
		` WHERE NOT published ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`
	c.sql.markPublished = `UPDATE ` + tab("chain_outbox") + ` SET published = true WHERE id = ANY($1)`
	return &c
}

// ChainShipping is the store as the chain's shipping service sees it: its effect is a shipment
// row (Apply; the workload's effect is an append).
func (s *Store) ChainShipping() *Store {
	c := *s
	c.sql.insertEffect = `INSERT INTO ` + pgx.Identifier{s.schema, "shipments"}.Sanitize() + ` (msg_id, key, amount) VALUES ($1, $2, $3)`
	return &c
}

// FinalChain adds the chain's final reads to f, in one snapshot: every committed row of the
// payment service's outbox in id order (Emitted) and the shipments in insertion order (Shipped).
func (s *Schema) FinalChain(ctx context.Context, f *history.Final) error {
	return s.read(ctx, "final read of the chain", func(tx pgx.Tx) error {
		tab := func(t string) string { return pgx.Identifier{s.Name, t}.Sanitize() }
		rows, _ := tx.Query(ctx, `SELECT msg_id, key, amount FROM `+tab("chain_outbox")+` ORDER BY id`)
		emitted, err := pgx.CollectRows(rows, pgx.RowToStructByPos[history.Effect])
		if err != nil {
			return fmt.Errorf("chain_outbox: %w", err)
		}
		rows, _ = tx.Query(ctx, `SELECT msg_id, key, amount FROM `+tab("shipments")+` ORDER BY seq`)
		shipped, err := pgx.CollectRows(rows, pgx.RowToStructByPos[history.Effect])
		if err != nil {
			return fmt.Errorf("shipments: %w", err)
		}
		f.Emitted, f.Shipped = emitted, shipped
		return nil
	})
}

// ChainUnpublished counts the payment service's committed outbox rows not yet published.
func (s *Schema) ChainUnpublished(ctx context.Context) (int, error) {
	var n int
	err := s.read(ctx, "count unpublished chain outbox rows", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{s.Name, "chain_outbox"}.Sanitize()+` WHERE NOT published`).Scan(&n)
	})
	return n, err
}
