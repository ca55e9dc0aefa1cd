package pg

// A run's liveness marker: a session advisory lock on its run id.

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

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
	if !runIDPattern.MatchString(runID) {
		return nil, fmt.Errorf("postgres: run id %q: want 1 to 40 characters of [a-z0-9_]", runID)
	}
	cfg, err := parseConfig(url, SchemaPrefix+runID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, connectFailed(url, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, livenessClass, livenessKey(runID)).Scan(&ok); err != nil {
		closeConn(conn)
		return nil, wrap("postgres: liveness lock of run "+runID, err, conn)
	}
	if !ok {
		closeConn(conn)
		return nil, fmt.Errorf("postgres: the liveness lock of run %s is held by another session: refusing to share a run id", runID)
	}
	return &Liveness{RunID: runID, conn: conn}, nil
}

// Release unlocks the marker and closes its connection. The unlock is explicit because closing a
// connection ends its server process, and so frees its locks, only some moments later. A second
// call does nothing.
func (l *Liveness) Release() {
	if l == nil || l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	// If the unlock fails, the lock goes with the connection.
	_, _ = l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, livenessClass, livenessKey(l.RunID))
	closeConn(l.conn)
	l.conn = nil
}
