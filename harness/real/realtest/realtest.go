// Package realtest holds helpers for tests that run on real servers: finding the servers
// (Require), a database of a test's own (Database), run ids and deadlines for tests. It imports
// testing, so the harness's binaries must never import it; it imports only the real backend's
// leaves (infra, redact), so that the tests of every package of the backend, package real's own
// included, can use it. The Env of a run for a test that drives a service by hand needs pg and
// amqp: it is in the sub-package servicetest.
package realtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/redact"
)

// Database returns inf on a PostgreSQL database of the test's own, created now and dropped (with
// its replication slots) when the test ends. What a test leaves dead on purpose there is reaped
// only by the test itself: every real run cleans up after killed runs in the database it runs
// on, and other tests' runs run elsewhere.
//
// Like a run, the database has a liveness marker: an advisory lock on its name (DatabaseLock),
// held by a connection of the test process until the test ends. Database first drops the
// harness_test_ databases whose marker is free: those of test processes that were killed.
func Database(t testing.TB, inf infra.Infra) infra.Infra {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	db := DatabasePrefix + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, inf.PostgresURL)
	if err != nil {
		t.Fatalf("realtest: %v", err)
	}
	var ok bool
	class, key := DatabaseLock(db)
	if err := admin.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, class, key).Scan(&ok); err != nil || !ok {
		admin.Close(ctx)
		t.Fatalf("realtest: liveness lock of database %s: %v (taken: %v)", db, err, !ok)
	}
	reapDatabases(ctx, t, admin)
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{db}.Sanitize()); err != nil {
		admin.Close(ctx)
		t.Fatalf("realtest: create database %s: %v", db, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		defer admin.Close(ctx) // releases the liveness lock
		if err := dropDatabase(ctx, admin, db); err != nil {
			t.Errorf("realtest: %v", err)
		}
	})
	u, err := url.Parse(inf.PostgresURL)
	if err != nil {
		t.Fatalf("realtest: %s is not a URL whose database can be changed", redact.URL(inf.PostgresURL))
	}
	u.Path = "/" + db
	inf.PostgresURL = u.String()
	return inf
}

// DatabasePrefix starts the name of every database Database creates.
const DatabasePrefix = "harness_test_"

// DatabaseLock is the advisory lock key (class, key) that marks the test database db as in use.
func DatabaseLock(db string) (int32, int32) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(db))
	return 0x68727473, int32(h.Sum32()) // "hrts"
}

// reapDatabases drops the test databases whose test process is gone (liveness lock free).
func reapDatabases(ctx context.Context, t testing.TB, admin *pgx.Conn) {
	t.Helper()
	rows, _ := admin.Query(ctx, `SELECT datname FROM pg_database WHERE datname LIKE 'harness\_test\_%'`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("realtest: list test databases: %v", err)
	}
	for _, db := range names {
		class, key := DatabaseLock(db)
		var free bool
		if err := admin.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, class, key).Scan(&free); err != nil {
			t.Fatalf("realtest: %v", err)
		}
		if !free {
			continue
		}
		if err := dropDatabase(ctx, admin, db); err != nil {
			t.Logf("realtest: a killed test's database: %v", err)
		}
		_, _ = admin.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, class, key)
	}
}

// dropDatabase drops db and its replication slots (a slot keeps its database from being dropped).
func dropDatabase(ctx context.Context, c *pgx.Conn, db string) error {
	if _, err := c.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, db); err != nil {
		return fmt.Errorf("drop the slots of database %s: %w", db, err)
	}
	if _, err := c.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{db}.Sanitize()+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database %s: %w", db, err)
	}
	return nil
}

// AdminConn is a connection to inf's PostgreSQL for looking at the server from outside the
// backend, closed when the test ends.
func AdminConn(t testing.TB, inf infra.Infra) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(Context(t), inf.PostgresURL)
	if err != nil {
		t.Fatalf("realtest: admin connection: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

// SchemaExists reports whether the schema name exists on c's database.
func SchemaExists(t testing.TB, c *pgx.Conn, name string) bool {
	t.Helper()
	return exists(t, c, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, name)
}

// SlotExists reports whether the replication slot name exists on c's server.
func SlotExists(t testing.TB, c *pgx.Conn, name string) bool {
	t.Helper()
	return exists(t, c, `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, name)
}

func exists(t testing.TB, c *pgx.Conn, query, name string) bool {
	t.Helper()
	var ok bool
	if err := c.QueryRow(Context(t), query, name).Scan(&ok); err != nil {
		t.Fatalf("realtest: %v", err)
	}
	return ok
}
