package real

// What a killed run leaves behind, and how the next run tells it from a live one.
//
// Every run holds a liveness marker for as long as it goes on: a session advisory lock on its run
// id, taken by a connection of the parent process before the run creates anything and released
// after it has removed everything. The lock dies with that connection, so with the process: a
// SIGKILLed parent's lock is free again as soon as the kernel has closed its socket. A run's
// schema (harness_<run id>, with the harness's marker comment) is the record of what else it
// made: the replication slot of the same name and the queue harness.<run id>.events. Clean
// reaps a run only when both hold: the marker is the harness's, and the lock is free (Clean takes
// it, so that the run cannot be live while it is reaped). A live run, in this process or any
// other, holds its lock and is never touched.
//
// Queues are also declared with x-expires (queueExpiry): the broker deletes one by itself once
// it has had no consumer for that long, even if nothing ever calls Clean.

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// livenessClass is the first key of every run's advisory lock ("hrns"); the second is a hash of
// the run id. Two run ids with the same hash only make a dead run look live (it is reaped later),
// never a live one dead.
const livenessClass int32 = 0x68726e73

// livenessKey is the second key of a run's advisory lock.
func livenessKey(runID string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(runID))
	return int32(h.Sum32())
}

// Liveness is a run's liveness marker: a session advisory lock on its run id, held by a
// connection of its own until Release, or until the process dies.
type Liveness struct {
	RunID string

	conn *pgx.Conn
}

// HoldLiveness opens a connection to url and takes runID's liveness lock on it. It fails when
// the lock is taken: a run id is never shared.
func HoldLiveness(ctx context.Context, url, runID string) (*Liveness, error) {
	if !pgRunIDPattern.MatchString(runID) {
		return nil, fmt.Errorf("postgres: run id %q: want 1 to 40 characters of [a-z0-9_]", runID)
	}
	cfg, err := pgParse(url, SchemaPrefix+runID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, pgStatementTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, pgConnectErr(url, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, livenessClass, livenessKey(runID)).Scan(&ok); err != nil {
		pgCloseConn(conn)
		return nil, pgWrap("postgres: liveness lock of run "+runID, err, conn)
	}
	if !ok {
		pgCloseConn(conn)
		return nil, fmt.Errorf("postgres: the liveness lock of run %s is held by another session: refusing to share a run id", runID)
	}
	return &Liveness{RunID: runID, conn: conn}, nil
}

// Release closes the marker's connection, which releases its lock. A second call does nothing.
func (l *Liveness) Release() {
	if l != nil && l.conn != nil {
		pgCloseConn(l.conn)
		l.conn = nil
	}
}

// Leftover is one thing a run left on the servers.
type Leftover struct {
	Kind string // "schema", "slot" or "queue"
	Name string
	Run  string // the run id
}

func (l Leftover) String() string { return l.Kind + " " + l.Name }

// CleanReport is what Clean found.
type CleanReport struct {
	// Dropped is what Clean removed (with dry run: would remove), in the order it went: for each
	// dead run its queue, its slot, then its schema.
	Dropped []Leftover
	// Live are the runs whose liveness lock is held: left alone.
	Live []string
	// Skipped are harness-named schemas Clean did not touch, each with why (no marker, a slot in
	// a state the harness never leaves it in).
	Skipped []string
}

// Clean finds the runs whose process is gone (harness marker on their schema, liveness lock
// free) and removes what they left: the queue (when inf names a broker), the replication slot
// (its holder terminated first: the run is dead, so is every session of it) and the schema. A
// run's sessions still open on PostgreSQL (workers that outlived their parent for a moment) are
// terminated before its schema is dropped. With dryRun it removes nothing and reports what it
// would remove. Live runs, in this process or another, are never touched.
func Clean(ctx context.Context, inf Infra, dryRun bool) (CleanReport, error) {
	var rep CleanReport
	cfg, err := pgParse(inf.PostgresURL, "")
	if err != nil {
		return rep, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return rep, pgConnectErr(inf.PostgresURL, err)
	}
	defer pgCloseConn(conn)
	rows, _ := conn.Query(ctx, `SELECT nspname, obj_description(oid, 'pg_namespace') FROM pg_namespace
		WHERE nspname LIKE 'harness\_%' ORDER BY nspname`)
	type candidate struct {
		name    string
		comment *string
	}
	cands, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (candidate, error) {
		var c candidate
		err := r.Scan(&c.name, &c.comment)
		return c, err
	})
	if err != nil {
		return rep, pgWrap("postgres: list harness schemas", err, conn)
	}
	for _, c := range cands {
		runID, _ := strings.CutPrefix(c.name, SchemaPrefix)
		if !pgRunIDPattern.MatchString(runID) || c.comment == nil || *c.comment != schemaMarker(runID) {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("schema %s: no harness marker of run %s", c.name, runID))
			continue
		}
		var free bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, livenessClass, livenessKey(runID)).Scan(&free); err != nil {
			return rep, pgWrap("postgres: liveness of run "+runID, err, conn)
		}
		if !free {
			rep.Live = append(rep.Live, runID)
			continue
		}
		err := reapRun(ctx, conn, inf, runID, dryRun, &rep)
		if _, uerr := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, livenessClass, livenessKey(runID)); uerr != nil && err == nil {
			err = pgWrap("postgres: release the liveness lock of run "+runID, uerr, conn)
		}
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// reapRun removes what the dead run runID left: queue, slot, schema, in that order, so that
// whatever stays after a failure still has its schema to vouch for it.
func reapRun(ctx context.Context, conn *pgx.Conn, inf Infra, runID string, dryRun bool, rep *CleanReport) error {
	schema := SchemaPrefix + runID
	if inf.AMQPURL != "" {
		q := &Queue{Name: QueueName(runID), url: inf.AMQPURL, runID: runID}
		exists, err := q.exists(ctx)
		if err == nil && exists && !dryRun {
			err = q.Delete(ctx)
		}
		_ = q.Close()
		if err != nil {
			return fmt.Errorf("real: clean run %s: %w", runID, err)
		}
		if exists {
			rep.Dropped = append(rep.Dropped, Leftover{Kind: "queue", Name: q.Name, Run: runID})
		}
	}
	var slots int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()`,
		schema).Scan(&slots); err != nil {
		return pgWrap("postgres: clean run "+runID+": look for its slot", err, conn)
	}
	if dryRun {
		if slots > 0 {
			rep.Dropped = append(rep.Dropped, Leftover{Kind: "slot", Name: schema, Run: runID})
		}
		rep.Dropped = append(rep.Dropped, Leftover{Kind: "schema", Name: schema, Run: runID})
		return nil
	}
	// Sessions of the dead run: its workers carry the schema's name as application_name.
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, schema); err != nil {
		return pgWrap("postgres: clean run "+runID+": end its sessions", err, conn)
	}
	if slots > 0 {
		if err := dropSlot(ctx, conn, schema, true); err != nil {
			if conn.IsClosed() {
				return fmt.Errorf("real: clean run %s: %w", runID, err)
			}
			// Not a slot the harness makes: it keeps its schema, and both are left to a person.
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("schema %s: %v", schema, err))
			return nil
		}
		rep.Dropped = append(rep.Dropped, Leftover{Kind: "slot", Name: schema, Run: runID})
	}
	dropped, err := dropMarked(ctx, conn, schema)
	if err != nil {
		return fmt.Errorf("real: clean run %s: %w", runID, err)
	}
	if dropped {
		rep.Dropped = append(rep.Dropped, Leftover{Kind: "schema", Name: schema, Run: runID})
	}
	return nil
}
