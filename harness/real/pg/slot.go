package pg

// Log tailing: one logical replication slot per run (the test_decoding plugin), named after the
// run's schema. The slot is read with pg_logical_slot_peek_changes, which does not move it, and
// moved with pg_replication_slot_advance, so a tailer that dies between the two reads the same
// transactions again. Both are plain SQL on an ordinary connection: they go through the same
// proxy as the component's other database traffic.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/redact"
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
// the schema's marker says whose it is, so Clean drops a slot only with its schema.
type Slot struct {
	Name string

	url  string
	pool *connPool // the parent's connection, for Backlog

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
	cfg, err := parseConfig(url, schema)
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
		return nil, connectFailed(url, err)
	}
	defer closeConn(conn)
	var level string
	if err := conn.QueryRow(ctx, `SHOW wal_level`).Scan(&level); err != nil {
		return nil, wrap("postgres: create slot "+schema+": read wal_level", err, conn)
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
				schema, time.Since(start).Round(time.Millisecond), redacted(err, url))
		}
		return nil, wrap("postgres: create slot "+schema, err, conn)
	}
	slotsMade.Store(schema, url)
	pool, err := newConnPool(ctx, url, schema, 1)
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
	if !ok || !runIDPattern.MatchString(runID) {
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
	cfg, err := parseConfig(s.url, "")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, slotDropTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("postgres: drop slot %s: %w", s.Name, connectFailed(s.url, err))
	}
	defer closeConn(conn)
	if err := dropSlot(ctx, conn, s.Name, true); err != nil {
		return err
	}
	s.mu.Lock()
	s.dropped = true
	s.mu.Unlock()
	return nil
}

// Close closes the parent's connection to the slot (Backlog's); the slot stays until Drop.
func (s *Slot) Close() {
	if s.pool != nil {
		s.pool.close()
	}
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
			return wrap("postgres: drop slot "+name, err, conn)
		}
		if plugin == nil || *plugin != slotPlugin || temporary {
			return fmt.Errorf("postgres: slot %s is not a permanent %s slot: not the harness's, not dropping it", name, slotPlugin)
		}
		if pid != nil {
			if !terminate {
				return fmt.Errorf("postgres: slot %s is in use by process %d: not dropping it", name, *pid)
			}
			if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend($1)`, *pid); err != nil {
				return wrap(fmt.Sprintf("postgres: drop slot %s: terminate its holder %d", name, *pid), err, conn)
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
				return wrap("postgres: drop slot "+name, err, conn)
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
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	held, err := s.pool.acquire(ctx)
	if err != nil {
		return 0, connectFailed(s.url, err)
	}
	defer s.pool.release(held)
	var n int
	err = slotRetry(ctx, func() error {
		return held.conn.QueryRow(ctx, `SELECT count(*) FROM pg_logical_slot_peek_changes($1, NULL, NULL,
			'include-xids', '0', 'skip-empty-xacts', '1') WHERE starts_with(data, $2)`,
			pgx.QueryExecModeExec, s.Name, outboxInsertPrefix(s.Name)).Scan(&n)
	})
	if err != nil {
		return 0, wrap("postgres: backlog of slot "+s.Name, err, held.conn)
	}
	return n, nil
}

// slotRetry runs fn again while the server answers that another backend holds the slot
// (55006), for at most slotBusyWait. The refusal changed nothing, so a retry is safe.
func slotRetry(ctx context.Context, fn func() error) error {
	deadline := time.Now().Add(slotBusyWait)
	for {
		err := fn()
		if !SlotBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// SlotBusy reports whether err is the server's answer that another backend holds the slot
// (55006): the call changed nothing.
func SlotBusy(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55006"
}
