package pg

// strategies.Store and strategies.Tx on a run's schema: one SQL statement per port call, at
// READ COMMITTED.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/strategies"
)

// Mailer sends the email of an emails-workload event through the mail gateway: the effect of a
// Store whose workload's effect is external. key is the idempotency key ("" for none). Any error other than
// ErrConnection leaves the caller unsure whether the email went out; a timeout wraps
// ErrUnknownOutcome. The real backend's gateway client implements it.
type Mailer interface {
	Send(ctx context.Context, m history.Message, key string) error
}

// Store is a strategies.Store on one run's schema: its own small pool of connections (at most
// four), opened lazily, each with lock_timeout = 2s and the schema's name as application_name.
type Store struct {
	schema string
	effect workload.Effect // what Apply does: the workload's effect kind
	url    string
	pool   *connPool
	sql    statements
	mail   Mailer // the mail gateway, for an external effect (emails)
}

// statements are the adapter's SQL with the schema's tables fully qualified.
type statements struct {
	insertBusiness, appendOutbox, claimOutbox, markPublished string
	insertEffect, insertEffectIdem, addValue, setValue       string
	inboxInsert, inboxContains, recordProcessed, processed   string
	upsertVersion                                            string
	readOutboxAfter, relayCursor, setRelayCursor             string
}

// NewStore returns a Store on schema for the named workload, whose effect is in the database
// (orders, credits or prices). It does not connect: connections open at Begin, so a Store can be
// made while the server is unreachable.
func NewStore(ctx context.Context, url, schema, name string) (*Store, error) {
	if workload.EffectOf(name) == workload.External {
		return nil, fmt.Errorf("postgres: workload %s needs a mail gateway: use NewStoreWithGateway", name)
	}
	return NewStoreWithGateway(ctx, url, schema, name, nil)
}

