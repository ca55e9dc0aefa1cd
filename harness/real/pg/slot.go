package pg

// Log tailing: one logical replication slot per run (the pgoutput plugin), and one publication
// FOR TABLE <schema>.outbox that the slot's stream is filtered by, both named after the run's
// schema. The tailer streams the slot over the replication protocol (LogReader); the parent
// counts what the slot still holds on a temporary copy of it, which takes nothing from the
// tailer. Both go through whatever proxy their URL names.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/redact"
)

const (
	slotPlugin        = "pgoutput"
	slotCreateTimeout = 20 * time.Second // creation waits for the transactions running in the cluster
	slotDropTimeout   = 15 * time.Second
	// slotBusyWait is how long the tailer's START_REPLICATION waits for a slot another backend
	// still holds (its previous process's walsender, until the server has noticed that it died).
	slotBusyWait = 2 * time.Second
	// pgoutputProto is the pgoutput protocol version the stream asks for: 1, which every
	// server with pgoutput (10 and later) speaks; the harness needs nothing of the later ones
	// (streamed in-progress transactions, two-phase commits).
	pgoutputProto = "1"
)

// slotPlugins are the plugins of the slots the harness makes or has made: test_decoding was an
// older version's, whose leftovers Clean still takes.
var slotPlugins = []string{slotPlugin, "test_decoding"}

// Slot is one run's logical replication slot and its publication. Both are named after the
// run's schema (harness_<run id>): the schema's marker says whose they are, so Clean drops them
// only with their schema.
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

// CreateSlot creates, for the run whose schema is named schema (harness_<run id>), a
// publication FOR TABLE <schema>.outbox (inserts only) and a permanent logical replication slot
// with the pgoutput plugin, both under the schema's name. The publication comes first: pgoutput
// looks publications up as of each change it decodes. A temporary slot would not do: it belongs
// to the session that created it, and the tailer is another process. Creation waits for the
// transactions running in the whole cluster to end; it gives up after 20 s. A server without
// wal_level=logical gives an error that wraps infra.ErrNoLogicalWAL.
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
	var pgErr *pgconn.PgError
	_, err = conn.Exec(ctx, `CREATE PUBLICATION `+pgx.Identifier{schema}.Sanitize()+` FOR TABLE `+
		pgx.Identifier{schema, "outbox"}.Sanitize()+` WITH (publish = 'insert')`)
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42710":
		return nil, fmt.Errorf("postgres: publication %s already exists: refusing to use it for a new run", schema)
	case err != nil:
		return nil, wrap("postgres: create publication "+schema, err, conn)
	}
	start := time.Now()
	_, err = conn.Exec(ctx, `SELECT pg_create_logical_replication_slot($1, '`+slotPlugin+`')`, schema)
	if err != nil {
		exists := errors.As(err, &pgErr) && pgErr.Code == "42710"
		switch {
		case exists:
			err = fmt.Errorf("postgres: replication slot %s already exists: refusing to use it for a new run", schema)
		case errors.As(err, &pgErr) && pgErr.Code == "55000" && strings.Contains(pgErr.Message, "wal_level"):
			err = fmt.Errorf("%w; %s: %s", infra.ErrNoLogicalWAL, redact.Host(url), pgErr.Message)
		case ctx.Err() != nil:
			err = fmt.Errorf("postgres: create slot %s: gave up after %v waiting for the transactions running in the cluster to end: %w",
				schema, time.Since(start).Round(time.Millisecond), redacted(err, url))
		default:
			err = wrap("postgres: create slot "+schema, err, conn)
		}
		// The publication is this call's; the slot too, unless it was there before (a slot whose
		// creation was interrupted may still have been made).
		dctx, dcancel := context.WithTimeout(context.Background(), slotDropTimeout)
		defer dcancel()
		var derr error
		if exists {
			derr = dropPublication(dctx, conn, schema)
		} else {
			derr = (&Slot{Name: schema, url: url}).Drop(dctx)
		}
		if derr != nil {
			err = fmt.Errorf("%w; and then: %w", err, derr)
		}
		return nil, err
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

// checkSlotName refuses a name that is not harness_<run id>: the harness touches no other slot
// or publication.
func checkSlotName(name string) error {
	runID, ok := strings.CutPrefix(name, SchemaPrefix)
	if !ok || !runIDPattern.MatchString(runID) {
		return fmt.Errorf("postgres: slot %q is not named %s<run id>: not the harness's", name, SchemaPrefix)
	}
	return nil
}

// Dropped reports whether Drop removed the slot and its publication (or found them gone).
func (s *Slot) Dropped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Drop removes the slot, then its publication, within 15 s. A backend that still holds the slot
// (the tailer's walsender, or a killed tailer's whose server side has not noticed yet) is
// terminated first: the slot is the run's, and so is every session that uses it. A slot or a
// publication already gone is not an error.
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
	if err := dropPublication(ctx, conn, s.Name); err != nil {
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
		if plugin == nil || !slices.Contains(slotPlugins, *plugin) || temporary {
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

// dropPublication drops the harness's publication name in the connection's database, if it is
// there.
func dropPublication(ctx context.Context, conn *pgx.Conn, name string) error {
	if err := checkSlotName(name); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `DROP PUBLICATION IF EXISTS `+pgx.Identifier{name}.Sanitize()); err != nil {
		return wrap("postgres: drop publication "+name, err, conn)
	}
	return nil
}

// Backlog counts the inserts into the run's outbox table that the slot still holds: committed
// after its confirmed position. When the slot's confirmed position is past everything written so
// far, that is none; otherwise it decodes a temporary copy of the slot, which neither moves the
// slot nor takes it from the tailer, and drops the copy.
func (s *Slot) Backlog(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	held, err := s.pool.acquire(ctx)
	if err != nil {
		return 0, connectFailed(s.url, err)
	}
	n, err := countBacklog(ctx, held.conn, s.Name)
	if err != nil {
		werr := wrap("postgres: backlog of slot "+s.Name, err, held.conn)
		s.pool.discard(held) // and with the session, a copy it may have left
		return 0, werr
	}
	s.pool.release(held)
	return n, nil
}

func countBacklog(ctx context.Context, conn *pgx.Conn, name string) (int, error) {
	var caughtUp bool
	err := conn.QueryRow(ctx, `SELECT confirmed_flush_lsn >= pg_current_wal_insert_lsn() FROM pg_replication_slots
		WHERE slot_name = $1 AND database = current_database()`, name).Scan(&caughtUp)
	if err != nil || caughtUp {
		return 0, err
	}
	var cp string
	if err := conn.QueryRow(ctx, `SELECT slot_name FROM pg_copy_logical_replication_slot($1, $2 || pg_backend_pid(), true)`,
		name, name+"_copy").Scan(&cp); err != nil {
		return 0, err
	}
	var n int
	// 73 is 'I', pgoutput's INSERT; the publication holds only the outbox.
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL,
		'proto_version', '`+pgoutputProto+`', 'publication_names', $2) WHERE get_byte(data, 0) = 73`, cp, name).Scan(&n); err != nil {
		return 0, err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, cp); err != nil {
		return 0, err
	}
	return n, nil
}

// SlotBusy reports whether err is the server's answer that another backend holds the slot
// (55006), or that there is no room for another slot (53400, a Backlog's copy): the call changed
// nothing.
func SlotBusy(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "55006" || pgErr.Code == "53400")
}
