// Package realtest holds helpers for tests that run on real servers. It imports testing, so the
// harness's binaries never import it.
package realtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deliveryharness/harness/harness/real"
)

// Database returns inf on a PostgreSQL database of the test's own, created now and dropped (with
// its replication slots) when the test ends. What a test leaves dead on purpose there is reaped
// only by the test itself: every real run cleans up after killed runs in the database it runs
// on, and other tests' runs run elsewhere.
func Database(t testing.TB, inf real.Infra) real.Infra {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	db := "harness_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, inf.PostgresURL)
	if err != nil {
		t.Fatalf("realtest: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{db}.Sanitize()); err != nil {
		t.Fatalf("realtest: create database %s: %v", db, err)
	}
	server := inf.PostgresURL
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, server)
		if err != nil {
			t.Errorf("realtest: drop database %s: %v", db, err)
			return
		}
		defer c.Close(ctx)
		// Slots belong to their database and keep it from being dropped.
		if _, err := c.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1`, db); err != nil {
			t.Errorf("realtest: drop the slots of database %s: %v", db, err)
		}
		if _, err := c.Exec(ctx, `DROP DATABASE `+pgx.Identifier{db}.Sanitize()+` WITH (FORCE)`); err != nil {
			t.Errorf("realtest: drop database %s: %v", db, err)
		}
	})
	u, err := url.Parse(inf.PostgresURL)
	if err != nil {
		t.Fatalf("realtest: %s is not a URL whose database can be changed", real.Redact(inf.PostgresURL))
	}
	u.Path = "/" + db
	inf.PostgresURL = u.String()
	return inf
}
