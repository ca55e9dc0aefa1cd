package pg

// Reaping what killed runs left on the servers (see package real's Clean for the whole story).

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Leftover is one thing a run left on the servers.
type Leftover struct {
	Kind string // "schema", "slot" (with its publication), "publication" (one left without its slot), "queue" or "stream"
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

// QueueReaper looks for the queue of the dead run runID and, unless dryRun, deletes it. It
// returns the queue's name when there was one, "" when there was none.
type QueueReaper func(ctx context.Context, runID string, dryRun bool) (string, error)

// Clean finds the runs whose process is gone (harness marker on their schema, liveness lock
// free) on the server of url and removes what they left: the queue (through queue, when it is
// not nil), the replication slot (its holder terminated first: the run is dead, so is every
// session of it) and its publication, and the schema. A run's sessions still open on PostgreSQL (workers that
// outlived their parent for a moment) are terminated before its schema is dropped. With dryRun it removes nothing and reports what it
// would remove. Live runs, in this process or another, are never touched.
func Clean(ctx context.Context, url string, dryRun bool, queue QueueReaper) (CleanReport, error) {
	var rep CleanReport
	cfg, err := parseConfig(url, "")
	if err != nil {
		return rep, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return rep, connectFailed(url, err)
	}
	defer closeConn(conn)
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
		return rep, wrap("postgres: list harness schemas", err, conn)
	}
	for _, c := range cands {
		runID, _ := strings.CutPrefix(c.name, SchemaPrefix)
		if !runIDPattern.MatchString(runID) || c.comment == nil || *c.comment != schemaMarker(runID) {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("schema %s: no harness marker of run %s", c.name, runID))
			continue
		}
		var free bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, livenessClass, livenessKey(runID)).Scan(&free); err != nil {
			return rep, wrap("postgres: liveness of run "+runID, err, conn)
		}
		if !free {
			rep.Live = append(rep.Live, runID)
			continue
		}
		err := reapRun(ctx, conn, queue, runID, dryRun, &rep)
		if _, uerr := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, livenessClass, livenessKey(runID)); uerr != nil && err == nil {
			err = wrap("postgres: release the liveness lock of run "+runID, uerr, conn)
		}
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// reapRun removes what the dead run runID left: queue, slot, publication, schema, in that order,
// so that whatever stays after a failure still has its schema to vouch for it.
func reapRun(ctx context.Context, conn *pgx.Conn, queue QueueReaper, runID string, dryRun bool, rep *CleanReport) error {
	schema := SchemaPrefix + runID
	if queue != nil {
		name, err := queue(ctx, runID, dryRun)
		if err != nil {
			return fmt.Errorf("real: clean run %s: %w", runID, err)
		}
		if name != "" {
			rep.Dropped = append(rep.Dropped, Leftover{Kind: "queue", Name: name, Run: runID})
		}
	}
	var slots, pubs int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND database = current_database()),
		(SELECT count(*) FROM pg_publication WHERE pubname = $1)`, schema).Scan(&slots, &pubs); err != nil {
		return wrap("postgres: clean run "+runID+": look for its slot", err, conn)
	}
	pub := Leftover{Kind: "publication", Name: schema, Run: runID}
	if slots > 0 {
		pub.Kind = "slot" // the publication goes with it
	}
	if dryRun {
		if slots > 0 || pubs > 0 {
			rep.Dropped = append(rep.Dropped, pub)
		}
		rep.Dropped = append(rep.Dropped, Leftover{Kind: "schema", Name: schema, Run: runID})
		return nil
	}
	// Sessions of the dead run: its workers carry the schema's name as application_name.
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, schema); err != nil {
		return wrap("postgres: clean run "+runID+": end its sessions", err, conn)
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
	}
	if pubs > 0 {
		if err := dropPublication(ctx, conn, schema); err != nil {
			return fmt.Errorf("real: clean run %s: %w", runID, err)
		}
	}
	if slots > 0 || pubs > 0 {
		rep.Dropped = append(rep.Dropped, pub)
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
