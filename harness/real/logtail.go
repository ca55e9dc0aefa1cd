package real

// Log tailing on PostgreSQL: one logical replication slot per run (the test_decoding plugin),
// named after the run's schema, and strategies.ChangeLog on it. The slot is read with
// pg_logical_slot_peek_changes, which does not move it, and moved with
// pg_replication_slot_advance, so a tailer that dies between the two reads the same
// transactions again. Both are plain SQL on an ordinary connection: they go through the same
// proxy as the component's other database traffic.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/redact"
	"github.com/deliveryharness/harness/strategies"
)

const (
	slotPlugin        = "test_decoding"
	slotCreateTimeout = 20 * time.Second // creation waits for the transactions running in the cluster
	slotDropTimeout   = 15 * time.Second
	// slotBusyWait is how long a read, an advance or a backlog count waits for a slot another
	// backend holds (the parent's backlog count and the tailer's calls take turns).
	slotBusyWait = 500 * time.Millisecond
	// logRowsPerTxn is what test_decoding writes for one transaction of the workloads: BEGIN,
	// the business INSERT, the outbox INSERT and COMMIT. Read asks for limit times as many rows,
	// so that a read of limit decodes about limit producer transactions.
	logRowsPerTxn = 4
)

// Slot is one run's logical replication slot. Its name is the run's schema's (harness_<run id>):
// the schema's marker says whose it is, so DropOrphans drops a slot only with its schema.
type Slot struct {
	Name string

	url  string
	pool *pgPool // the parent's connection, for Backlog

	mu      sync.Mutex
	dropped bool
}

// slotsMade are the slots this process created, by name (value: the server's URL), so that a
// test binary can check at its end that it left none behind.
var slotsMade sync.Map

// CreatedSlots returns the names and server URLs of the slots this process created (dropped or
// not).
func CreatedSlots() map[string]string {
	out := map[string]string{}
	slotsMade.Range(func(k, v any) bool {
		out[k.(string)] = v.(string)
		return true
	})
	return out
}

// CreateSlot creates a permanent logical replication slot with the test_decoding plugin for the
// run whose schema is named schema (harness_<run id>), under the same name. A temporary slot
// would not do: it belongs to the session that created it, and the tailer is another process.
// Creation waits for the transactions running in the whole cluster to end; it gives up after
// 20 s. A server without wal_level=logical gives an error that wraps infra.ErrNoLogicalWAL.
func CreateSlot(ctx context.Context, url, schema string) (*Slot, error) {
	if err := checkSlotName(schema); err != nil {
		return nil, err
	}
	cfg, err := pgParse(url, schema)
	if err != nil {
		return nil, err
	}
	// The wait for running transactions is a lock wait: it ends at the deadline below, not at
	// the adapter's lock_timeout.
	cfg.RuntimeParams["lock_timeout"] = "0"
	ctx, cancel := context.WithTimeout(ctx, slotCreateTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, pgConnectErr(url, err)
	}
	defer pgCloseConn(conn)
	var level string
	if err := conn.QueryRow(ctx, `SHOW wal_level`).Scan(&level); err != nil {
		return nil, pgWrap("postgres: create slot "+schema+": read wal_level", err, conn)
	}
	if level != "logical" {
		return nil, fmt.Errorf("%w; %s has wal_level=%s", infra.ErrNoLogicalWAL, redact.Host(url), level)
	}
	start := time.Now()
	_, err = conn.Exec(ctx, `SELECT pg_create_logical_replication_slot($1, '`+slotPlugin+`')`, schema)
	if err != nil {
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &pgErr) && pgErr.Code == "42710":
			return nil, fmt.Errorf("postgres: replication slot %s already exists: refusing to use it for a new run", schema)
		case errors.As(err, &pgErr) && pgErr.Code == "55000" && strings.Contains(pgErr.Message, "wal_level"):
			return nil, fmt.Errorf("%w; %s: %s", infra.ErrNoLogicalWAL, redact.Host(url), pgErr.Message)
		case ctx.Err() != nil:
			return nil, fmt.Errorf("postgres: create slot %s: gave up after %v waiting for the transactions running in the cluster to end: %w",
				schema, time.Since(start).Round(time.Millisecond), pgRedacted(err, url))
		}
		return nil, pgWrap("postgres: create slot "+schema, err, conn)
	}
	slotsMade.Store(schema, url)
	pool, err := newPgPool(ctx, url, schema, 1)
	if err != nil {
		s := &Slot{Name: schema, url: url}
		_ = s.Drop(context.Background())
		return nil, err
	}
	return &Slot{Name: schema, url: url, pool: pool}, nil
}