// NewStoreWithGateway is NewStore that also takes a workload whose effect is external (emails): a
// call to the mail gateway mail, outside the transaction. A Store whose process sends no email (a
// producer, a relay) may have no gateway: its Apply then fails.
func NewStoreWithGateway(ctx context.Context, url, schema, name string, mail Mailer) (*Store, error) {
	w, err := workload.Lookup(name)
	if err != nil {
		names := workload.Names()
		return nil, fmt.Errorf("postgres: unknown workload %q: want %s or %s", name, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
	}
	if schema == "" {
		return nil, errors.New("postgres: empty schema name")
	}
	pool, err := newConnPool(ctx, url, schema, storeConns)
	if err != nil {
		return nil, err
	}
	tab := func(t string) string { return pgx.Identifier{schema, t}.Sanitize() }
	return &Store{
		schema: schema, effect: w.Effect, url: url,
		pool: pool, mail: mail,
		sql: statements{
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
			readOutboxAfter: `SELECT id, msg_id, key, amount, version, kind FROM ` + tab("outbox") +
				` WHERE id > $1 ORDER BY id LIMIT $2`,
			relayCursor: `SELECT COALESCE((SELECT last_id FROM ` + tab("relay_cursors") + ` WHERE relay = $1), 0)`,
			setRelayCursor: `INSERT INTO ` + tab("relay_cursors") + ` AS c (relay, last_id) VALUES ($1, $2)
				ON CONFLICT (relay) DO UPDATE SET last_id = EXCLUDED.last_id`,
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
// COMMITTED) on a connection of the pool. BEGIN goes out with the transaction's first statement
// (lazyTx), so Begin itself only takes a connection: a server that cannot be reached gives
// ErrConnection.
func (s *Store) Begin(ctx context.Context) (strategies.Tx, error) {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	held, err := s.pool.acquire(ctx)
	if err != nil {
		return nil, connectFailed(s.url, err)
	}
	t := &storeTx{s: s, held: held, conn: held.conn}
	t.tx = lazyTx{t}
	return t, nil
}

// storeTx is one transaction: a connection held from Begin to Commit or Rollback.
type storeTx struct {
	s     *Store
	held  *heldConn
	conn  *pgx.Conn // held.conn
	tx    lazyTx    // the statements
	begun bool      // BEGIN went out and succeeded
	done  bool      // Commit or Rollback was called
	lost  error     // a statement lost the connection: the server has rolled the transaction back
}

// usable is the check before every statement: the transaction is still open on a live connection.
func (t *storeTx) usable(what string) error {
	if t.done {
		return fmt.Errorf("postgres: %s: statement after the transaction ended: %w", what, strategies.ErrTxAborted)
	}
	if t.lost != nil {
		return fmt.Errorf("postgres: %s: %w (after: %v)", what, strategies.ErrTxAborted, t.lost)
	}
	return nil
}

// fail classifies a statement's error and remembers a lost connection.
func (t *storeTx) fail(what string, err error) error {
	werr := wrap("postgres: "+what, err, t.conn)
	if errors.Is(werr, strategies.ErrConnection) {
		t.lost = werr
	}
	return werr
}

func (t *storeTx) exec(ctx context.Context, what, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.usable(what); err != nil {
		return pgconn.CommandTag{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	tag, err := t.tx.Exec(ctx, sql, args...)
	if err != nil {
		return tag, t.fail(what, err)
	}
	return tag, nil
}

func (t *storeTx) exists(ctx context.Context, what, sql string, args ...any) (bool, error) {
	if err := t.usable(what); err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	var ok bool
	if err := t.tx.QueryRow(ctx, sql, args...).Scan(&ok); err != nil {
		return false, t.fail(what, err)
	}
	return ok, nil
}

// InsertBusiness implements strategies.Tx: a duplicate id gives ErrDuplicateKey.
func (t *storeTx) InsertBusiness(ctx context.Context, m history.Message) error {
	_, err := t.exec(ctx, "insert business "+m.ID, t.s.sql.insertBusiness, m.ID, m.Key, m.Amount, m.Seq, m.Kind)
	return err
}

// AppendOutbox implements strategies.Tx.
func (t *storeTx) AppendOutbox(ctx context.Context, m history.Message) error {
	_, err := t.exec(ctx, "append outbox "+m.ID, t.s.sql.appendOutbox, m.ID, m.Key, m.Amount, m.Seq, m.Kind)
	return err
}

// ClaimOutbox implements strategies.Tx: SELECT ... FOR UPDATE SKIP LOCKED, oldest first.
func (t *storeTx) ClaimOutbox(ctx context.Context, limit int) ([]strategies.OutboxRow, error) {
	return t.outboxRows(ctx, fmt.Sprintf("claim outbox (limit %d)", limit), t.s.sql.claimOutbox, max(limit, 0))
}

// ReadOutboxAfter implements strategies.Tx: a plain SELECT ... WHERE id > $1 ORDER BY id, no lock.
func (t *storeTx) ReadOutboxAfter(ctx context.Context, after int64, limit int) ([]strategies.OutboxRow, error) {
	return t.outboxRows(ctx, fmt.Sprintf("read outbox after %d (limit %d)", after, limit), t.s.sql.readOutboxAfter, after, max(limit, 0))
}

// RelayCursor implements strategies.Tx: the relay's row of relay_cursors, 0 when it has none.
func (t *storeTx) RelayCursor(ctx context.Context, relay string) (int64, error) {
	what := "relay cursor " + relay
	if err := t.usable(what); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	var id int64
	if err := t.tx.QueryRow(ctx, t.s.sql.relayCursor, relay).Scan(&id); err != nil {
		return 0, t.fail(what, err)
	}
	return id, nil
}

// SetRelayCursor implements strategies.Tx: an upsert of the relay's row (locked to the end of
// the transaction).
func (t *storeTx) SetRelayCursor(ctx context.Context, relay string, id int64) error {
	_, err := t.exec(ctx, fmt.Sprintf("set relay cursor %s to %d", relay, id), t.s.sql.setRelayCursor, relay, id)
	return err
}

// outboxRows runs a query of outbox rows (id, msg_id, key, amount, version, kind).
func (t *storeTx) outboxRows(ctx context.Context, what, sql string, args ...any) ([]strategies.OutboxRow, error) {
	if err := t.usable(what); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	rows, _ := t.tx.Query(ctx, sql, args...)
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
func (t *storeTx) MarkPublished(ctx context.Context, ids []int64) error {
	if ids == nil {
		ids = []int64{}
	}
	_, err := t.exec(ctx, fmt.Sprintf("mark published %v", ids), t.s.sql.markPublished, ids)
	return err
}

// Apply implements strategies.Tx, by the workload's effect kind: an effect row, and where it adds
// balance += amount (credits), where it sets price := amount (prices; an upsert, which locks the
// value's row to the end of the transaction); where it is external (emails) a call to the mail
// gateway without an idempotency key, outside the transaction.
func (t *storeTx) Apply(ctx context.Context, m history.Message) error {
	if t.s.effect == workload.External {
		return t.s.send(ctx, m, "")
	}
	if _, err := t.exec(ctx, "apply "+m.ID+": effect", t.s.sql.insertEffect, m.ID, m.Key, m.Amount); err != nil {
		return err
	}
	return t.value(ctx, m)
}

// value writes the workload's value change of m.
func (t *storeTx) value(ctx context.Context, m history.Message) error {
	var err error
	switch t.s.effect {
	case workload.Add:
		_, err = t.exec(ctx, "apply "+m.ID+": credit "+m.Key, t.s.sql.addValue, m.Key, m.Amount)
	case workload.Set:
		_, err = t.exec(ctx, "apply "+m.ID+": set price of "+m.Key, t.s.sql.setValue, m.Key, m.Amount)
	}
	return err
}

// ApplyIdempotent implements strategies.Tx: the effect row under the unique idem_key = message id
// (INSERT ... ON CONFLICT DO NOTHING, which waits for a concurrent inserter of the same key); the
// value changes only when the row was new, except that a set effect always sets the price, since
// setting a price is idempotent by itself. For an external effect (emails) it is the gateway call
// with the message id as its idempotency key, which the gateway keeps.
func (t *storeTx) ApplyIdempotent(ctx context.Context, m history.Message) error {
	if t.s.effect == workload.External {
		return t.s.send(ctx, m, m.ID)
	}
	tag, err := t.exec(ctx, "apply idempotent "+m.ID+": effect", t.s.sql.insertEffectIdem, m.ID, m.Key, m.Amount)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 && t.s.effect != workload.Set {
		return nil
	}
	return t.value(ctx, m)
}

// send is an external effect (emails): a call to the mail gateway, outside any transaction.
func (s *Store) send(ctx context.Context, m history.Message, key string) error {
	if s.mail == nil {
		return fmt.Errorf("postgres: email %s: this store has no mail gateway", m.ID)
	}
	return s.mail.Send(ctx, m, key)
}

// ApplyVersioned implements strategies.Tx: one upsert of the key's version row whose WHERE
// compares versions (it locks the row to the end of the transaction, applied or not); when it
// wrote the row, the effect as Apply writes it (for emails, the gateway call without a key).
func (t *storeTx) ApplyVersioned(ctx context.Context, m history.Message) (bool, error) {
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
func (t *storeTx) InboxInsert(ctx context.Context, consumer, msgID string) error {
	_, err := t.exec(ctx, "inbox insert "+consumer+"/"+msgID, t.s.sql.inboxInsert, consumer, msgID)
	return err
}

// InboxContains implements strategies.Tx.
func (t *storeTx) InboxContains(ctx context.Context, consumer, msgID string) (bool, error) {
	return t.exists(ctx, "inbox contains "+consumer+"/"+msgID, t.s.sql.inboxContains, consumer, msgID)
}

// RecordProcessed implements strategies.Tx.
func (t *storeTx) RecordProcessed(ctx context.Context, consumer, msgID string) error {
	_, err := t.exec(ctx, "record processed "+consumer+"/"+msgID, t.s.sql.recordProcessed, consumer, msgID)
	return err
}

// Processed implements strategies.Tx.
func (t *storeTx) Processed(ctx context.Context, consumer, msgID string) (bool, error) {
	return t.exists(ctx, "processed "+consumer+"/"+msgID, t.s.sql.processed, consumer, msgID)
}

// Commit implements strategies.Tx. A transaction that an earlier error aborted gives ErrTxAborted
// (PostgreSQL answers COMMIT with ROLLBACK); one whose connection was already gone gives
// ErrTxAborted after a statement reported the loss, ErrConnection otherwise; any other error,
// whatever pgx says about retrying, is ErrUnknownOutcome: the COMMIT may have taken effect.
func (t *storeTx) Commit(ctx context.Context) error {
	if err := t.usable("commit"); err != nil {
		t.end()
		return err
	}
	defer t.end()
	if t.conn.IsClosed() {
		return fmt.Errorf("postgres: commit: the connection closed before the COMMIT was sent: %w", strategies.ErrConnection)
	}
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	if !t.begun {
		// No statement: the transaction still commits, COMMIT alone in its round trip.
		br, err := t.begin(ctx, "")
		if err == nil {
			err = br.Close()
		}
		if err != nil {
			return wrap("postgres: commit: begin", err, t.conn)
		}
	}
	tag, err := t.conn.Exec(ctx, "commit")
	switch {
	case err == nil && tag.String() == "ROLLBACK":
		return fmt.Errorf("postgres: commit: the server rolled back the transaction an earlier error aborted: %w", strategies.ErrTxAborted)
	case err == nil:
		return nil
	default:
		if t.conn.PgConn().TxStatus() != 'I' {
			closeConn(t.conn) // the connection's state is unknown: the pool must not hand it out again
		}
		return fmt.Errorf("postgres: commit: %w: %w", strategies.ErrUnknownOutcome, redacted(err, t.s.url))
	}
}

// Rollback implements strategies.Tx. It is safe after any error and after Commit; a rollback on
// a lost connection is no error (the server rolled the transaction back when it lost it).
func (t *storeTx) Rollback(ctx context.Context) error {
	if t.done {
		return nil
	}
	defer t.end()
	if !t.begun || t.conn.IsClosed() {
		return nil // no BEGIN went out, or the server rolled the transaction back when it lost it
	}
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	_, err := t.conn.Exec(ctx, "rollback")
	if err == nil || t.conn.IsClosed() {
		return nil
	}
	werr := wrap("postgres: rollback", err, t.conn)
	closeConn(t.conn) // a failed ROLLBACK leaves the connection in an unknown state
	return werr
}

// end gives the connection back: to the pool when it is idle and healthy, else closed.
func (t *storeTx) end() {
	if t.done {
		return
	}
	t.done = true
	t.s.pool.release(t.held)
}
