package real

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/realtest"
)

// The package's tests share realtest's helpers under short names.
var (
	testRunID = realtest.RunID
	testCtx   = realtest.Context
)

// pgTestSchema creates this test's schema and drops it afterwards.
func pgTestSchema(t *testing.T, inf Infra) *pg.Schema {
	t.Helper()
	s, err := pg.CreateSchema(testCtx(t), inf.PostgresURL, testRunID(t))
	if err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Drop(context.Background()); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return s
}

// pgAdminConn is a connection for looking at the server from outside the backend.
func pgAdminConn(t *testing.T, inf Infra) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(testCtx(t), inf.PostgresURL)
	if err != nil {
		t.Fatalf("admin connection: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

func pgSchemaExists(t *testing.T, c *pgx.Conn, name string) bool {
	t.Helper()
	var ok bool
	if err := c.QueryRow(testCtx(t), `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// logTestSlot creates a slot for schema s and drops it when the test ends (before the schema).
func logTestSlot(t *testing.T, inf Infra, s *pg.Schema) *pg.Slot {
	t.Helper()
	realtest.RequireLogicalWAL(t, inf)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slot, err := pg.CreateSlot(ctx, inf.PostgresURL, s.Name)
	if err != nil {
		t.Fatalf("create slot: %v", err)
	}
	t.Cleanup(func() {
		if err := slot.Drop(context.Background()); err != nil {
			t.Errorf("drop slot: %v", err)
		}
	})
	return slot
}

func logSlotExists(t *testing.T, c *pgx.Conn, name string) bool {
	t.Helper()
	var ok bool
	if err := c.QueryRow(testCtx(t), `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}