// checkSlotName refuses a name that is not harness_<run id>: the harness touches no other slot.
func checkSlotName(name string) error {
	runID, ok := strings.CutPrefix(name, SchemaPrefix)
	if !ok || !pgRunIDPattern.MatchString(runID) {
		return fmt.Errorf("postgres: slot %q is not named %s<run id>: not the harness's", name, SchemaPrefix)
	}
	return nil
}

// Dropped reports whether Drop removed the slot (or found it gone).
func (s *Slot) Dropped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Drop removes the slot, within 15 s. A backend that still holds it (a killed tailer's, whose
// server side has not noticed yet) is terminated first: the slot is the run's, and so is every
// session that uses it. A slot already gone is not an error.
func (s *Slot) Drop(ctx context.Context) error {
	if s.pool != nil {
		s.pool.close()
	}
	cfg, err := pgParse(s.url, "")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, slotDropTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("postgres: drop slot %s: %w", s.Name, pgConnectErr(s.url, err))
	}
	defer pgCloseConn(conn)
	if err := dropSlot(ctx, conn, s.Name, true); err != nil {
		return err
	}
	s.mu.Lock()
	s.dropped = true
	s.mu.Unlock()
	return nil
}

// dropSlot drops the harness's slot name in the connection's database. An active slot's holder
// is terminated when terminate is set; otherwise an active slot is an error. It waits, until ctx
// ends, for a terminated holder to let go.
func dropSlot(ctx context.Context, conn *pgx.Conn, name string, terminate bool) error {
	if err := checkSlotName(name); err != nil {
		return err
	}
	for {
		var pid *int32
		var plugin *string
		var temporary bool
		err := conn.QueryRow(ctx, `SELECT active_pid, plugin, temporary FROM pg_replication_slots
			WHERE slot_name = $1 AND database = current_database()`, name).Scan(&pid, &plugin, &temporary)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return pgWrap("postgres: drop slot "+name, err, conn)
		}
		if plugin == nil || *plugin != slotPlugin || temporary {
			return fmt.Errorf("postgres: slot %s is not a permanent %s slot: not the harness's, not dropping it", name, slotPlugin)
		}
		if pid != nil {
			if !terminate {
				return fmt.Errorf("postgres: slot %s is in use by process %d: not dropping it", name, *pid)
			}
			if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend($1)`, *pid); err != nil {
				return pgWrap(fmt.Sprintf("postgres: drop slot %s: terminate its holder %d", name, *pid), err, conn)
			}
		} else {
			_, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, name)
			var pgErr *pgconn.PgError
			switch {
			case err == nil:
				return nil
			case errors.As(err, &pgErr) && pgErr.Code == "42704": // gone meanwhile
				return nil
			case !(errors.As(err, &pgErr) && pgErr.Code == "55006"): // 55006: taken meanwhile
				return pgWrap("postgres: drop slot "+name, err, conn)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres: drop slot %s: still in use: %w", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Backlog counts the inserts into the run's outbox table that the slot still holds: committed
// after its confirmed position. It decodes the slot without moving it.
func (s *Slot) Backlog(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
	defer cancel()
	held, err := s.pool.acquire(ctx)
	if err != nil {
		return 0, pgConnectErr(s.url, err)
	}
	defer s.pool.release(held)
	var n int
	err = slotRetry(ctx, func() error {
		return held.conn.QueryRow(ctx, `SELECT count(*) FROM pg_logical_slot_peek_changes($1, NULL, NULL,
			'include-xids', '0', 'skip-empty-xacts', '1') WHERE starts_with(data, $2)`,
			pgx.QueryExecModeExec, s.Name, outboxInsertPrefix(s.Name)).Scan(&n)
	})
	if err != nil {
		return 0, pgWrap("postgres: backlog of slot "+s.Name, err, held.conn)
	}
	return n, nil
}

// slotRetry runs fn again while the server answers that another backend holds the slot
// (55006), for at most slotBusyWait. The refusal changed nothing, so a retry is safe.
func slotRetry(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(slotBusyWait)
	for {
		err := fn()
		if !slotBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func slotBusy(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55006"
}

// LogReader is a strategies.ChangeLog on a run's slot, for the tailer: its own connection (one,
// opened lazily, with the schema's name as application_name), through whatever proxy the URL
// names.
type LogReader struct {
	slot   string
	url    string
	prefix string
	pool   *pgPool
}

// NewLogReader returns the tailer's reader of slot for the outbox of schema. It does not connect.
func NewLogReader(ctx context.Context, url, schema, slot string) (*LogReader, error) {
	if err := checkSlotName(slot); err != nil {
		return nil, err
	}
	pool, err := newPgPool(ctx, url, schema, 1)
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
	ctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
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
			return strategies.LogBatch{}, pgConnectErr(l.url, err)
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
			werr := pgWrap("postgres: read slot "+l.slot, err, held.conn)
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
	ctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
	defer cancel()
	what := fmt.Sprintf("postgres: advance slot %s to %s", l.slot, formatLSN(pos))
	held, err := l.pool.acquire(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, pgConnectErr(l.url, err))
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
		return pgWrap(what, err, held.conn)
	default:
		l.pool.discard(held)
		return fmt.Errorf("%s: %w: %w", what, strategies.ErrUnknownOutcome, pgRedacted(err, l.url))
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

// outboxInsertPrefix is how test_decoding starts the line of an insert into schema's outbox.
func outboxInsertPrefix(schema string) string {
	return "table " + pgQuoteIdent(schema) + "." + pgQuoteIdent("outbox") + ": INSERT: "
}

var pgPlainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_$]*$`)

// pgQuoteIdent quotes a name as PostgreSQL's quote_identifier does, for names that are not
// keywords (the harness's are not).
func pgQuoteIdent(name string) string {
	if pgPlainIdent.MatchString(name) {
		return name
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// parseLSN parses a pg_lsn ("16/B374D848") as the 64-bit position it stands for.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if ok {
		h, err1 := strconv.ParseUint(hi, 16, 32)
		l, err2 := strconv.ParseUint(lo, 16, 32)
		if err1 == nil && err2 == nil {
			return h<<32 | l, nil
		}
	}
	return 0, fmt.Errorf("bad pg_lsn %q", s)
}

// formatLSN is parseLSN's inverse.
func formatLSN(pos uint64) string { return fmt.Sprintf("%X/%X", pos>>32, uint32(pos)) }

// decodedColumn is one column of a test_decoding tuple.
type decodedColumn struct {
	Name, Type, Value string
	Null              bool
}

// parseTuple parses test_decoding's text of a tuple: columns separated by one space, each
// name[type]:value, where the name is quoted as an identifier when it must be, the type is
// format_type's text (it may hold spaces and brackets), and the value is null, or a literal
// quoted with ' (a ' inside doubled; nothing else escaped: newlines are raw), or an unquoted
// literal without spaces (numbers, booleans, bit strings, unchanged-toast-datum).
func parseTuple(s string) ([]decodedColumn, error) {
	if s == "(no-tuple-data)" {
		return nil, errors.New("no tuple data")
	}
	var cols []decodedColumn
	for i := 0; i < len(s); {
		if len(cols) > 0 {
			if s[i] != ' ' {
				return nil, fmt.Errorf("column %d: want a space at byte %d of %q", len(cols)+1, i, s)
			}
			i++
		}
		var c decodedColumn
		// name
		if i < len(s) && s[i] == '"' {
			v, n, err := unquote(s[i:], '"')
			if err != nil {
				return nil, fmt.Errorf("column %d name: %w", len(cols)+1, err)
			}
			c.Name, i = v, i+n
		} else {
			j := strings.IndexByte(s[i:], '[')
			if j <= 0 {
				return nil, fmt.Errorf("column %d: no name[type] at byte %d of %q", len(cols)+1, i, s)
			}
			c.Name, i = s[i:i+j], i+j
		}
		if i >= len(s) || s[i] != '[' {
			return nil, fmt.Errorf("column %s: want [type] at byte %d of %q", c.Name, i, s)
		}
		j := strings.Index(s[i:], "]:")
		if j < 0 {
			return nil, fmt.Errorf("column %s: unterminated type in %q", c.Name, s)
		}
		c.Type, i = s[i+1:i+j], i+j+2
		// value
		switch {
		case i < len(s) && s[i] == '\'':
			v, n, err := unquote(s[i:], '\'')
			if err != nil {
				return nil, fmt.Errorf("column %s value: %w", c.Name, err)
			}
			c.Value, i = v, i+n
		default:
			j := strings.IndexByte(s[i:], ' ')
			if j < 0 {
				j = len(s) - i
			}
			c.Value, i = s[i:i+j], i+j
			if c.Value == "" {
				return nil, fmt.Errorf("column %s: empty value in %q", c.Name, s)
			}
			c.Null = c.Value == "null"
		}
		cols = append(cols, c)
	}
	if len(cols) == 0 {
		return nil, errors.New("no columns")
	}
	return cols, nil
}

// unquote reads a string that starts with quote q and ends at the first lone q (a doubled q
// stands for one). It returns the text and how many bytes it took.
func unquote(s string, q byte) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != q {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			b.WriteByte(q)
			i++
			continue
		}
		return b.String(), i + 1, nil
	}
	return "", 0, fmt.Errorf("unterminated %c-quoted text in %q", q, s)
}

// parseOutboxInsert parses the tuple of an insert into the outbox table (see CreateSchema:
// id, msg_id, key, amount, version, kind, published) into the row a relay publishes.
func parseOutboxInsert(tuple string) (strategies.OutboxRow, error) {
	cols, err := parseTuple(tuple)
	if err != nil {
		return strategies.OutboxRow{}, err
	}
	byName := make(map[string]decodedColumn, len(cols))
	for _, c := range cols {
		byName[c.Name] = c
	}
	get := func(name string) (string, error) {
		c, ok := byName[name]
		switch {
		case !ok:
			return "", fmt.Errorf("no column %s in %q", name, tuple)
		case c.Null:
			return "", fmt.Errorf("column %s is null in %q", name, tuple)
		}
		return c.Value, nil
	}
	num := func(name string) (int64, error) {
		v, err := get(name)
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("column %s: %w", name, err)
		}
		return n, nil
	}
	var r strategies.OutboxRow
	var errs []error
	var e error
	r.ID, e = num("id")
	errs = append(errs, e)
	r.Msg.ID, e = get("msg_id")
	errs = append(errs, e)
	r.Msg.Key, e = get("key")
	errs = append(errs, e)
	r.Msg.Amount, e = num("amount")
	errs = append(errs, e)
	r.Msg.Seq, e = num("version")
	errs = append(errs, e)
	r.Msg.Kind, e = get("kind")
	errs = append(errs, e)
	if err := errors.Join(errs...); err != nil {
		return strategies.OutboxRow{}, err
	}
	return r, nil
}

// slotName is the run's slot's name for the workers; empty when the producer does not tail the log.
func (r *run) slotName() string {
	if r.slot == nil {
		return ""
	}
	return r.slot.Name
}

// outstanding is the work still to publish: the outbox rows not yet marked published, or for a
// log tailer (which marks nothing) the outbox inserts its slot still holds. A slot that the
// tailer held the whole time counts as work left.
func (r *run) outstanding(ctx context.Context) (int, error) {
	if r.slot == nil {
		return r.schema.Unpublished(ctx)
	}
	n, err := r.slot.Backlog(ctx)
	if slotBusy(err) {
		return 1, nil
	}
	return n, err
}
